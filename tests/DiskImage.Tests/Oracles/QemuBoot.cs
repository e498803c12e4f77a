using Xunit.Abstractions;

namespace DiskImage.Tests.Oracles;

/// <summary>
/// Boots a kernel and initramfs under qemu-system-x86_64 with TCG (q35, 512 MiB, one CPU, serial console, no
/// network, no reboot: a guest that powers off or panics with <c>panic=-1</c> ends qemu) and returns the console.
/// </summary>
internal static class QemuBoot
{
    /// <summary>
    /// Boots <paramref name="kernel"/> with <paramref name="initrd"/> and <paramref name="append"/> (plus
    /// <c>console=ttyS0 panic=-1</c>), with <paramref name="disk"/> as a virtio disk when given; retries once when
    /// <paramref name="marker"/> is not on the console (TCG on a loaded host occasionally loses console output).
    /// </summary>
    /// <param name="readOnly">Attach the disk read-only and without image locking (another qemu may be using it).</param>
    /// <returns>The console text (carriage returns removed), whether or not it holds the marker.</returns>
    public static string Run(string qemu, string kernel, string initrd, string append, string? disk, string marker, TimeSpan timeout, ITestOutputHelper? output = null, bool readOnly = false)
    {
        var args = new List<string>
        {
            "-machine", "q35", "-accel", "tcg", "-m", "512", "-smp", "1", "-nographic", "-no-reboot", "-net", "none",
            "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1 " + append,
        };
        if (disk is not null)
        {
            string format = disk.EndsWith(".qcow2", StringComparison.Ordinal) ? "qcow2" : "raw";
            args.AddRange(["-drive", $"file={disk},format={format},if=virtio" + (readOnly ? ",readonly=on,file.locking=off" : string.Empty)]);
        }

        string console = string.Empty;
        for (int attempt = 0; attempt < 2; attempt++)
        {
            ToolResult r = Oracle.Run(qemu, args, timeout);
            console = r.StandardOutput.Replace("\r", string.Empty, StringComparison.Ordinal);
            if (console.Contains(marker, StringComparison.Ordinal))
            {
                break;
            }

            output?.WriteLine($"qemu exit {r.ExitCode} without {marker} (attempt {attempt + 1}):\n{Tail(console)}\n{r.StandardError}");
        }

        return console;
    }

    /// <summary>
    /// Boots <paramref name="kernel"/> with <paramref name="initrd"/> and <paramref name="append"/> (plus
    /// <c>console=ttyS0 panic=-1</c>) with every one of <paramref name="disks"/> as a raw virtio disk, in order
    /// (/dev/vda, /dev/vdb …). <paramref name="prepare"/> runs before each attempt (e.g. to create a fresh result
    /// disk); when <paramref name="succeeded"/> is false afterwards the boot is retried once.
    /// </summary>
    /// <returns>The console text (carriage returns removed) of the last attempt.</returns>
    public static string RunDisks(string qemu, string kernel, string initrd, string append, IReadOnlyList<(string Path, bool ReadOnly)> disks, TimeSpan timeout, Func<bool> succeeded, Action? prepare = null, Action<string>? log = null)
    {
        var args = new List<string>
        {
            "-machine", "q35", "-accel", "tcg", "-m", "512", "-smp", "1", "-nographic", "-no-reboot", "-net", "none",
            "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1 " + append,
        };
        foreach ((string path, bool readOnly) in disks)
        {
            args.AddRange(["-drive", $"file={path},format=raw,if=virtio" + (readOnly ? ",readonly=on" : string.Empty)]);
        }

        string console = string.Empty;
        for (int attempt = 0; attempt < 2; attempt++)
        {
            prepare?.Invoke();
            var sw = System.Diagnostics.Stopwatch.StartNew();
            ToolResult r = Oracle.Run(qemu, args, timeout);
            console = r.StandardOutput.Replace("\r", string.Empty, StringComparison.Ordinal);
            log?.Invoke($"qemu exited {r.ExitCode} after {sw.ElapsedMilliseconds} ms (attempt {attempt + 1})");
            if (succeeded())
            {
                break;
            }

            log?.Invoke($"qemu did not finish the job (attempt {attempt + 1}):\n{Tail(console)}\n{r.StandardError}");
        }

        return console;
    }

    /// <summary>The last 4000 characters of <paramref name="s"/> (for assertion messages).</summary>
    public static string Tail(string s) => s.Length > 4000 ? s[^4000..] : s;
}
