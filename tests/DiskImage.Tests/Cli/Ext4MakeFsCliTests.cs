using System.Runtime.Versioning;
using DiskImage.FileSystems.Ext4;
using DiskImage.Formats;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Archives.CpioTestSupport;
using static DiskImage.Tests.Cli.Ext4CliTests;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>make-fs</c> (virt-make-fs), judged by e2fsprogs 1.47 (e2fsck -fn, debugfs) and qemu-img 7.2,
/// and by comparing the image's tree with the source tree.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class Ext4MakeFsCliTests
{
    [SkippableTheory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    public void MakeFs_Tree_E2fsckCleanAndSameTree(string format)
    {
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), output = tmp.File("out"), image = tmp.File("fs." + format);
        Directory.CreateDirectory(src);
        Directory.CreateDirectory(output);
        MakeTree(src);
        File.SetLastWriteTimeUtc(Path.Combine(src, "etc/conf.d/x.conf"), new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc).AddTicks(1234567));

        CliResult r = CliHarness.RunOk("make-fs", "--format", format, "-b", "4096", "--label", "tree", src, image);
        Assert.Equal("", r.StandardOutput + r.StandardError);
        Assert.Equal(format, ImageFormat(image));
        string raw = AsRaw(tmp, image, format);
        E2fsckClean(raw);
        Assert.Matches(@"Filesystem volume name:\s+tree\n", Oracle.RunOk("dumpe2fs", "-h", raw).StandardOutput);
        Assert.Equal("key=value\n", Oracle.RunOk("debugfs", "-R", "cat /etc/conf.d/x.conf", raw).StandardOutput);

        CliHarness.RunOk("copy-out", image, "/", output);
        Directory.Delete(Path.Combine(output, "lost+found"));
        AssertSameTree(src, output, withTimes: true);
        Assert.Equal(new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc).AddTicks(1234567), File.GetLastWriteTimeUtc(Path.Combine(output, "etc/conf.d/x.conf")));
    }

    [SkippableFact]
    public void MakeFs_DefaultSize_FitsWithTenPercentFree()
    {
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), image = tmp.File("fs.img");
        Directory.CreateDirectory(src);
        MakeTree(src, specials: false);
        byte[] data = new byte[3 << 20];
        new Random(7).NextBytes(data);
        File.WriteAllBytes(Path.Combine(src, "data.bin"), data);

        CliHarness.RunOk("make-fs", src, image);
        E2fsckClean(image);
        long size = new FileInfo(image).Length;
        using var tree = new DiskImage.FileSystems.Host.HostDirectoryFileSystem(src);
        long smallest = Ext4FileSystem.ComputeBuildSize(tree);
        Assert.True(size >= smallest + (smallest / 10) && size < smallest + (smallest / 5), $"size {size}, smallest {smallest}");
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(Extract(tmp, image), "data.bin")));
    }

    [SkippableFact]
    public void MakeFs_SizePlusAndExactSize_ImageOfThatSize()
    {
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), plus = tmp.File("plus.qcow2"), exact = tmp.File("exact.img");
        Directory.CreateDirectory(src);
        MakeTree(src, specials: false);

        CliHarness.RunOk("make-fs", "-f", "qcow2", "--size", "+32M", "-b", "4096", src, plus);
        using (var tree = new DiskImage.FileSystems.Host.HostDirectoryFileSystem(src))
        {
            long expected = Ext4FileSystem.ComputeBuildSize(tree, new Ext4BuildOptions { Format = new Ext4FormatOptions { BlockSize = 4096 }, ExtraBytes = 32 << 20 });
            using DiskImageFile opened = DiskImageFile.Open(plus);
            Assert.Equal((expected + 511) & ~511L, opened.Content.Length);
        }

        E2fsckClean(AsRaw(tmp, plus, "qcow2"));

        CliHarness.RunOk("make-fs", "-s", "50M", "-T", "rhel7", src, exact);
        Assert.Equal(50L << 20, new FileInfo(exact).Length);
        E2fsckClean(exact);
        Assert.DoesNotContain("metadata_csum", Oracle.RunOk("dumpe2fs", "-h", exact).StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void MakeFs_TooSmallOrBadInput_ExitCode1WithoutOutput()
    {
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), image = tmp.File("fs.img");
        Directory.CreateDirectory(src);
        byte[] big = new byte[4 << 20];
        new Random(1).NextBytes(big);
        File.WriteAllBytes(Path.Combine(src, "big.bin"), big);

        CliResult tooSmall = CliHarness.Run("make-fs", "-s", "2M", src, image);
        Assert.True(tooSmall.ExitCode == 1, tooSmall.ToString());
        Assert.StartsWith("diskimage: ", tooSmall.StandardError, StringComparison.Ordinal);
        Assert.False(File.Exists(image));

        CliResult missing = CliHarness.Run("make-fs", tmp.File("none"), image);
        Assert.Equal((1, $"diskimage: {tmp.File("none")}: No such file or directory\n"), (missing.ExitCode, missing.StandardError));
        CliResult notDir = CliHarness.Run("make-fs", Path.Combine(src, "big.bin"), image);
        Assert.Contains("input must be a directory", notDir.StandardError, StringComparison.Ordinal);
        CliResult badType = CliHarness.Run("make-fs", "-t", "vfat", src, image);
        Assert.Contains("not supported", badType.StandardError, StringComparison.Ordinal);
        Assert.False(File.Exists(image));
    }

    [SkippableFact]
    public void MakeFs_DebootstrapTree_E2fsckCleanAndContentIdentical()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string image = tmp.File("debian.qcow2");
        CliHarness.RunOk("make-fs", "-f", "qcow2", "-T", "debian12", tree, image);
        string raw = AsRaw(tmp, image, "qcow2");
        E2fsckClean(raw);
        using DiskImageFile opened = DiskImageFile.Open(image);
        using Ext4FileSystem fs = Ext4FileSystem.Open(opened.Content, leaveOpen: true);
        int compared = Ext4TreeComparer.AssertMatches(tree, fs, expectations: null);
        Assert.True(compared > 1000, $"only {compared} entries");
    }

    private static string Extract(TempDirectory tmp, string image)
    {
        string output = tmp.File("extracted");
        Directory.CreateDirectory(output);
        CliHarness.RunOk("copy-out", image, "/", output);
        return output;
    }
}
