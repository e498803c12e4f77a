using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Reads a fork's block map: the extent list of an extents-format fork, or every leaf of a block-map
/// btree (<c>BMA3</c>/<c>BMAP</c>) of any depth. The result is sorted, non-overlapping and inside the
/// file system; the record count must equal the inode's extent counter.
/// </summary>
internal static class XfsBlockMap
{
    private const uint MagicV5 = 0x424D4133; // BMA3
    private const uint MagicV4 = 0x424D4150; // BMAP
    private const int HeaderV5 = 72;
    private const int HeaderV4 = 24;
    private const int CrcOffset = 64;
    private const int MaxLevels = 9;

    /// <summary>The extents of the data fork (<paramref name="attributeFork"/> false) or the attribute fork.</summary>
    public static XfsExtent[] Read(XfsVolume volume, XfsInode inode, bool attributeFork)
    {
        XfsForkFormat format = attributeFork ? inode.AttributeFormat : inode.Format;
        ReadOnlySpan<byte> fork = attributeFork ? inode.AttributeFork : inode.DataFork;
        ulong expected = attributeFork ? inode.AttributeExtentCount : inode.DataExtentCount;
        string what = $"XFS inode {inode.Number} {(attributeFork ? "attribute" : "data")} fork";
        if (expected > (ulong)volume.SuperBlock.DataBlocks)
        {
            FormatError.Throw(what, -1, $"claims {expected} extents, more than the file system has blocks.");
        }

        var extents = new List<XfsExtent>((int)Math.Min(expected, 1024));
        if (format == XfsForkFormat.Extents)
        {
            if (expected > (ulong)(fork.Length / XfsExtent.Size))
            {
                FormatError.Throw(what, -1, $"{expected} extent records do not fit in the {fork.Length}-byte fork.");
            }

            for (int i = 0; i < (int)expected; i++)
            {
                extents.Add(XfsExtent.Parse(fork[(i * XfsExtent.Size)..]));
            }
        }
        else if (format == XfsForkFormat.Btree)
        {
            ReadRoot(volume, inode.Number, fork, expected, extents, what);
        }
        else
        {
            FormatError.Throw(what, -1, $"format {(int)format} has no block map.");
        }

        if ((ulong)extents.Count != expected)
        {
            FormatError.Throw(what, -1, $"the block map holds {extents.Count} records but the inode counts {expected}.");
        }

        Validate(volume.SuperBlock, extents, what);
        return [.. extents];
    }

    private static void ReadRoot(XfsVolume volume, ulong owner, ReadOnlySpan<byte> fork, ulong expected, List<XfsExtent> extents, string what)
    {
        if (fork.Length < 4 + 16)
        {
            FormatError.Throw(what, -1, "the btree root does not fit in the fork.");
        }

        int level = BinaryPrimitives.ReadUInt16BigEndian(fork);
        int count = BinaryPrimitives.ReadUInt16BigEndian(fork[2..]);
        int maxRecords = (fork.Length - 4) / 16;
        if (level is < 1 or > MaxLevels || count < 1 || count > maxRecords)
        {
            FormatError.Throw(what, -1, $"btree root level {level} with {count} records is not valid.");
        }

        byte[] block = new byte[volume.BlockSize];
        for (int i = 0; i < count; i++)
        {
            ulong child = BinaryPrimitives.ReadUInt64BigEndian(fork[(4 + (maxRecords * 8) + (i * 8))..]);
            ReadNode(volume, owner, child, level - 1, expected, extents, block, what);
        }
    }

    private static void ReadNode(XfsVolume volume, ulong owner, ulong fsBlock, int level, ulong expected, List<XfsExtent> extents, byte[] scratch, string what)
    {
        XfsSuperBlock sb = volume.SuperBlock;
        volume.ReadBlocks(fsBlock, scratch, what);
        ReadOnlySpan<byte> b = scratch;
        int header = sb.HasCrc ? HeaderV5 : HeaderV4;
        if (BinaryPrimitives.ReadUInt32BigEndian(b) != (sb.HasCrc ? MagicV5 : MagicV4))
        {
            FormatError.Throw(what, -1, $"btree block {fsBlock} has a bad magic.");
        }

        if (sb.HasCrc)
        {
            if (volume.VerifyChecksums && !XfsChecksum.IsValid(b, CrcOffset))
            {
                FormatError.Throw(what, -1, $"btree block {fsBlock}: checksum mismatch.");
            }

            if (BinaryPrimitives.ReadUInt64BigEndian(b[56..]) != owner || BinaryPrimitives.ReadUInt64BigEndian(b[24..]) != volume.DiskAddress(fsBlock))
            {
                FormatError.Throw(what, -1, $"btree block {fsBlock} records another owner or address.");
            }
        }

        int blockLevel = BinaryPrimitives.ReadUInt16BigEndian(b[4..]);
        int count = BinaryPrimitives.ReadUInt16BigEndian(b[6..]);
        int maxRecords = (b.Length - header) / 16;
        if (blockLevel != level || count < 1 || count > maxRecords)
        {
            FormatError.Throw(what, -1, $"btree block {fsBlock}: level {blockLevel} (expected {level}) with {count} records is not valid.");
        }

        if (level == 0)
        {
            if ((ulong)extents.Count + (ulong)count > expected)
            {
                FormatError.Throw(what, -1, $"the btree holds more records than the inode counts ({expected}).");
            }

            for (int i = 0; i < count; i++)
            {
                extents.Add(XfsExtent.Parse(b[(header + (i * XfsExtent.Size))..]));
            }

            return;
        }

        // Children are read into a fresh buffer; this block's pointers are copied first.
        ulong[] children = new ulong[count];
        for (int i = 0; i < count; i++)
        {
            children[i] = BinaryPrimitives.ReadUInt64BigEndian(b[(header + (maxRecords * 8) + (i * 8))..]);
        }

        byte[] block = new byte[volume.BlockSize];
        foreach (ulong child in children)
        {
            if ((ulong)extents.Count >= expected)
            {
                FormatError.Throw(what, -1, $"the btree holds more records than the inode counts ({expected}).");
            }

            ReadNode(volume, owner, child, level - 1, expected, extents, block, what);
        }
    }

    private static void Validate(XfsSuperBlock sb, List<XfsExtent> extents, string what)
    {
        ulong nextFree = 0;
        foreach (XfsExtent e in extents)
        {
            if (e.FileBlock < nextFree || !sb.IsValidExtent(e.FsBlock, e.Length) || e.FileBlock + e.Length > 1UL << 54)
            {
                FormatError.Throw(what, -1, $"extent (file block {e.FileBlock}, block {e.FsBlock}, {e.Length} blocks) overlaps another or leaves the file system.");
            }

            nextFree = e.FileBlock + e.Length;
        }
    }

    /// <summary>The index of the extent holding <paramref name="fileBlock"/>, or the complement of the next one.</summary>
    public static int Find(XfsExtent[] extents, ulong fileBlock)
    {
        int lo = 0;
        int hi = extents.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            XfsExtent e = extents[mid];
            if (fileBlock < e.FileBlock)
            {
                hi = mid - 1;
            }
            else if (fileBlock >= e.FileBlock + e.Length)
            {
                lo = mid + 1;
            }
            else
            {
                return mid;
            }
        }

        return ~lo;
    }
}
