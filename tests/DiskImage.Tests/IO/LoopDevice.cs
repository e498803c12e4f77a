using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.IO;

/// <summary>
/// A loop device over a scratch file (<c>losetup -f --show</c>), detached on dispose. Needs root and
/// /dev/loop-control: otherwise the test is skipped, except that as root under
/// DISKIMAGE_REQUIRE_ORACLES=1 a missing loop device is a failure.
/// </summary>
internal sealed class LoopDevice : IDisposable
{
    private LoopDevice(string path) => Path = path;

    /// <summary>The device node, e.g. /dev/loop3.</summary>
    public string Path { get; }

    /// <summary>Attaches <paramref name="backingFile"/> to a free loop device.</summary>
    public static LoopDevice Attach(string backingFile)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Loop devices exist on Linux only.");
        Skip.IfNot(Environment.IsPrivilegedProcess, "Loop devices need root.");
        string? reason = !File.Exists("/dev/loop-control") ? "/dev/loop-control does not exist."
            : Oracle.Find("losetup") is null ? "losetup is not installed."
            : null;
        ToolResult? attached = null;
        if (reason is null)
        {
            attached = Oracle.Run("losetup", ["-f", "--show", backingFile], TimeSpan.FromSeconds(30));
            if (attached.ExitCode != 0)
            {
                reason = "losetup -f --show failed: " + (attached.StandardError + attached.StandardOutput).Trim();
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

        return new LoopDevice(attached!.StandardOutput.Trim());
    }

    public void Dispose()
    {
        // A device still held (udev probing briefly) refuses to detach for a moment.
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
