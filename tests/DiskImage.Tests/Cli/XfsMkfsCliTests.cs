using DiskImage.FileSystems.Xfs;
using DiskImage.Formats;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Xfs;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Cli;

/// <summary><c>mkfs xfs</c> and <c>make-fs --type xfs</c>, raw and qcow2, judged by <c>xfs_repair -n</c> (xfsprogs 6.1) and qemu-img.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class XfsMkfsCliTests
{
    [SkippableFact]
    public void Mkfs_Xfs_RawWithOptions_RepairCleanAndOptionsApplied()
    {
        Oracle.Require("xfs_repair");
        using var temp = new TempDirectory();
        string img = temp.File("x.img");
        CliHarness.RunOk("mkfs", "--size", "512M", "-b", "size=2048", "-i", "size=1024", "-d", "agcount=6", "-L", "data", "-m", $"uuid={XfsFormatTests.FixedUuid}", "-T", "rhel8", "xfs", img);
        XfsFormatTests.AssertRepairClean(img);
        using XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(img));
        Assert.Equal((2048, "data", XfsFormatTests.FixedUuid), (fs.BlockSize, fs.Label, fs.Uuid));
        Assert.Equal(XfsIncompatibleFeatures.FileType | XfsIncompatibleFeatures.SparseInodes, fs.IncompatibleFeatures);
        ToolResult db = Oracle.Run("xfs_db", "-r", "-c", "sb 0", "-c", "print agcount inodesize", img);
        Assert.Contains("agcount = 6", db.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("inodesize = 1024", db.StandardOutput, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Mkfs_Xfs_UpstreamProfile_RmapbtAndNrext64RepairClean()
    {
        Oracle.Require("xfs_repair");
        using var temp = new TempDirectory();
        string img = temp.File("u.img");
        CliHarness.RunOk("mkfs", "--size", "512M", "-T", "upstream", "xfs", img);
        XfsFormatTests.AssertRepairClean(img);
        using XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(img));
        Assert.True((fs.IncompatibleFeatures & XfsIncompatibleFeatures.LargeExtentCounts) != 0);
        ToolResult db = Oracle.Run("xfs_db", "-r", "-c", "agf 0", "-c", "print rmaplevel", img);
        Assert.Contains("rmaplevel = 1", db.StandardOutput, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void MakeFs_Xfs_Qcow2_QemuImgCheckAndRepairClean()
    {
        Oracle.Require("xfs_repair");
        Oracle.Require("qemu-img");
        using var temp = new TempDirectory();
        string src = temp.File("src");
        Directory.CreateDirectory(Path.Combine(src, "etc"));
        File.WriteAllText(Path.Combine(src, "etc", "hostname"), "xfs-host\n");
        string img = temp.File("x.qcow2");
        CliHarness.RunOk("make-fs", "--type", "xfs", "-f", "qcow2", src, img);
        Assert.Equal(0, Oracle.Run("qemu-img", "check", img).ExitCode);
        string raw = temp.File("x.raw");
        Assert.Equal(0, Oracle.Run("qemu-img", "convert", "-O", "raw", img, raw).ExitCode);
        XfsFormatTests.AssertRepairClean(raw);
        CliResult cat = CliHarness.RunOk("cat", raw, "/etc/hostname");
        Assert.Equal("xfs-host\n", cat.StandardOutput);
    }

    [Theory]
    [InlineData(new[] { "mkfs", "--size", "512M", "-T", "upstream2", "xfs", "x.img" }, "unknown profile")]
    [InlineData(new[] { "mkfs", "--size", "512M", "-i", "size=256", "xfs", "x.img" }, "invalid inode size")]
    [InlineData(new[] { "mkfs", "--size", "512M", "-O", "^has_journal", "xfs", "x.img" }, "not supported for xfs")]
    [InlineData(new[] { "mkfs", "--size", "512M", "-d", "agcount=4", "ext4", "x.img" }, "only for xfs")]
    [InlineData(new[] { "mkfs", "--size", "8M", "xfs", "x.img" }, "x.img: ")]
    public void Mkfs_Xfs_BadArguments_Refused(string[] args, string message)
    {
        using var temp = new TempDirectory();
        string[] a = [.. args[..^1], temp.File(args[^1])];
        CliResult r = CliHarness.Run(a);
        Assert.True(r.ExitCode != 0 && r.StandardError.Contains(message, StringComparison.Ordinal), r.ToString());
    }
}
