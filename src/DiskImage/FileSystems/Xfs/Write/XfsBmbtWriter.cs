using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Bulk-loads a fork's extent btree (bmbt, long pointers, 'BMA3' blocks with a 72-byte v5 header) whose root lives in
/// the inode fork (<c>xfs_bmdr_block</c>: level, numrecs, keys[maxrecs], ptrs[maxrecs] sized to the fork).
/// </summary>
internal static class XfsBmbtWriter
{
    private const int HeaderSize = 72;
    private const uint Magic = 0x424D4133;

    /// <summary>Blocks (outside the inode) a tree of <paramref name="extents"/> records needs under a root of <paramref name="rootSpace"/> bytes.</summary>
    public static int BlocksNeeded(int extents, int blockSize, int rootSpace)
    {
        int perBlock = (blockSize - HeaderSize) / 16;
        int rootMax = (rootSpace - 4) / 16;
        int count = (extents + perBlock - 1) / perBlock;
        int total = count;
        while (count > rootMax)
        {
            count = (count + perBlock - 1) / perBlock;
            total += count;
        }

        return total;
    }

    /// <summary>Writes the tree blocks (to <paramref name="blocks"/>, in order) and the root into <paramref name="root"/>.</summary>
    public static void Write(XfsGeometry g, ReadOnlySpan<byte> uuid, ulong owner, List<XfsExtentToWrite> extents, IReadOnlyList<ulong> blocks,
        Span<byte> root, Func<ulong, ulong> diskAddress, Action<ulong, byte[]> writeBlock)
    {
        int bs = g.BlockSize;
        int perBlock = (bs - HeaderSize) / 16;
        int rootMax = (root.Length - 4) / 16;
        int next = 0;
        int leaves = (extents.Count + perBlock - 1) / perBlock;
        var level = new List<(ulong Block, long Key)>(leaves);
        for (int i = 0, r = 0; i < leaves; i++)
        {
            int n = (extents.Count - r) / (leaves - i);
            ulong self = blocks[next + i];
            byte[] b = NewBlock(bs, uuid, owner, 0, n, i > 0 ? blocks[next + i - 1] : ulong.MaxValue, i < leaves - 1 ? blocks[next + i + 1] : ulong.MaxValue, diskAddress(self));
            for (int k = 0; k < n; k++)
            {
                extents[r + k].WriteTo(b.AsSpan(HeaderSize + (k * 16)));
            }

            level.Add((self, extents[r].Logical));
            XfsChecksum.Update(b, 64);
            writeBlock(self, b);
            r += n;
        }

        next += leaves;
        int height = 1;
        while (level.Count > rootMax)
        {
            int nodes = (level.Count + perBlock - 1) / perBlock;
            var upper = new List<(ulong Block, long Key)>(nodes);
            for (int i = 0, c = 0; i < nodes; i++)
            {
                int n = (level.Count - c) / (nodes - i);
                ulong self = blocks[next + i];
                byte[] b = NewBlock(bs, uuid, owner, height, n, i > 0 ? blocks[next + i - 1] : ulong.MaxValue, i < nodes - 1 ? blocks[next + i + 1] : ulong.MaxValue, diskAddress(self));
                WriteKeysPtrs(b.AsSpan(HeaderSize), perBlock, level, c, n);
                upper.Add((self, level[c].Key));
                XfsChecksum.Update(b, 64);
                writeBlock(self, b);
                c += n;
            }

            next += nodes;
            level = upper;
            height++;
        }

        root.Clear();
        BinaryPrimitives.WriteUInt16BigEndian(root, (ushort)height);
        BinaryPrimitives.WriteUInt16BigEndian(root[2..], (ushort)level.Count);
        WriteKeysPtrs(root[4..], rootMax, level, 0, level.Count);
    }

    private static void WriteKeysPtrs(Span<byte> s, int maxRecs, List<(ulong Block, long Key)> level, int first, int n)
    {
        for (int k = 0; k < n; k++)
        {
            BinaryPrimitives.WriteInt64BigEndian(s[(k * 8)..], level[first + k].Key);
            BinaryPrimitives.WriteUInt64BigEndian(s[((maxRecs * 8) + (k * 8))..], level[first + k].Block);
        }
    }

    private static byte[] NewBlock(int blockSize, ReadOnlySpan<byte> uuid, ulong owner, int level, int numrecs, ulong left, ulong right, ulong daddr)
    {
        byte[] b = new byte[blockSize];
        BinaryPrimitives.WriteUInt32BigEndian(b, Magic);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), (ushort)level);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), (ushort)numrecs);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8), left);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(16), right);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(24), daddr);
        uuid.CopyTo(b.AsSpan(40));
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(56), owner);
        return b;
    }
}
