using DiskImage.FileSystems;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// <see cref="XfsFileSystem.Format"/> judged by xfsprogs 6.1 (Debian 12): for each profile, <c>xfs_db</c> prints the same
/// superblock, AGF and AGI fields (CRCs aside) for our image and for <c>mkfs.xfs</c> of the same size, options and UUID;
/// <c>xfs_repair -n</c> finds nothing; our reader and the kernel open it.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class XfsFormatTests
{
    internal static readonly Guid FixedUuid = new("2f6a5c1e-8d4b-4e0f-9b3a-7c1d2e3f4a5b");
    internal static readonly DateTimeOffset FixedTime = new(2024, 5, 6, 7, 8, 9, TimeSpan.Zero);

    /// <summary>The mkfs.xfs 6.1 options that select each profile's features.</summary>
    internal static string[] MkfsOptions(XfsFormatProfile profile) => profile switch
    {
        XfsFormatProfile.Rhel7 => ["-m", "crc=1,finobt=1,reflink=0,bigtime=0,inobtcount=0,rmapbt=0", "-i", "sparse=0"],
        XfsFormatProfile.Rhel8 => ["-m", "crc=1,finobt=1,reflink=1,bigtime=0,inobtcount=0,rmapbt=0", "-i", "sparse=1"],
        XfsFormatProfile.Upstream => ["-m", "crc=1,finobt=1,reflink=1,bigtime=1,inobtcount=1,rmapbt=1", "-i", "sparse=1,nrext64=1"],
        _ => ["-m", "crc=1,finobt=1,reflink=1,bigtime=1,inobtcount=1,rmapbt=0", "-i", "sparse=1"],
    };

    internal static void AssertRepairClean(string image)
    {
        ToolResult r = Oracle.Run("xfs_repair", ["-n", "-f", image], TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, "xfs_repair -n (xfsprogs 6.1): " + r);
    }

    /// <summary>xfs_db prints of the superblock and every AG's AGF and AGI, CRC lines dropped.</summary>
    internal static string HeaderPrint(string image, int agCount)
    {
        var args = new List<string> { "-r", "-c", "sb 0", "-c", "print" };
        for (int ag = 0; ag < agCount; ag++)
        {
            args.AddRange(["-c", $"agf {ag}", "-c", "print", "-c", $"agi {ag}", "-c", "print"]);
        }

        args.Add(image);
        ToolResult r = Oracle.Run("xfs_db", args, TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
        return string.Join('\n', r.StandardOutput.Split('\n').Where(l => !l.StartsWith("crc =", StringComparison.Ordinal)));
    }

    private static void FormatOurs(string image, long size, XfsFormatOptions options)
    {
        using var device = FileBlockDevice.Create(image, size);
        XfsFileSystem.Format(device, options);
    }

    [SkippableTheory]
    [InlineData(XfsFormatProfile.Debian12, 512L << 20, 4096)]
    [InlineData(XfsFormatProfile.Rhel9, 1L << 30, 4096)]
    [InlineData(XfsFormatProfile.Rhel8, 3L << 30, 4096)]
    [InlineData(XfsFormatProfile.Rhel7, 700L << 20, 4096)]
    [InlineData(XfsFormatProfile.Debian12, 600L << 20, 1024)]
    [InlineData(XfsFormatProfile.Rhel7, 2L << 40, 4096)]
    [InlineData(XfsFormatProfile.Debian12, 5L << 40, 4096)]
    [InlineData(XfsFormatProfile.Upstream, 512L << 20, 4096)]
    [InlineData(XfsFormatProfile.Upstream, 600L << 20, 1024)]
    [InlineData(XfsFormatProfile.Upstream, 5L << 40, 4096)]
    public void Format_Profile_SameHeadersAsMkfsXfsAndRepairClean(XfsFormatProfile profile, long size, int blockSize)
    {
        Oracle.Require("mkfs.xfs");
        Oracle.Require("xfs_db");
        using var temp = new TempDirectory();
        string ours = temp.File("ours.img");
        string theirs = temp.File("mkfs.img");
        FormatOurs(ours, size, new XfsFormatOptions { Profile = profile, BlockSize = blockSize, Uuid = FixedUuid, Timestamp = FixedTime });
        using (var f = new FileStream(theirs, FileMode.Create))
        {
            f.SetLength(size);
        }

        ToolResult mk = Oracle.Run("mkfs.xfs", ["-f", "-q", "-b", $"size={blockSize}", "-m", $"uuid={FixedUuid}", .. MkfsOptions(profile), theirs], TimeSpan.FromMinutes(2));
        Assert.True(mk.ExitCode == 0, mk.ToString());
        int agCount;
        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(ours)))
        {
            Assert.Equal(FixedUuid, fs.Uuid);
            Assert.Empty(fs.EnumerateDirectory("/"));
            Assert.Equal((UnixFileMode)0x1ED, fs.GetEntry("/").Mode);
            agCount = (int)((fs.BlockCount + 1) / 2);
        }

        string expected = HeaderPrint(theirs, Math.Min(agCount, 8));
        string actual = HeaderPrint(ours, Math.Min(agCount, 8));
        Assert.Equal(expected, actual);
        AssertRepairClean(ours);
    }

    [Fact]
    public void Format_SameOptions_ByteIdenticalImages()
    {
        using var temp = new TempDirectory();
        var options = new XfsFormatOptions { Uuid = FixedUuid, Timestamp = FixedTime, Label = "root" };
        FormatOurs(temp.File("a.img"), 400L << 20, options);
        FormatOurs(temp.File("b.img"), 400L << 20, options);
        Assert.Equal(File.ReadAllBytes(temp.File("a.img")), File.ReadAllBytes(temp.File("b.img")));
        using XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(temp.File("a.img")));
        Assert.Equal("root", fs.Label);
    }

    [SkippableFact]
    [Trait("Category", "KernelMount")]
    public void Format_Upstream_KernelMountsAndWrites()
    {
        Ext4KernelMount.Require();
        using var temp = new TempDirectory();
        string image = temp.File("u.img");
        FormatOurs(image, 400L << 20, new XfsFormatOptions { Profile = XfsFormatProfile.Upstream, Uuid = FixedUuid, Timestamp = FixedTime });
        XfsTestImages.Fill(image, temp.File("mnt"), mnt => File.WriteAllText(Path.Combine(mnt, "hello"), "hi\n"));
        AssertRepairClean(image);
        using XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image));
        using var s = new StreamReader(fs.OpenFile("/hello", FileMode.Open, FileAccess.Read));
        Assert.Equal("hi\n", s.ReadToEnd());
    }

    [Theory]
    [InlineData(20L << 20)]
    public void Format_DeviceTooSmall_ThrowsArgument(long size)
    {
        using var temp = new TempDirectory();
        using var device = FileBlockDevice.Create(temp.File("s.img"), size);
        Assert.Throws<ArgumentException>(() => XfsFileSystem.Format(device));
    }

    [Fact]
    public void Format_BadOptions_ThrowArgument()
    {
        using var temp = new TempDirectory();
        using var device = FileBlockDevice.Create(temp.File("o.img"), 400L << 20);
        Assert.Throws<ArgumentException>(() => XfsFileSystem.Format(device, new XfsFormatOptions { BlockSize = 8192 }));
        Assert.Throws<ArgumentException>(() => XfsFileSystem.Format(device, new XfsFormatOptions { InodeSize = 256 }));
        Assert.Throws<ArgumentException>(() => XfsFileSystem.Format(device, new XfsFormatOptions { AgCount = 1 }));
        Assert.Throws<ArgumentException>(() => XfsFileSystem.Format(device, new XfsFormatOptions { Label = "a label that is too long" }));
    }

    [SkippableFact]
    [Trait("Category", "KernelMount")]
    public void Format_KernelMountsAndWrites()
    {
        Ext4KernelMount.Require();
        using var temp = new TempDirectory();
        string image = temp.File("k.img");
        FormatOurs(image, 512L << 20, new XfsFormatOptions { Uuid = FixedUuid, Timestamp = FixedTime });
        XfsTestImages.Fill(image, temp.File("mnt"), mnt => File.WriteAllText(Path.Combine(mnt, "hello"), "hi\n"));
        AssertRepairClean(image);
        using XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image));
        using var s = new StreamReader(fs.OpenFile("/hello", FileMode.Open, FileAccess.Read));
        Assert.Equal("hi\n", s.ReadToEnd());
    }
}
