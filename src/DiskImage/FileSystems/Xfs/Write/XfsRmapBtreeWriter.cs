using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Bulk-loads a reverse-mapping btree (<c>RMB3</c>): 24-byte records (start block, length, owner, offset with the
/// attribute-fork, bmbt-block and unwritten flags) in full leaves, then node levels whose entries carry the low and the
/// high key of the child (the rmapbt is an overlapping btree: a key is start block, owner and offset, 20 bytes) and a
/// 4-byte pointer. The root is the last block given.
/// </summary>
internal static class XfsRmapBtreeWriter
{
    public const uint Magic = 0x524D4233;
    public const int RecordSize = 24;
    private const int KeySize = 20;
    private const int NodeEntry = (2 * KeySize) + 4;
    private const int HeaderSize = XfsShortBtreeWriter.HeaderSize;
    private const ulong UnwrittenFlag = 1UL << 61;

    /// <summary>How many blocks a tree of <paramref name="records"/> records needs (at least the root).</summary>
    public static int BlocksNeeded(int records, int blockSize)
    {
        int leafMax = (blockSize - HeaderSize) / RecordSize;
        int nodeMax = (blockSize - HeaderSize) / NodeEntry;
        int level = Math.Max(1, (records + leafMax - 1) / leafMax);
        int total = level;
        while (level > 1)
        {
            level = (level + nodeMax - 1) / nodeMax;
            total += level;
        }

        return total;
    }

    /// <summary>Writes the tree over <paramref name="blocks"/> (BlocksNeeded of them, the root last); returns its height.</summary>
    public static int Write(XfsGeometry g, int ag, ReadOnlySpan<byte> uuid, byte[] records, IReadOnlyList<int> blocks, Action<int, byte[]> writeBlock)
    {
        int bs = g.BlockSize;
        int count = records.Length / RecordSize;
        int leafMax = (bs - HeaderSize) / RecordSize;
        int nodeMax = (bs - HeaderSize) / NodeEntry;
        int next = 0;
        var level = new List<(int Block, byte[] Keys)>();
        int leaves = Math.Max(1, (count + leafMax - 1) / leafMax);
        var leafBlocks = new int[leaves];
        for (int i = 0; i < leaves; i++)
        {
            leafBlocks[i] = leaves == 1 ? blocks[^1] : blocks[next++];
        }

        Span<byte> high = stackalloc byte[KeySize];
        for (int i = 0, r = 0; i < leaves; i++)
        {
            int n = (count - r) / (leaves - i);
            byte[] block = new byte[bs];
            XfsShortBtreeWriter.Header(block, g, ag, uuid, Magic, 0, n, i > 0 ? leafBlocks[i - 1] : -1, i < leaves - 1 ? leafBlocks[i + 1] : -1, leafBlocks[i]);
            records.AsSpan(r * RecordSize, n * RecordSize).CopyTo(block.AsSpan(HeaderSize));
            byte[] keys = new byte[2 * KeySize];
            for (int k = 0; k < n; k++)
            {
                ReadOnlySpan<byte> rec = records.AsSpan((r + k) * RecordSize, RecordSize);
                if (k == 0)
                {
                    LowKey(rec, keys);
                }

                HighKey(rec, high);
                if (k == 0 || Compare(high, keys.AsSpan(KeySize)) > 0)
                {
                    high.CopyTo(keys.AsSpan(KeySize));
                }
            }

            level.Add((leafBlocks[i], keys));
            XfsChecksum.Update(block, 52);
            writeBlock(leafBlocks[i], block);
            r += n;
        }

        int height = 1;
        while (level.Count > 1)
        {
            int nodes = (level.Count + nodeMax - 1) / nodeMax;
            var upper = new List<(int Block, byte[] Keys)>(nodes);
            var nodeBlocks = new int[nodes];
            for (int i = 0; i < nodes; i++)
            {
                nodeBlocks[i] = nodes == 1 ? blocks[^1] : blocks[next++];
            }

            for (int i = 0, c = 0; i < nodes; i++)
            {
                int n = (level.Count - c) / (nodes - i);
                byte[] block = new byte[bs];
                XfsShortBtreeWriter.Header(block, g, ag, uuid, Magic, height, n, i > 0 ? nodeBlocks[i - 1] : -1, i < nodes - 1 ? nodeBlocks[i + 1] : -1, nodeBlocks[i]);
                int ptrs = HeaderSize + (nodeMax * 2 * KeySize);
                byte[] keys = new byte[2 * KeySize];
                level[c].Keys.AsSpan(0, KeySize).CopyTo(keys);
                for (int k = 0; k < n; k++)
                {
                    byte[] child = level[c + k].Keys;
                    child.CopyTo(block.AsSpan(HeaderSize + (k * 2 * KeySize)));
                    BinaryPrimitives.WriteUInt32BigEndian(block.AsSpan(ptrs + (k * 4)), (uint)level[c + k].Block);
                    if (k == 0 || Compare(child.AsSpan(KeySize), keys.AsSpan(KeySize)) > 0)
                    {
                        child.AsSpan(KeySize).CopyTo(keys.AsSpan(KeySize));
                    }
                }

                upper.Add((nodeBlocks[i], keys));
                XfsChecksum.Update(block, 52);
                writeBlock(nodeBlocks[i], block);
                c += n;
            }

            level = upper;
            height++;
        }

        return height;
    }

    /// <summary>The low key of a record: its start block, owner and offset (flags but unwritten kept).</summary>
    private static void LowKey(ReadOnlySpan<byte> rec, Span<byte> key)
    {
        rec[..4].CopyTo(key);
        rec.Slice(8, 8).CopyTo(key[4..]);
        BinaryPrimitives.WriteUInt64BigEndian(key[12..], BinaryPrimitives.ReadUInt64BigEndian(rec[16..]) & ~UnwrittenFlag);
    }

    /// <summary>The high key: the last block, and for file data the last offset, the record maps.</summary>
    private static void HighKey(ReadOnlySpan<byte> rec, Span<byte> key)
    {
        LowKey(rec, key);
        uint adjust = BinaryPrimitives.ReadUInt32BigEndian(rec[4..]) - 1;
        BinaryPrimitives.WriteUInt32BigEndian(key, BinaryPrimitives.ReadUInt32BigEndian(rec) + adjust);
        ulong owner = BinaryPrimitives.ReadUInt64BigEndian(rec[8..]);
        ulong offset = BinaryPrimitives.ReadUInt64BigEndian(key[12..]);
        if (!XfsRmapLayout.IsSpecialOwner(owner) && (offset & XfsRmapLayout.BmbtBlockFlag) == 0)
        {
            BinaryPrimitives.WriteUInt64BigEndian(key[12..], offset + adjust);
        }
    }

    /// <summary>Orders keys by start block, owner, then offset without its flags.</summary>
    private static int Compare(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        int c = BinaryPrimitives.ReadUInt32BigEndian(a).CompareTo(BinaryPrimitives.ReadUInt32BigEndian(b));
        if (c == 0)
        {
            c = BinaryPrimitives.ReadUInt64BigEndian(a[4..]).CompareTo(BinaryPrimitives.ReadUInt64BigEndian(b[4..]));
        }

        if (c == 0)
        {
            c = (BinaryPrimitives.ReadUInt64BigEndian(a[12..]) & XfsRmapLayout.OffsetMask).CompareTo(BinaryPrimitives.ReadUInt64BigEndian(b[12..]) & XfsRmapLayout.OffsetMask);
        }

        return c;
    }
}
