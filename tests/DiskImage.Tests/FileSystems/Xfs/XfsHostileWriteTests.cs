using System.Buffers.Binary;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// The hostile-image cases the acceptance names (issue 10, acceptance 5), each crafted on an image made by
/// <see cref="XfsFileSystem.Build(BlockDevice, string, XfsBuildOptions?, CancellationToken)"/> with every structure's CRC
/// re-stamped (so the check behind the checksum is what refuses): bad superblock geometry, AG headers out of range, btree
/// cycles and wrong levels, directory and attribute blocks with a bad magic or bad offsets, extent records past the end,
/// inode forks that overflow the literal area. The reader throws <see cref="InvalidDataException"/> where it uses the
/// structure; opening for writing (or the flush that would copy the damaged file) throws it too and leaves every byte of
/// the device unchanged.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class XfsHostileWriteTests(XfsHostileCorpus corpus) : IClassFixture<XfsHostileCorpus>
{
    private const int InodeCrc = 100;

    [Theory]
    [InlineData("data blocks past agcount * agblocks", 0x08, 8, +1)]
    [InlineData("data blocks within the first agcount - 1 AGs", 0x08, 8, -2)]
    [InlineData("blocklog above 16", 0x78, 1, 17)]
    [InlineData("blocklog below 9", 0x78, 1, 8)]
    [InlineData("sectlog above 15", 0x79, 1, 16)]
    [InlineData("sectlog below 9", 0x79, 1, 8)]
    [InlineData("inopblog inconsistent with blocklog - inodelog", 0x7B, 1, 4)]
    [InlineData("agblklog inconsistent with agblocks", 0x7C, 1, 30)]
    public void Open_BadSuperblockGeometry_ThrowsAndWriteLeavesDeviceUnchanged(string what, int offset, int width, long value)
    {
        (XfsOverlayDevice device, XfsCorpusImage image) = Fresh();
        byte[] sb = Read(device, 0, 512);
        uint agCount = BinaryPrimitives.ReadUInt32BigEndian(sb.AsSpan(0x58));
        uint agBlocks = BinaryPrimitives.ReadUInt32BigEndian(sb.AsSpan(0x54));
        long put = offset == 0x08 ? (value > 0 ? ((long)agCount * agBlocks) + value : ((long)(agCount - 1) * agBlocks) + value + 1) : value;
        Put(sb, offset, width, (ulong)put);
        XfsChecksum.Update(sb, 0xE0);
        device.Write(0, sb);
        var e = Assert.Throws<InvalidDataException>(() => XfsFileSystem.Open(device, leaveOpen: true));
        Assert.Contains("XFS superblock", e.Message, StringComparison.Ordinal);
        AssertWriteRefused(device);
        _ = (what, image);
    }

    public static TheoryData<string, string, int, int, uint> AgHeaderCases => new()
    {
        { "AGF by-block root past the AG", "agf", 16, 4, uint.MaxValue - 1 },
        { "AGF by-block root 0", "agf", 16, 4, 0 },
        { "AGF by-count level 0", "agf", 32, 4, 0 },
        { "AGF by-block level 10", "agf", 28, 4, 10 },
        { "AGF refcount root past the AG", "agf", 88, 4, 0x7FFFFFFF },
        { "AGF flfirst past the AGFL", "agf", 40, 4, 1000 },
        { "AGF flcount inconsistent with flfirst..fllast", "agf", 48, 4, 3 },
        { "AGF free blocks above the AG length", "agf", 52, 4, uint.MaxValue },
        { "AGF sequence number", "agf", 8, 4, 7 },
        { "AGF length", "agf", 12, 4, 64 },
        { "AGI inode btree root past the AG", "agi", 20, 4, 0x7FFFFFF0 },
        { "AGI inode btree level 0", "agi", 24, 4, 0 },
        { "AGI free inode btree level 12", "agi", 332, 4, 12 },
        { "AGI free count above count", "agi", 28, 4, uint.MaxValue },
        { "AGI unlinked bucket past the AG", "agi", 40 + (4 * 17), 4, 0x7FFFFFF0 },
        { "AGFL slot past the AG", "agfl", -1, 4, 0x7FFFFFF0 },
    };

    /// <summary>
    /// The reader finds inodes by number and never uses the AG headers, so it reads such an image; opening it for
    /// writing refuses it (its allocation state is unknown), before anything is written.
    /// </summary>
    [Theory]
    [MemberData(nameof(AgHeaderCases))]
    public void OpenWritable_AgHeaderOutOfRange_ThrowsAndLeavesDeviceUnchanged(string what, string kind, int offset, int width, uint value)
    {
        (XfsOverlayDevice device, XfsCorpusImage image) = Fresh();
        XfsStructure s = image.Map.Of(kind)[1];
        byte[] b = Read(device, s.Offset, s.Length);
        if (offset < 0)
        {
            // The AGFL slot the AGF names first.
            byte[] agf = Read(device, image.Map.Of("agf")[1].Offset, 512);
            offset = 36 + (4 * (int)BinaryPrimitives.ReadUInt32BigEndian(agf.AsSpan(40)));
        }

        Put(b, offset, width, value);
        XfsChecksum.Update(b, s.CrcOffset);
        device.Write(s.Offset, b);
        using (XfsFileSystem fs = XfsFileSystem.Open(device, leaveOpen: true))
        {
            XfsHostileMutationTests.SafeWalk(fs, readContent: true);
        }

        Exception e = AssertWriteRefused(device);
        Assert.Contains("XFS AG 1", e.Message, StringComparison.Ordinal);
        _ = what;
    }

    /// <summary>A by-block btree root turned into a level-1 node whose only child is itself: a cycle.</summary>
    [Fact]
    public void OpenWritable_AgBtreeChildPointsToItsAncestor_Throws()
    {
        (XfsOverlayDevice device, XfsCorpusImage image) = Fresh();
        XfsStructure agfAt = image.Map.Of("agf")[1];
        byte[] agf = Read(device, agfAt.Offset, agfAt.Length);
        uint root = BinaryPrimitives.ReadUInt32BigEndian(agf.AsSpan(16));
        Put(agf, 28, 4, 2);
        XfsChecksum.Update(agf, agfAt.CrcOffset);
        device.Write(agfAt.Offset, agf);
        long rootAt = (image.Map.AgBlocks + root) * image.Map.BlockSize;
        byte[] node = Read(device, rootAt, image.Map.BlockSize);
        int maxRecords = (node.Length - 56) / 12;
        Put(node, 4, 2, 1);
        Put(node, 6, 2, 1);
        Put(node, 56 + (maxRecords * 8), 4, root);
        XfsChecksum.Update(node, 52);
        device.Write(rootAt, node);
        Exception e = AssertWriteRefused(device);
        Assert.Contains("cycle", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OpenWritable_AgBtreeWrongLevel_Throws()
    {
        (XfsOverlayDevice device, XfsCorpusImage image) = Fresh();
        XfsStructure agiAt = image.Map.Of("agi")[0];
        byte[] agi = Read(device, agiAt.Offset, agiAt.Length);
        Put(agi, 24, 4, 2); // the root block is a leaf (level 0), the AGI now says the tree has two levels
        XfsChecksum.Update(agi, agiAt.CrcOffset);
        device.Write(agiAt.Offset, agi);
        Exception e = AssertWriteRefused(device);
        Assert.Contains("expected 1", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The block map of a file whose extents live in a btree: its leaf made a level-1 node pointing to itself under a
    /// level-2 root (a child pointing back to its ancestor), or only its level changed.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void OpenFile_BlockMapBtreeCycleOrWrongLevel_ThrowsAndFlushLeavesDeviceUnchanged(bool cycle)
    {
        (XfsOverlayDevice device, XfsCorpusImage image) = Fresh();
        (long inodeAt, byte[] inode) = Inode(device, "/fragmented.bin");
        Assert.Equal(3, inode[5]); // btree format
        int forkSize = inode[82] == 0 ? inode.Length - 176 : inode[82] * 8;
        int rootMax = (forkSize - 4) / 16;
        ulong leaf = BinaryPrimitives.ReadUInt64BigEndian(inode.AsSpan(176 + 4 + (rootMax * 8)));
        long leafAt = BlockOffset(image.Map, leaf);
        byte[] block = Read(device, leafAt, image.Map.BlockSize);
        Put(block, 4, 2, 1);
        if (cycle)
        {
            Put(inode, 176, 2, 2);
            XfsChecksum.Update(inode, InodeCrc);
            device.Write(inodeAt, inode);
            int maxRecords = (block.Length - 72) / 16;
            Put(block, 6, 2, 1);
            Put(block, 72, 8, 0);
            Put(block, 72 + (maxRecords * 8), 8, leaf);
        }

        XfsChecksum.Update(block, 64);
        device.Write(leafAt, block);
        foreach (bool verify in new[] { true, false })
        {
            using XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { VerifyChecksums = verify }, leaveOpen: true);
            Exception e = Assert.Throws<InvalidDataException>(() => fs.OpenFile("/fragmented.bin", FileMode.Open, FileAccess.Read));
            Assert.Contains("expected", e.Message, StringComparison.Ordinal);
        }

        AssertWriteRefused(device);
    }

    public static TheoryData<string, string, int, int, ulong> BlockCases => new()
    {
        { "directory data block magic", "directory data", 0, 4, 0x58444431 },
        { "directory block-form magic", "directory block", 0, 4, 0x58444231 },
        { "directory entry: unused region longer than the block", "directory data", 64 + 2, 2, 0xFFF8 },
        { "directory best-free offset past the block", "directory data", 48, 2, 0xFFF0 },
        { "directory entry tag not its offset", "directory block", -1, 2, 0x0008 },
        { "block-form leaf count past the block", "directory block", -2, 4, 0x0FFFFFFF },
        { "attribute leaf magic", "attribute leaf", 8, 2, 0x3BEF },
        { "attribute leaf entry name index past the block", "attribute leaf", 80 + 4, 2, 0xFFF0 },
        { "attribute leaf entry count past the block", "attribute leaf", 56, 2, 0x7FFF },
        { "remote value header offset", "remote attribute value", 4, 4, 12345 },
    };

    [Theory]
    [MemberData(nameof(BlockCases))]
    public void Walk_DirectoryOrAttributeBlockDamaged_ThrowsAndWriteLeavesDeviceUnchanged(string what, string kind, int offset, int width, ulong value)
    {
        (XfsOverlayDevice device, XfsCorpusImage image) = Fresh();
        XfsStructure s = image.Map.Of(kind)[0];
        byte[] b = Read(device, s.Offset, s.Length);
        if (offset == -1)
        {
            // The tag (last two bytes) of the block's first entry, ".": 8 + 1 + 1 + ftype 1 + 2, rounded up to 16.
            offset = 64 + 16 - 2;
        }
        else if (offset == -2)
        {
            offset = b.Length - 8;
        }

        if (offset == 64 + 2)
        {
            // Make the first entry an unused region with a hostile length.
            Put(b, 64, 2, 0xFFFF);
        }

        Put(b, offset, width, value);
        XfsChecksum.Update(b, s.CrcOffset);
        device.Write(s.Offset, b);
        foreach (bool verify in new[] { true, false })
        {
            using XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { VerifyChecksums = verify }, leaveOpen: true);
            Assert.Throws<InvalidDataException>(() => XfsHostileMutationTests.SafeWalk(fs, readContent: false));
        }

        AssertWriteRefused(device);
        _ = what;
    }

    public static TheoryData<string, string, int, int, ulong> InodeCases => new()
    {
        { "extent past the end of its AG", "/small.txt", -1, 0, 0 },
        { "extent past the end of the device", "/small.txt", -2, 0, 0 },
        { "extent of length 0", "/small.txt", -3, 0, 0 },
        { "nextents larger than the fork holds", "/small.txt", 76, 4, 22 },
        { "attribute fork offset past the literal area", "/attrs-short", 82, 1, 0x80 },
        { "shortform directory larger than the fork", "/short", 56, 8, 400 },
        { "shortform attributes larger than the fork", "/attrs-short", -4, 2, 0x1000 },
        { "local symlink target larger than the fork", "/link", 56, 8, 400 },
        { "shortform attribute name with a NUL byte (the writer once threw ArgumentException)", "/attrs-short", -5, 1, 0 },
    };

    [Theory]
    [MemberData(nameof(InodeCases))]
    public void Walk_InodeForkOverflowOrExtentPastTheEnd_ThrowsAndWriteLeavesDeviceUnchanged(string what, string path, int offset, int width, ulong value)
    {
        (XfsOverlayDevice device, XfsCorpusImage image) = Fresh();
        (long at, byte[] inode) = Inode(device, path);
        if (offset <= -1 && offset >= -3)
        {
            ulong fsBlock = offset switch
            {
                -1 => (ulong)image.Map.AgBlocks - 1, // AG 0's last block, 2 blocks long
                -2 => 200UL << image.Map.AgBlockLog, // AG 200 of 4
                _ => 100,
            };
            ulong length = offset == -3 ? 0UL : 2UL;
            Put(inode, 176, 8, fsBlock >> 43);
            Put(inode, 184, 8, (fsBlock << 21) | length);
        }
        else if (offset == -4)
        {
            Put(inode, 176 + (inode[82] * 8), width, value);
        }
        else if (offset == -5)
        {
            // Header (total size 2, count 1, pad 1), then the first entry: name length, value length, flags, name.
            Put(inode, 176 + (inode[82] * 8) + 4 + 3, width, value);
        }
        else
        {
            Put(inode, offset, width, value);
        }

        XfsChecksum.Update(inode, InodeCrc);
        device.Write(at, inode);
        foreach (bool verify in new[] { true, false })
        {
            using XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { VerifyChecksums = verify }, leaveOpen: true);
            Assert.Throws<InvalidDataException>(() => XfsHostileMutationTests.SafeWalk(fs, readContent: true));
        }

        AssertWriteRefused(device);
        _ = what;
    }

    /// <summary>A directory entry pointing back to the root: a cycle a tree walk would follow forever.</summary>
    [Fact]
    public void OpenWritable_DirectoryEntryPointsToAnAncestor_ThrowsAndLeavesDeviceUnchanged()
    {
        (XfsOverlayDevice device, XfsCorpusImage image) = Fresh();
        (long at, byte[] inode) = Inode(device, "/short");
        Assert.Equal(1, inode[5]); // local (shortform)
        ulong root;
        using (XfsFileSystem fs = XfsFileSystem.Open(device, leaveOpen: true))
        {
            root = (ulong)fs.GetEntry("/").Inode;
        }

        // Header: count, i8count, parent (4 bytes); first entry: namelen, offset (2), name, ftype, inode (4 bytes).
        int entry = 176 + 6;
        Put(inode, entry + 3 + inode[entry] + 1, 4, root);
        inode[entry + 3 + inode[entry]] = 2; // ftype directory
        XfsChecksum.Update(inode, InodeCrc);
        device.Write(at, inode);
        using (XfsFileSystem fs = XfsFileSystem.Open(device, leaveOpen: true))
        {
            Assert.False(XfsHostileMutationTests.SafeWalk(fs, readContent: false));
        }

        Exception e = AssertWriteRefused(device);
        Assert.Contains("reached twice", e.Message, StringComparison.Ordinal);
        _ = image;
    }

    /// <summary>A log record header whose size would send the clean-log check past the end of the device.</summary>
    [Fact]
    public void OpenWritable_LogRecordSizeOutOfRange_ThrowsAndLeavesDeviceUnchanged()
    {
        (XfsOverlayDevice device, XfsCorpusImage image) = Fresh();
        XfsStructure record = image.Map.Of("log record")[^1];
        byte[] b = Read(device, record.Offset, 512);
        Put(b, 8, 4, 2);
        Put(b, 320, 4, 0x7FFFFFFF);
        device.Write(record.Offset, b);
        Exception e = AssertWriteRefused(device);
        Assert.Contains("XFS log", e.Message, StringComparison.Ordinal);
    }

    /// <summary>The AG checks accept what mkfs.xfs 6.1 writes, for every geometry and profile the writer takes.</summary>
    [SkippableTheory]
    [InlineData("")]
    [InlineData("-b size=1024")]
    [InlineData("-d agcount=7")]
    [InlineData("-m reflink=0,bigtime=0,inobtcount=0 -i sparse=0")]
    public void OpenWritable_PristineMkfsImage_AgChecksAccept(string options)
    {
        Oracle.Require("mkfs.xfs");
        using var temp = new TempDirectory();
        string image = temp.File("xfs.img");
        XfsTestImages.Format(image, options.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        using var file = FileBlockDevice.Open(image, writable: true);
        var device = new XfsOverlayDevice(file);
        using (XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true }, leaveOpen: true))
        {
            fs.CreateDirectory("/new");
        }

        using XfsFileSystem back = XfsFileSystem.Open(device, leaveOpen: true);
        Assert.True(back.Exists("/new"));
    }

    /// <summary>Opens writable, makes a change and flushes: an <see cref="InvalidDataException"/> must come, and no byte may change.</summary>
    private static Exception AssertWriteRefused(XfsOverlayDevice device)
    {
        Dictionary<long, byte[]> before = device.Snapshot();
        Exception e = Assert.Throws<InvalidDataException>(() =>
        {
            using XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true }, leaveOpen: true);
            fs.CreateDirectory("/hostile-dir");
            try
            {
                fs.Flush();
            }
            catch (InvalidDataException)
            {
                // Dispose tries the flush again: it must refuse the same way.
                Assert.Throws<InvalidDataException>(fs.Dispose);
                throw;
            }
        });
        Assert.True(device.SameAs(before, out long at), $"byte {at} changed: {e.Message}");
        return e;
    }

    private (XfsOverlayDevice Device, XfsCorpusImage Image) Fresh()
    {
        XfsCorpusImage image = corpus.Get(XfsHostileCorpus.BuildDebian12);
        return (new XfsOverlayDevice(image.Device), image);
    }

    private static (long Offset, byte[] Inode) Inode(BlockDevice device, string path)
    {
        ulong ino;
        using (XfsFileSystem fs = XfsFileSystem.Open(device, leaveOpen: true))
        {
            ino = (ulong)fs.GetEntry(path).Inode;
        }

        byte[] sector = new byte[512];
        device.ReadExactly(0, sector);
        XfsSuperBlock sb = XfsSuperBlock.Parse(sector, device.Length, verifyChecksum: true);
        long at = sb.InodeOffset(ino);
        return (at, Read(device, at, sb.InodeSize));
    }

    private static long BlockOffset(XfsMetadataMap map, ulong fsBlock) =>
        ((long)(fsBlock >> map.AgBlockLog) * map.AgBlocks + (long)(fsBlock & ((1UL << map.AgBlockLog) - 1))) * map.BlockSize;

    private static byte[] Read(BlockDevice device, long offset, int length)
    {
        byte[] b = new byte[length];
        device.ReadExactly(offset, b);
        return b;
    }

    private static void Put(byte[] b, int at, int width, ulong value)
    {
        for (int i = 0; i < width; i++)
        {
            b[at + i] = (byte)(value >> (8 * (width - 1 - i)));
        }
    }
}
