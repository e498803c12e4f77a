using System.Buffers.Binary;
using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// <see cref="XfsFileSystem"/> opened with <see cref="XfsOpenOptions.Writable"/>: the smallest changes judged by
/// <c>xfs_repair -n</c> and a fresh open, and the refusals (read-only open, read-only device, a log that needs recovery,
/// feature sets that are not written).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class XfsWriteTests
{
    private static string FormatImage(TempDirectory temp, XfsFormatProfile profile = XfsFormatProfile.Debian12)
    {
        string image = temp.File("fs.img");
        using var device = FileBlockDevice.Create(image, 64L << 20);
        XfsFileSystem.Format(device, new XfsFormatOptions { Profile = profile });
        return image;
    }

    [Theory]
    [InlineData(XfsFormatProfile.Debian12)]
    [InlineData(XfsFormatProfile.Rhel7)]
    [InlineData(XfsFormatProfile.Rhel8)]
    public void CreateFileInRoot_FormattedImage_RepairCleanAndReadsBack(XfsFormatProfile profile)
    {
        Oracle.Require("xfs_repair");
        using var temp = new TempDirectory();
        string image = FormatImage(temp, profile);
        Guid uuid;
        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image, writable: true), new XfsOpenOptions { Writable = true }))
        {
            uuid = fs.Uuid;
            using Stream s = fs.OpenFile("/hello.txt", FileMode.CreateNew, FileAccess.Write);
            s.Write("hello, xfs\n"u8);
        }

        XfsFormatTests.AssertRepairClean(image);
        using XfsFileSystem back = XfsFileSystem.Open(FileBlockDevice.Open(image));
        Assert.Equal(uuid, back.Uuid);
        using Stream r = back.OpenFile("/hello.txt", FileMode.Open, FileAccess.Read);
        Assert.Equal("hello, xfs\n", new StreamReader(r).ReadToEnd());
    }

    [Fact]
    public void UnchangedContent_SurvivesTwoFlushes_AndPartialOverwriteKeepsTheRest()
    {
        Oracle.Require("xfs_repair");
        using var temp = new TempDirectory();
        string image = FormatImage(temp);
        byte[] big = new byte[300_000];
        new Random(7).NextBytes(big);
        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image, writable: true), new XfsOpenOptions { Writable = true }))
        {
            fs.CreateDirectory("/d");
            using (Stream s = fs.OpenFile("/d/big", FileMode.CreateNew, FileAccess.Write))
            {
                s.Write(big);
            }

            fs.CreateHardLink("/big-link", "/d/big");
            fs.Flush();
            fs.CreateDirectory("/e");
            fs.Flush();
            using (Stream s = fs.OpenFile("/big-link", FileMode.Open, FileAccess.ReadWrite))
            {
                s.Position = 1000;
                s.Write(new byte[10]);
            }
        }

        Array.Clear(big, 1000, 10);
        XfsFormatTests.AssertRepairClean(image);
        using XfsFileSystem back = XfsFileSystem.Open(FileBlockDevice.Open(image));
        Assert.Equal(2, back.GetEntry("/d/big").LinkCount);
        using Stream r = back.OpenFile("/d/big", FileMode.Open, FileAccess.Read);
        byte[] read = new byte[big.Length];
        r.ReadExactly(read);
        Assert.Equal(big, read);
    }

    [Fact]
    public void Mutators_ReadOnlyOpen_NotSupported()
    {
        using var temp = new TempDirectory();
        string image = FormatImage(temp);
        using XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image));
        Assert.True(fs.IsReadOnly);
        Assert.Throws<NotSupportedException>(() => fs.CreateDirectory("/x"));
        Assert.Throws<NotSupportedException>(() => fs.OpenFile("/x", FileMode.CreateNew, FileAccess.Write));
        Assert.Throws<NotSupportedException>(() => fs.SetXattr("/", "user.a", [1]));
    }

    [Fact]
    public void OpenWritable_ReadOnlyDevice_NotSupported()
    {
        using var temp = new TempDirectory();
        string image = FormatImage(temp);
        using FileBlockDevice device = FileBlockDevice.Open(image);
        Assert.Throws<NotSupportedException>(() => XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true }, leaveOpen: true));
    }

    [Fact]
    public void OpenWritable_LogNeedsRecovery_NotSupportedAndImageUnchanged()
    {
        using var temp = new TempDirectory();
        string image = FormatImage(temp);
        byte[] sb = new byte[512];
        using (var f = new FileStream(image, FileMode.Open, FileAccess.ReadWrite))
        {
            f.ReadExactly(sb);
            int bs = BinaryPrimitives.ReadInt32BigEndian(sb.AsSpan(4));
            ulong logStart = BinaryPrimitives.ReadUInt64BigEndian(sb.AsSpan(48));
            uint agBlocks = BinaryPrimitives.ReadUInt32BigEndian(sb.AsSpan(84));
            int agLog = sb[124];
            long offset = (((long)(logStart >> agLog) * agBlocks) + (long)(logStart & ((1UL << agLog) - 1))) * bs;
            // A second record after the unmount record, same cycle, whose operation is an ordinary transaction.
            byte[] rec = new byte[1024];
            f.Position = offset;
            f.ReadExactly(rec);
            Assert.Equal(0xFEEDBABEu, BinaryPrimitives.ReadUInt32BigEndian(rec));
            rec[512 + 9] = 0;
            f.Position = offset + 1024;
            f.Write(rec);
        }

        byte[] before = File.ReadAllBytes(image);
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        {
            NotSupportedException e = Assert.Throws<NotSupportedException>(() => XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true }, leaveOpen: true));
            Assert.Contains("recovery", e.Message, StringComparison.Ordinal);
        }

        Assert.Equal(before, File.ReadAllBytes(image));
    }

    /// <summary>
    /// Images with the reverse-mapping btree made by mkfs.xfs and filled by the kernel (files sharing extents through
    /// <c>cp --reflink</c> where reflink is on): a flush rebuilds the rmapbt with every owner, <c>xfs_repair -n</c>
    /// (which checks each record against its own scan) is clean, the kernel reads the tree back and the rmapbt of the
    /// first AG really has more than one level.
    /// </summary>
    [SkippableTheory]
    [Trait("Category", "KernelMount")]
    [InlineData("-m rmapbt=1")]
    [InlineData("-m rmapbt=1 -i nrext64=1")]
    [InlineData("-m rmapbt=1,reflink=0,bigtime=0,inobtcount=0 -i sparse=0")]
    public void KernelWrittenRmapbtImage_FlushMaintainsTheRmapbt(string mkfsOptions)
    {
        Oracle.Require("mkfs.xfs");
        Oracle.Require("xfs_repair");
        Oracle.Require("xfs_db");
        Ext4KernelMount.Require();
        using var temp = new TempDirectory();
        string image = temp.File("k.img");
        XfsTestImages.Format(image, mkfsOptions.Split(' '));
        bool reflink = !mkfsOptions.Contains("reflink=0", StringComparison.Ordinal);
        XfsTestImages.Fill(image, temp.File("rw"), root =>
        {
            HostTreeGenerator.Generate(root, 22, new HostTreeShape { BigDirectoryEntries = 700, Post2038Times = false });
            File.WriteAllBytes(Path.Combine(root, "shared-a"), new byte[3 << 20]);
            if (reflink)
            {
                ToolResult cp = Oracle.Run("cp", ["--reflink=always", Path.Combine(root, "shared-a"), Path.Combine(root, "shared-b")], TimeSpan.FromMinutes(1));
                Assert.True(cp.ExitCode == 0, cp.ToString());
            }
        });
        XfsFormatTests.AssertRepairClean(image);
        RandomTreeSnapshot before = WithoutSgi(XfsTestImages.KernelSnapshot(image, temp.File("ro1")));
        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image, writable: true), new XfsOpenOptions { Writable = true }))
        {
            fs.CreateDirectory("/added", (UnixFileMode)0x1C0);
            using Stream s = fs.OpenFile("/added/file", FileMode.CreateNew, FileAccess.Write);
            s.Write(new byte[1 << 20]);
        }

        XfsFormatTests.AssertRepairClean(image);
        string level = Oracle.RunOk("xfs_db", "-r", "-c", "agf 0", "-c", "print rmaplevel", image).StandardOutput;
        Assert.Contains("rmaplevel = 2", level, StringComparison.Ordinal);
        RandomTreeSnapshot after = WithoutSgi(XfsTestImages.KernelSnapshot(image, temp.File("ro2")));
        Assert.True(after.Entries.ContainsKey("/added/file"));
        after.Entries.Remove("/added");
        after.Entries.Remove("/added/file");
        before.Entries.Remove("/");
        after.Entries.Remove("/");
        List<string> diffs = RandomTreeSnapshot.Compare(before, after, new RandomTreeCompareOptions());
        Assert.True(diffs.Count == 0, string.Join('\n', diffs));
    }

    [Fact]
    public void SetXattr_BeyondOneLeafBlock_IOExceptionNowAndFlushStillWrites()
    {
        Oracle.Require("xfs_repair");
        using var temp = new TempDirectory();
        string image = FormatImage(temp);
        int stored = 0;
        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image, writable: true), new XfsOpenOptions { Writable = true }))
        {
            fs.CreateDirectory("/d");
            IOException? refused = null;
            for (int i = 0; i < 100 && refused is null; i++)
            {
                try
                {
                    fs.SetXattr("/d", $"user.attribute-{i:D3}", new byte[100]);
                    stored++;
                }
                catch (IOException e)
                {
                    refused = e;
                }
            }

            Assert.NotNull(refused);
            Assert.Equal(stored, fs.GetXattrs("/d").Count);
        }

        XfsFormatTests.AssertRepairClean(image);
        using XfsFileSystem back = XfsFileSystem.Open(FileBlockDevice.Open(image));
        Assert.Equal(stored, back.GetXattrs("/d").Count);
    }

    [SkippableFact]
    [Trait("Category", "KernelMount")]
    public void KernelWrittenImage_CleanLogAccepted_ChangesKeepTheKernelsTree()
    {
        Oracle.Require("mkfs.xfs");
        Oracle.Require("xfs_repair");
        Ext4KernelMount.Require();
        using var temp = new TempDirectory();
        string image = temp.File("k.img");
        XfsTestImages.Format(image, XfsFormatTests.MkfsOptions(XfsFormatProfile.Rhel8));
        XfsTestImages.Fill(image, temp.File("rw"), root => HostTreeGenerator.Generate(root, 21, new HostTreeShape { BigDirectoryEntries = 700, Post2038Times = false }));
        RandomTreeSnapshot before = WithoutSgi(XfsTestImages.KernelSnapshot(image, temp.File("ro1")));
        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image, writable: true), new XfsOpenOptions { Writable = true }))
        {
            fs.CreateDirectory("/added", (UnixFileMode)0x1C0);
            using Stream s = fs.OpenFile("/added/file", FileMode.CreateNew, FileAccess.Write);
            s.Write("from DiskImage\n"u8);
        }

        XfsFormatTests.AssertRepairClean(image);
        RandomTreeSnapshot after = WithoutSgi(XfsTestImages.KernelSnapshot(image, temp.File("ro2")));
        Assert.True(after.Entries.ContainsKey("/added/file"));
        after.Entries.Remove("/added");
        after.Entries.Remove("/added/file");
        before.Entries.Remove("/");
        after.Entries.Remove("/");
        List<string> diffs = RandomTreeSnapshot.Compare(before, after, new RandomTreeCompareOptions());
        Assert.True(diffs.Count == 0, string.Join('\n', diffs));
    }

    private static RandomTreeSnapshot WithoutSgi(RandomTreeSnapshot s) => XfsWriteRandomTests.WithoutSgiAclNames(s);
}
