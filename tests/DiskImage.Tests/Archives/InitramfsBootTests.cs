using System.Runtime.Versioning;
using System.Diagnostics;
using DiskImage.Archives.Cpio;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;

namespace DiskImage.Tests.Archives;

/// <summary>
/// The Linux kernel is the judge: Debian's kernel (/boot/vmlinuz-*) boots, under qemu-system-x86_64
/// with TCG, an initramfs we build around a static busybox, and its /init prints a marker.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class InitramfsBootTests(ITestOutputHelper output)
{
    private const string Marker = "DISKIMAGE-INITRAMFS-BOOTED";

    [SkippableFact]
    public async Task Boot_EveryWrittenCompressionAndEarlyLayout_InitRuns()
    {
        string qemu = Oracle.Require("qemu-system-x86_64");
        string kernel = RequireFile("/boot", "vmlinuz-*", "a kernel image (apt-get install linux-image-amd64)");
        string busybox = Oracle.Find("/bin/busybox") ?? Oracle.Require("busybox");
        Skip.IfNot(IsStatic(busybox) || Oracle.Required, "busybox is not static (install busybox-static)");
        Assert.True(IsStatic(busybox), "busybox must be static (busybox-static)");

        using var tmp = new TempDirectory();
        var layouts = CpioTestSupport.WritableCompressions.Select(x => (c: x, early: false)).Append((c: InitramfsCompression.Zstd, early: true)).ToList();
        using var gate = new SemaphoreSlim(Math.Max(2, Environment.ProcessorCount));
        var results = await Task.WhenAll(layouts.Select(async layout =>
        {
            string image = tmp.File($"initrd-{layout.c}-{(layout.early ? "early" : "plain")}");
            using (var fs = File.Create(image))
            {
                Initramfs.Write(fs, BusyboxTree(busybox), new InitramfsWriteOptions { Compression = layout.c, Build = new() { Reproducible = true, Uid = 0, Gid = 0 } }, layout.early ? EarlyTree() : null);
            }

            await gate.WaitAsync();
            try
            {
                var sw = Stopwatch.StartNew();
                string[] qemuArgs = ["-machine", "q35", "-accel", "tcg", "-m", "256", "-smp", "1", "-nographic", "-no-reboot", "-kernel", kernel, "-initrd", image, "-append", "console=ttyS0 panic=-1 quiet"];
                ToolResult r = await Task.Run(() => Oracle.Run(qemu, qemuArgs, TimeSpan.FromSeconds(90)));
                bool ok = r.StandardOutput.Contains(Marker, StringComparison.Ordinal);
                if (!ok)
                {
                    // TCG on a heavily loaded host occasionally loses the console output; one retry
                    // separates that from an image the kernel rejects (which fails every time).
                    output.WriteLine($"{layout.c} early={layout.early}: retrying; first attempt ended with:\n{Tail(r.StandardOutput)}");
                    r = await Task.Run(() => Oracle.Run(qemu, qemuArgs, TimeSpan.FromSeconds(90)));
                    ok = r.StandardOutput.Contains(Marker, StringComparison.Ordinal);
                }

                if (!ok)
                {
                    // Keep the image for diagnosis: it outlives the temporary directory.
                    File.Copy(image, Path.Combine(Path.GetTempPath(), "diskimage-boot-failed-" + Path.GetFileName(image)), overwrite: true);
                }

                return (layout, ok, r, sw.Elapsed);
            }
            finally
            {
                gate.Release();
            }
        }));

        foreach (var (layout, ok, r, elapsed) in results)
        {
            output.WriteLine($"{layout.c} early={layout.early}: {(ok ? "booted" : "FAILED")} in {elapsed.TotalSeconds:F1} s");
        }

        foreach (var (layout, ok, r, _) in results)
        {
            Assert.True(ok, $"{layout.c} early={layout.early}: marker not seen\n{Tail(r.StandardOutput)}\n{r.StandardError}");
        }
    }

    private static InMemoryTreeSource BusyboxTree(string busybox)
    {
        var tree = new InMemoryTreeSource();
        tree.Add(new CpioTreeItem("bin/busybox", CpioEntryType.RegularFile)
        {
            Mode = (UnixFileMode)0x1ED,
            Length = new FileInfo(busybox).Length,
            OpenData = () => File.OpenRead(busybox),
        });
        tree.AddSymbolicLink("bin/sh", "busybox");
        tree.AddDirectory("dev");
        tree.AddSpecial("dev/console", CpioEntryType.CharacterDevice, 5, 1, (UnixFileMode)0x180);
        tree.AddDirectory("proc");
        // The pause lets the serial port drain the tty before power-off (under load the marker could be lost).
        tree.AddFile("init", System.Text.Encoding.ASCII.GetBytes($"#!/bin/busybox sh\n/bin/busybox echo {Marker}\n/bin/busybox sleep 1\n/bin/busybox poweroff -f\n"), (UnixFileMode)0x1ED);
        return tree;
    }

    private static InMemoryTreeSource EarlyTree()
    {
        var tree = new InMemoryTreeSource();
        byte[] blob = new byte[4099];
        new Random(7).NextBytes(blob);
        tree.AddFile("kernel/x86/microcode/GenuineIntel.bin", blob);
        return tree;
    }

    private static bool IsStatic(string path)
    {
        ToolResult r = Oracle.Run("sh", ["-c", $"file -L {CpioTestSupport.Quote(path)} 2>/dev/null || ldd {CpioTestSupport.Quote(path)} 2>&1"], TimeSpan.FromSeconds(20));
        return r.StandardOutput.Contains("statically linked", StringComparison.Ordinal) || r.StandardOutput.Contains("not a dynamic executable", StringComparison.Ordinal);
    }

    internal static string RequireFile(string dir, string pattern, string what)
    {
        string? f = Directory.Exists(dir) ? Directory.GetFiles(dir, pattern).Order().LastOrDefault() : null;
        if (f is null)
        {
            if (Oracle.Required)
            {
                Assert.Fail($"Missing {what}.");
            }

            throw new SkipException($"Missing {what}.");
        }

        return f;
    }

    private static string Tail(string s) => s.Length > 3000 ? s[^3000..] : s;
}
