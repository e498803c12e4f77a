using System.Runtime.Versioning;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Archives.CpioTestSupport;

namespace DiskImage.Tests.Cli;

/// <summary><c>diskimage make-ramdisk</c> from a guest directory and from a disk image, judged by GNU cpio and lsinitramfs.</summary>
[SupportedOSPlatform("linux")]
public sealed class MakeRamdiskCliTests
{
    [SkippableFact]
    public void MakeRamdisk_FromDirectory_GnuCpioListsProgramLibrariesAndExtras()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        Oracle.Require("cpio");
        using var tmp = new TempDirectory();
        string image = tmp.File("ramdisk.cpio"), init = tmp.File("init.sh"), extra = tmp.File("extra.txt");
        File.WriteAllText(init, "#!/bin/bash\necho hi\n");
        File.WriteAllText(extra, "extra\n");
        CliHarness.RunOk("make-ramdisk", tree, "--binary", "bash", "--binary", "/usr/bin/cat", "--tree", "/etc/apt", "--init", init,
            "--add", extra + ":/etc/extra.txt", "--add-guest", "/etc/os-release:/etc/os-release", "--compress", "none", "--mtime", "1700000000", "-o", image);

        string[] names = Lines(Shell($"cpio -it --quiet < {Quote(image)}").StandardOutput);
        foreach (string expected in (string[])["init", "bin", "lib64", "usr/bin/bash", "usr/bin/cat", "usr/lib/x86_64-linux-gnu/libtinfo.so.6", "usr/lib/x86_64-linux-gnu/libc.so.6",
            "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "etc/apt/sources.list.d", "etc/extra.txt", "etc/os-release", "dev/console"])
        {
            Assert.Contains(expected, names);
        }

        string listing = Shell($"cpio -itv --quiet < {Quote(image)}").StandardOutput;
        Assert.DoesNotContain(Lines(listing), l => !l.Contains(" root ", StringComparison.Ordinal));
        Assert.Contains("2023", listing, StringComparison.Ordinal);

        // Same guest, same options: same bytes.
        string again = tmp.File("again.cpio");
        CliHarness.RunOk("make-ramdisk", tree, "--binary", "bash", "--binary", "/usr/bin/cat", "--tree", "/etc/apt", "--init", init,
            "--add", extra + ":/etc/extra.txt", "--add-guest", "/etc/os-release:/etc/os-release", "--compress", "none", "--mtime", "1700000000", "-o", again);
        Assert.Equal(File.ReadAllBytes(image), File.ReadAllBytes(again));
    }

    [SkippableFact]
    public void MakeRamdisk_FromDiskImage_LsinitramfsListsIt()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        Oracle.Require("lsinitramfs");
        using var tmp = new TempDirectory();
        string disk = tmp.File("guest.img"), image = tmp.File("ramdisk.gz");
        CliHarness.RunOk("make-fs", "-t", "ext4", tree, disk);
        CliHarness.RunOk("make-ramdisk", disk, "--binary", "ls", "-o", image);
        string[] names = Lines(Shell($"lsinitramfs {Quote(image)}").StandardOutput);
        Assert.Contains("usr/bin/ls", names);
        Assert.Contains("usr/lib/x86_64-linux-gnu/libselinux.so.1", names);
        Assert.Contains("lib64", names);
        Assert.Contains("usr/lib64/ld-linux-x86-64.so.2", names);
    }

    [SkippableFact]
    public void MakeRamdisk_Refusals_Exit1AndLeaveNoOutput()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        using var tmp = new TempDirectory();
        string image = tmp.File("out.img");
        CliResult missing = CliHarness.Run("make-ramdisk", tree, "--binary", "no-such-program-xyz", "-o", image);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no-such-program-xyz", missing.StandardError, StringComparison.Ordinal);
        CliResult xz = CliHarness.Run("make-ramdisk", tree, "--compress", "xz", "-o", image);
        Assert.Equal(1, xz.ExitCode);
        CliResult badAdd = CliHarness.Run("make-ramdisk", tree, "--add", "relative-dest:etc/x", "-o", image);
        Assert.Equal(1, badAdd.ExitCode);
        CliResult modules = CliHarness.Run("make-ramdisk", tree, "--module", "loop", "-o", image);
        Assert.Equal(1, modules.ExitCode);
        Assert.Contains("modules.dep", modules.StandardError, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
