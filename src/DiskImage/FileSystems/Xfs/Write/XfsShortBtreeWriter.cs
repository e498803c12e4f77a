using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Bulk-loads a per-AG btree (bnobt, cntbt, inobt, finobt, refcountbt) with short (32-bit) pointers: full leaves left
/// to right, then node levels over them, the root at a fixed block (<c>xfs_btree_sblock</c>, 56-byte v5 header).
/// </summary>
internal static class XfsShortBtreeWriter
{
    public const int HeaderSize = 56;

    /// <summary>How many blocks a tree of <paramref name="records"/> records needs (at least the root).</summary>
    public static int BlocksNeeded(int records, int blockSize, int recordSize, int keySize)
    {
        int leafMax = (blockSize - HeaderSize) / recordSize;
        int nodeMax = (blockSize - HeaderSize) / (keySize + 4);
        int level = Math.Max(1, (records + leafMax - 1) / leafMax);
        int total = level;
        while (level > 1)
        {
            level = (level + nodeMax - 1) / nodeMax;
            total += level;
        }

        return total;
    }

    /// <summary>
    /// Writes the tree. <paramref name="blocks"/> lists the AG blocks to use (BlocksNeeded of them); the last is the root.
    /// Returns the tree height. <paramref name="keySize"/> bytes of each record are its key.
    /// </summary>
    public static int Write(XfsGeometry g, int ag, ReadOnlySpan<byte> uuid, uint magic, byte[] records, int recordSize, int keySize,
        IReadOnlyList<int> blocks, Action<int, byte[]> writeBlock)
    {
        int bs = g.BlockSize;
        int count = records.Length / recordSize;
        int leafMax = (bs - HeaderSize) / recordSize;
        int nodeMax = (bs - HeaderSize) / (keySize + 4);
        int next = 0;
        // Each level: (block, first key) of its blocks.
        var level = new List<(int Block, byte[] Key)>();
        int leaves = Math.Max(1, (count + leafMax - 1) / leafMax);
        bool single = leaves == 1;
        var leafBlocks = new int[leaves];
        for (int i = 0; i < leaves; i++)
        {
            leafBlocks[i] = single ? blocks[^1] : blocks[next++];
        }

        for (int i = 0, r = 0; i < leaves; i++)
        {
            int n = (count - r) / (leaves - i);
            byte[] block = new byte[bs];
            Header(block, g, ag, uuid, magic, 0, n, i > 0 ? leafBlocks[i - 1] : -1, i < leaves - 1 ? leafBlocks[i + 1] : -1, leafBlocks[i]);
            records.AsSpan(r * recordSize, n * recordSize).CopyTo(block.AsSpan(HeaderSize));
            level.Add((leafBlocks[i], n > 0 ? records.AsSpan(r * recordSize, keySize).ToArray() : new byte[keySize]));
            XfsChecksum.Update(block, 52);
            writeBlock(leafBlocks[i], block);
            r += n;
        }

        int height = 1;
        while (level.Count > 1)
        {
            int nodes = (level.Count + nodeMax - 1) / nodeMax;
            var upper = new List<(int Block, byte[] Key)>(nodes);
            var nodeBlocks = new int[nodes];
            for (int i = 0; i < nodes; i++)
            {
                nodeBlocks[i] = nodes == 1 ? blocks[^1] : blocks[next++];
            }

            for (int i = 0, c = 0; i < nodes; i++)
            {
                int n = (level.Count - c) / (nodes - i);
                byte[] block = new byte[bs];
                Header(block, g, ag, uuid, magic, height, n, i > 0 ? nodeBlocks[i - 1] : -1, i < nodes - 1 ? nodeBlocks[i + 1] : -1, nodeBlocks[i]);
                int ptrs = HeaderSize + (nodeMax * keySize);
                for (int k = 0; k < n; k++)
                {
                    level[c + k].Key.CopyTo(block.AsSpan(HeaderSize + (k * keySize)));
                    BinaryPrimitives.WriteUInt32BigEndian(block.AsSpan(ptrs + (k * 4)), (uint)level[c + k].Block);
                }

                upper.Add((nodeBlocks[i], level[c].Key));
                XfsChecksum.Update(block, 52);
                writeBlock(nodeBlocks[i], block);
                c += n;
            }

            level = upper;
            height++;
        }

        return height;
    }

    internal static void Header(Span<byte> b, XfsGeometry g, int ag, ReadOnlySpan<byte> uuid, uint magic, int level, int numrecs, int left, int right, int self)
    {
        BinaryPrimitives.WriteUInt32BigEndian(b, magic);
        BinaryPrimitives.WriteUInt16BigEndian(b[4..], (ushort)level);
        BinaryPrimitives.WriteUInt16BigEndian(b[6..], (ushort)numrecs);
        BinaryPrimitives.WriteInt32BigEndian(b[8..], left);
        BinaryPrimitives.WriteInt32BigEndian(b[12..], right);
        BinaryPrimitives.WriteUInt64BigEndian(b[16..], g.DiskAddress(ag, self));
        uuid.CopyTo(b[32..]);
        BinaryPrimitives.WriteUInt32BigEndian(b[48..], (uint)ag);
    }
}
