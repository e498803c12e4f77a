using System.Diagnostics;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Locking;

/// <summary>
/// A second process holding an image open: <c>qemu-io</c> running a long <c>sleep</c> command, or a
/// <c>qemu-nbd</c> export. Start
/// returns once the holder's locks are in place (they show in /proc/locks and stop changing); Dispose
/// kills it.
/// </summary>
internal sealed class QemuImageHolder : IDisposable
{
    private readonly Process _process;

    private QemuImageHolder(Process process) => _process = process;

    /// <summary>Starts <c>qemu-io -f format flags... -c 'sleep 120000' image</c>.</summary>
    public static QemuImageHolder Start(string image, string format, params string[] flags) =>
        StartTool("qemu-io", ["-f", format, .. flags, "-c", "sleep 120000", image], image);

    /// <summary>Starts <c>qemu-nbd -f format -k socket image</c>: an export on a unix socket, no network port.</summary>
    public static QemuImageHolder StartNbd(string image, string format, string socket) =>
        StartTool("qemu-nbd", ["-f", format, "-k", socket, image], image);

    private static QemuImageHolder StartTool(string tool, string[] arguments, string image)
    {
        string exe = Oracle.Require(tool);
        long inode = Inode(image);
        int before = LockLines(inode).Count;
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        Process process = Process.Start(psi) ?? throw new InvalidOperationException("qemu-io did not start.");
        var holder = new QemuImageHolder(process);
        try
        {
            holder.WaitForLocks(inode, before, $"{tool} {string.Join(' ', arguments)}");
            return holder;
        }
        catch
        {
            holder.Dispose();
            throw;
        }
    }

    /// <summary>The OFD lock lines of /proc/locks on <paramref name="inode"/>, e.g. "OFDLCK READ 100 101".</summary>
    public static List<string> LockLines(long inode)
    {
        var lines = new List<string>();
        foreach (string line in File.ReadLines("/proc/locks"))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 8 && f[1] == "OFDLCK" && f[5].EndsWith($":{inode}", StringComparison.Ordinal))
            {
                lines.Add($"{f[3]} {f[6]} {f[7]}");
            }
        }

        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    /// <summary>The inode number of <paramref name="path"/>.</summary>
    public static long Inode(string path) => long.Parse(Oracle.RunOk("stat", "-L", "-c", "%i", path).StandardOutput.Trim(), System.Globalization.CultureInfo.InvariantCulture);

    private void WaitForLocks(long inode, int before, string what)
    {
        var deadline = Stopwatch.StartNew();
        string previous = "";
        int stable = 0;
        while (deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{what} exited with {_process.ExitCode}: {_process.StandardError.ReadToEnd()}{_process.StandardOutput.ReadToEnd()}");
            }

            List<string> lines = LockLines(inode);
            string now = string.Join(';', lines);
            stable = lines.Count > before && now == previous ? stable + 1 : 0;
            if (stable >= 3)
            {
                return;
            }

            previous = now;
            Thread.Sleep(20);
        }

        throw new TimeoutException($"{what} took no lock within 20 s.");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }
}
