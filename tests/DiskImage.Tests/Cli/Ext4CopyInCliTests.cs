using System.Runtime.Versioning;
using DiskImage.FileSystems.Ext4;
using DiskImage.Formats;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Archives.CpioTestSupport;
using static DiskImage.Tests.Cli.Ext4CliTests;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>copy-in</c> (virt-copy-in) into images made by our mkfs and by mke2fs 1.47, judged by e2fsck -fn
/// and debugfs, and by reading the tree back (copy-out) and comparing it with the source.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class Ext4CopyInCliTests
{
    [SkippableTheory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    public void CopyIn_TreeIntoNewFileSystem_E2fsckCleanAndSameTree(string format)
    {
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), output = tmp.File("out"), image = tmp.File("fs." + format);
        Directory.CreateDirectory(src);
        Directory.CreateDirectory(output);
        MakeTree(src);
        using (var sparse = new FileStream(Path.Combine(src, "sparse.bin"), FileMode.CreateNew))
        {
            sparse.Seek(3 << 20, SeekOrigin.Begin);
            sparse.Write("tail"u8);
        }

        File.SetLastWriteTimeUtc(Path.Combine(src, "etc/conf.d/x.conf"), new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc).AddTicks(1234567));
        CliHarness.RunOk("mkfs", "--size", "64M", "-f", format, "ext4", image);

        CliResult r = CliHarness.RunOk("copy-in", image, src, "/");
        Assert.Equal("", r.StandardOutput + r.StandardError);
        string raw = AsRaw(tmp, image, format);
        E2fsckClean(raw);
        Assert.Equal("key=value\n", Oracle.RunOk("debugfs", "-R", "cat /src/etc/conf.d/x.conf", raw).StandardOutput);
        string listing = Oracle.RunOk("debugfs", "-R", "ls -p /src/usr", raw).StandardOutput;
        Assert.Contains("/hard-b/", listing, StringComparison.Ordinal);

        CliHarness.RunOk("copy-out", image, "/src", output);
        AssertSameTree(src, Path.Combine(output, "src"), withTimes: true);
        Assert.Equal(new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc).AddTicks(1234567), File.GetLastWriteTimeUtc(Path.Combine(output, "src/etc/conf.d/x.conf")));
    }

    [SkippableTheory]
    [InlineData("debian12", "qcow2")]
    [InlineData("rhel7", "raw")]
    public void CopyIn_GeneratedTreeWithXattrs_E2fsckCleanAndEveryEntryMatches(string profile, string format)
    {
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), image = tmp.File("fs." + format);
        Directory.CreateDirectory(src);
        HostTreeExpectations expectations = HostTreeGenerator.Generate(src, seed: 4242, new HostTreeShape { Post2038Times = false, BigDirectoryEntries = 600 });
        CliHarness.RunOk("mkfs", "--size", "96M", "-f", format, "-T", profile, "ext4", image);

        string[] entries = [.. Directory.EnumerateFileSystemEntries(src).Order(StringComparer.Ordinal)];
        CliResult r = CliHarness.RunOk(["copy-in", "--xattrs", image, .. entries, "/"]);
        Assert.Equal("", r.StandardError);
        E2fsckClean(AsRaw(tmp, image, format));
        using DiskImageFile opened = DiskImageFile.Open(image);
        using Ext4FileSystem fs = Ext4FileSystem.Open(opened.Content, leaveOpen: true);
        int compared = Ext4TreeComparer.AssertMatches(src, fs, expectations);
        Assert.True(compared > 600, $"only {compared} entries");
    }

    [SkippableFact]
    public void CopyIn_FilesIntoMke2fsImage_ReplacesAndKeepsTheRest()
    {
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), add = tmp.File("add");
        Directory.CreateDirectory(src);
        Directory.CreateDirectory(Path.Combine(add, "etc"));
        MakeTree(src, specials: false);
        string image = BuildImage(tmp, src, "raw");
        File.WriteAllText(Path.Combine(add, "etc/x.conf"), "replaced=yes\n");
        File.WriteAllText(Path.Combine(add, "hostname"), "guest\n");
        File.SetUnixFileMode(Path.Combine(add, "hostname"), (UnixFileMode)0x180);

        CliHarness.RunOk("copy-in", image, Path.Combine(add, "etc/x.conf"), Path.Combine(add, "hostname"), "/etc/conf.d");
        CliHarness.RunOk("copy-in", image, Path.Combine(add, "hostname"), "/etc/conf.d");
        E2fsckClean(image);
        Assert.Equal("replaced=yes\n", CliHarness.RunOk("cat", image, "/etc/conf.d/x.conf").StandardOutput);
        Assert.Equal("guest\n", Oracle.RunOk("debugfs", "-R", "cat /etc/conf.d/hostname", image).StandardOutput);
        Assert.StartsWith("-rw------- 1 0 0 6 ", CliHarness.RunOk("ls", "-l", image, "/etc/conf.d/hostname").StandardOutput, StringComparison.Ordinal);
        Assert.Equal(["/etc/conf.d/hostname", "/etc/conf.d/x.conf"], CliHarness.RunOk("ls", "-R", image, "/etc/conf.d").StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [SkippableFact]
    public void CopyIn_IntoLargeHtreeDirectory_E2fsckClean()
    {
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), add = tmp.File("add");
        Directory.CreateDirectory(Path.Combine(src, "many"));
        Directory.CreateDirectory(add);
        for (int i = 0; i < 3000; i++)
        {
            File.WriteAllBytes(Path.Combine(src, "many", $"entry-with-a-longer-name-{i:D5}"), []);
        }

        string image = BuildImage(tmp, src, "raw");

        // mke2fs -d writes linear directories; e2fsck -D indexes them (exit code 1: changed).
        Assert.True(Oracle.Run("e2fsck", "-fyD", image).ExitCode is 0 or 1);
        Assert.Contains("Root node dump", Oracle.RunOk("debugfs", "-R", "htree /many", image).StandardOutput, StringComparison.Ordinal);
        for (int i = 0; i < 200; i++)
        {
            File.WriteAllText(Path.Combine(add, $"new-{i:D3}"), $"{i}\n");
        }

        CliHarness.RunOk("copy-in", image, add, "/many");
        E2fsckClean(image);
        Assert.Equal("123\n", Oracle.RunOk("debugfs", "-R", "cat /many/add/new-123", image).StandardOutput);
        CliHarness.RunOk("copy-in", image, Path.Combine(add, "new-007"), "/many");
        E2fsckClean(image);
        Assert.Equal(3002, CliHarness.RunOk("ls", image, "/many").StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [SkippableFact]
    public void CopyIn_DebootstrapImageEtc_E2fsckClean()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string add = tmp.File("add");
        Directory.CreateDirectory(add);
        File.WriteAllText(Path.Combine(add, "diskimage-test.conf"), "injected\n");
        string image = tmp.File("debian.img");
        Oracle.RunOk("mke2fs", "-q", "-F", "-t", "ext4", "-d", tree, image, "1G");
        string qcow2 = tmp.File("debian.qcow2");
        Oracle.RunOk("qemu-img", "convert", "-f", "raw", "-O", "qcow2", image, qcow2);

        CliHarness.RunOk("copy-in", qcow2, Path.Combine(add, "diskimage-test.conf"), "/etc");
        string raw = AsRaw(tmp, qcow2, "qcow2");
        E2fsckClean(raw);
        Assert.Equal("injected\n", Oracle.RunOk("debugfs", "-R", "cat /etc/diskimage-test.conf", raw).StandardOutput);
        Assert.Equal(File.ReadAllText(Path.Combine(tree, "etc/os-release")), CliHarness.RunOk("cat", qcow2, "/etc/os-release").StandardOutput);
    }

    [SkippableFact]
    public void CopyIn_Qcow2Overlay_ChangesOnlyTheOverlay()
    {
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), file = tmp.File("motd");
        Directory.CreateDirectory(src);
        MakeTree(src, specials: false);
        File.WriteAllText(file, "welcome\n");
        string baseImage = BuildImage(tmp, src, "qcow2");
        byte[] baseBytes = File.ReadAllBytes(baseImage);
        string overlay = tmp.File("overlay.qcow2");
        CliHarness.RunOk("create", "-q", "-f", "qcow2", "-b", baseImage, "-F", "qcow2", overlay);

        CliHarness.RunOk("copy-in", overlay, file, "/etc");
        Assert.True(baseBytes.AsSpan().SequenceEqual(File.ReadAllBytes(baseImage)));
        string raw = tmp.File("overlay.raw");
        Oracle.RunOk("qemu-img", "convert", "-O", "raw", overlay, raw);
        E2fsckClean(raw);
        Assert.Equal("welcome\n", Oracle.RunOk("debugfs", "-R", "cat /etc/motd", raw).StandardOutput);
        CliResult baseListing = CliHarness.RunOk("ls", baseImage, "/etc");
        Assert.DoesNotContain("motd", baseListing.StandardOutput, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [Trait("Category", "KernelMount")]
    [InlineData("debian12")]
    [InlineData("rhel7")]
    public void CopyIn_TreeIntoOurMkfs_KernelMountsReadOnlyAndReadsItBack(string profile)
    {
        Skip.IfNot(HostFiles.IsRoot, "Mounting needs root.");
        Skip.If(Oracle.Find("losetup") is null || Oracle.Run("losetup", "-f").ExitCode != 0, "No free loop device.");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), image = tmp.File("fs.img"), mnt = tmp.File("mnt");
        Directory.CreateDirectory(src);
        Directory.CreateDirectory(mnt);
        MakeTree(src);
        CliHarness.RunOk("mkfs", "--size", "64M", "-T", profile, "ext4", image);
        CliHarness.RunOk("copy-in", image, src, "/");
        CliHarness.RunOk("make-fs", "-T", profile, src, tmp.File("made.img"));

        foreach ((string img, string inside) in new[] { (image, "src"), (tmp.File("made.img"), "") })
        {
            ToolResult mount = Oracle.Run("mount", "-o", "loop,ro,noload", "-t", "ext4", img, mnt);
            Skip.If(mount.ExitCode != 0, "The kernel refused the loop mount here: " + mount);
            try
            {
                // Types, modes, content (read by the kernel), link targets, hard-link groups, device numbers, mtimes.
                AssertSameTree(src, inside.Length == 0 ? WithoutLostFound(tmp, mnt) : Path.Combine(mnt, inside), withTimes: true);
            }
            finally
            {
                Oracle.Run("umount", mnt);
            }
        }
    }

    // A copy of the mounted tree without lost+found, for comparing a whole file system with its source.
    private static string WithoutLostFound(TempDirectory tmp, string mounted)
    {
        string copy = tmp.File("mounted-copy");
        Oracle.RunOk("cp", "-a", mounted, copy);
        Directory.Delete(Path.Combine(copy, "lost+found"));
        return copy;
    }

    [Fact]
    public void CopyIn_BadTargets_ExitCode1()
    {
        using var tmp = new TempDirectory();
        string image = tmp.File("fs.img"), file = tmp.File("f.txt");
        File.WriteAllText(file, "x\n");
        CliHarness.RunOk("mkfs", "--size", "16M", "ext4", image);
        CliHarness.RunOk("copy-in", image, file, "/");

        Assert.Equal((1, "diskimage: /f.txt: Not a directory\n"), Result(CliHarness.Run("copy-in", image, file, "/f.txt")));
        Assert.Equal((1, "diskimage: /nope: No such file or directory\n"), Result(CliHarness.Run("copy-in", image, file, "/nope")));
        Assert.Equal((1, $"diskimage: {tmp.File("none")}: No such file or directory\n"), Result(CliHarness.Run("copy-in", image, tmp.File("none"), "/")));
        Assert.Equal(1, CliHarness.Run("copy-in", image, file, "relative").ExitCode);
        Assert.Equal(1, CliHarness.Run("copy-in", image, file).ExitCode);
    }

    private static (int, string) Result(CliResult r) => (r.ExitCode, r.StandardError);
}
