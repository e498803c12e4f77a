using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Partitions;

/// <summary>
/// A loop device with a chosen logical sector size (<c>losetup -b 4096</c>: a 4Kn disk for sfdisk and
/// sgdisk), or a window of an image (<c>-o OFFSET --sizelimit N</c>); detached on dispose. Skips without
/// root or loop devices (fails as root under DISKIMAGE_REQUIRE_ORACLES=1).
/// </summary>
internal sealed class SectorLoopDevice : IDisposable
{
    private SectorLoopDevice(string path) => Path = path;

    /// <summary>The device node.</summary>
    public string Path { get; }

    /// <summary>Attaches <paramref name="file"/> with <c>losetup -f --show</c> and <paramref name="options"/>.</summary>
    public static SectorLoopDevice Attach(string file, params string[] options)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Loop devices exist on Linux only.");
        Skip.IfNot(Environment.IsPrivilegedProcess, "Loop devices need root.");
        string? reason = !File.Exists("/dev/loop-control") ? "/dev/loop-control does not exist." : Oracle.Find("losetup") is null ? "losetup is not installed." : null;
        ToolResult? r = null;
        if (reason is null)
        {
            r = Oracle.Run("losetup", ["-f", "--show", .. options, file], TimeSpan.FromSeconds(30));
            if (r.ExitCode != 0)
            {
                reason = "losetup failed: " + (r.StandardError + r.StandardOutput).Trim();
            }
        }

        if (reason is not null)
        {
            if (Oracle.Required)
            {
                Assert.Fail(reason + " DISKIMAGE_REQUIRE_ORACLES=1 as root makes this a failure.");
            }

            throw new SkipException(reason);
        }

        return new SectorLoopDevice(r!.StandardOutput.Trim());
    }

    public void Dispose()
    {
        for (int attempt = 0; attempt < 50; attempt++)
        {
            if (Oracle.Run("losetup", ["-d", Path], TimeSpan.FromSeconds(30)).ExitCode == 0)
            {
                return;
            }

            Thread.Sleep(100);
        }
    }
}
