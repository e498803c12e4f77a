using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Lays out a whole directory in the smallest form that holds it (<c>xfs_da_format.h</c>, version 3): shortform in the
/// inode, one block ('XDB3'), leaf (data blocks 'XDD3' plus a leaf1 block 0x3DF1 with the bests table), or node
/// (data blocks, leafn blocks 0x3DFF under a dabtree of node blocks 0x3EBE rooted at the first leaf block, and
/// free-index blocks 'XDF3'). Entries are packed in the given order; hash arrays are sorted with <see cref="XfsNameHash"/>.
/// </summary>
internal sealed class XfsDirectoryLayout
{
    public const byte TypeDirectory = 2;
    private const int DataHeader = 64;
    private const int DaHeader = 64;
    private const uint BlockMagic = 0x58444233;
    private const uint DataMagic = 0x58444433;
    private const uint FreeMagic = 0x58444633;
    private const ushort Leaf1Magic = 0x3DF1;
    private const ushort LeafNMagic = 0x3DFF;
    private const int LeafSlack = 16;
    private const ushort NodeMagic = 0x3EBE;

    private XfsDirectoryLayout()
    {
    }

    /// <summary>The shortform fork content, or null when the directory needs blocks.</summary>
    public byte[]? Local { get; private init; }

    /// <summary>Directory blocks at their logical offsets (file-system blocks), each DirBlockSize bytes.</summary>
    public List<XfsMetadataBlock> Blocks { get; } = [];

    /// <summary><c>di_size</c>: the shortform size, or the size of the data space.</summary>
    public long Size { get; private init; }

    /// <summary>The shortform size of a directory (whether or not it fits the fork).</summary>
    public static int ShortformSize(ulong parent, IReadOnlyList<XfsDirectoryEntryToWrite> entries)
    {
        bool i8 = NeedsI8(parent, entries);
        int size = i8 ? 10 : 6;
        foreach (XfsDirectoryEntryToWrite e in entries)
        {
            size += 4 + e.Name.Length + (i8 ? 8 : 4);
        }

        return size;
    }

    /// <summary>Lays out the directory; <paramref name="localSpace"/> is the data fork size available for shortform.</summary>
    public static XfsDirectoryLayout Create(XfsGeometry g, ulong self, ulong parent, IReadOnlyList<XfsDirectoryEntryToWrite> entries, int localSpace)
    {
        int dbs = g.DirBlockSize;
        int sf = ShortformSize(parent, entries);
        if (sf <= localSpace)
        {
            int end = 96;
            foreach (XfsDirectoryEntryToWrite e in entries)
            {
                end += EntrySize(e.Name.Length);
            }

            if (end + ((entries.Count + 2) * 8) + 8 <= dbs)
            {
                return new XfsDirectoryLayout { Local = Shortform(parent, entries, sf), Size = sf };
            }
        }

        var all = new List<XfsDirectoryEntryToWrite>(entries.Count + 2)
        {
            new("."u8.ToArray(), self, TypeDirectory),
            new(".."u8.ToArray(), parent, TypeDirectory),
        };
        all.AddRange(entries);
        int used = 0;
        foreach (XfsDirectoryEntryToWrite e in all)
        {
            used += EntrySize(e.Name.Length);
        }

        int dirFsbs = dbs / g.BlockSize;
        if (DataHeader + used + (all.Count * 8) + 8 <= dbs)
        {
            var layout = new XfsDirectoryLayout { Size = dbs };
            byte[] block = new byte[dbs];
            var leaf = new List<(uint Hash, uint Address)>(all.Count);
            int off = DataHeader;
            foreach (XfsDirectoryEntryToWrite e in all)
            {
                leaf.Add((XfsNameHash.Compute(e.Name), (uint)(off >> 3)));
                off = WriteEntry(block, off, e);
            }

            int leafStart = dbs - 8 - (all.Count * 8);
            WriteDataHeader(block, BlockMagic, off, leafStart - off);
            SortLeaf(leaf);
            WriteLeafEntries(block.AsSpan(leafStart), leaf);
            BinaryPrimitives.WriteInt32BigEndian(block.AsSpan(dbs - 8), all.Count);
            layout.Blocks.Add(new XfsMetadataBlock(0, block, XfsHeaderKind.Directory));
            return layout;
        }

        // Data blocks, packed in order.
        var blocks = new List<byte[]>();
        var bests = new List<int>();
        var hashes = new List<(uint Hash, uint Address)>(all.Count);
        byte[]? current = null;
        int pos = 0;
        foreach (XfsDirectoryEntryToWrite e in all)
        {
            int size = EntrySize(e.Name.Length);
            if (current is null || pos + size > dbs)
            {
                if (current is not null)
                {
                    bests.Add(FinishData(current, pos));
                }

                current = new byte[dbs];
                blocks.Add(current);
                pos = DataHeader;
            }

            long dataOffset = ((long)(blocks.Count - 1) * dbs) + pos;
            hashes.Add((XfsNameHash.Compute(e.Name), checked((uint)(dataOffset >> 3))));
            pos = WriteEntry(current, pos, e);
        }

        bests.Add(FinishData(current!, pos));
        var result = new XfsDirectoryLayout { Size = (long)blocks.Count * dbs };
        for (int i = 0; i < blocks.Count; i++)
        {
            result.Blocks.Add(new XfsMetadataBlock((long)i * dirFsbs, blocks[i], XfsHeaderKind.Directory));
        }

        SortLeaf(hashes);
        long leafFsb = (32L << 30) >> g.BlockLog;
        long freeFsb = (64L << 30) >> g.BlockLog;
        if (DaHeader + (hashes.Count * 8) + (blocks.Count * 2) + 4 <= dbs)
        {
            byte[] leaf = new byte[dbs];
            DaHeaderWrite(leaf, Leaf1Magic, 0, 0);
            BinaryPrimitives.WriteUInt16BigEndian(leaf.AsSpan(56), (ushort)hashes.Count);
            WriteLeafEntries(leaf.AsSpan(DaHeader), hashes);
            int bestsAt = dbs - 4 - (blocks.Count * 2);
            for (int i = 0; i < blocks.Count; i++)
            {
                BinaryPrimitives.WriteUInt16BigEndian(leaf.AsSpan(bestsAt + (i * 2)), (ushort)bests[i]);
            }

            BinaryPrimitives.WriteInt32BigEndian(leaf.AsSpan(dbs - 4), blocks.Count);
            result.Blocks.Add(new XfsMetadataBlock(leafFsb, leaf, XfsHeaderKind.DaTree));
            return result;
        }

        // Node form: leafn blocks after the root's slot, then interior nodes, the root at leafFsb.
        int leafMax = (dbs - DaHeader) / 8;
        // Some slack per block: a run of equal hashes is never split across two leaves (xfs_repair wants the last hash
        // of a leaf below the first of the next, so the node entries increase strictly), which moves boundaries.
        int leafTarget = leafMax - LeafSlack;
        int leafCount = (hashes.Count + leafTarget - 1) / leafTarget;
        long nextFsb = leafFsb + dirFsbs;
        var level = new List<(long Fsb, uint LastHash)>(leafCount);
        var leafFsbs = new long[leafCount];
        for (int i = 0; i < leafCount; i++)
        {
            leafFsbs[i] = nextFsb;
            nextFsb += dirFsbs;
        }

        for (int i = 0, h = 0; i < leafCount; i++)
        {
            int n = LeafRun(hashes, h, (hashes.Count - h) / (leafCount - i), leafMax);
            byte[] leaf = new byte[dbs];
            DaHeaderWrite(leaf, LeafNMagic, i < leafCount - 1 ? leafFsbs[i + 1] : 0, i > 0 ? leafFsbs[i - 1] : 0);
            BinaryPrimitives.WriteUInt16BigEndian(leaf.AsSpan(56), (ushort)n);
            WriteLeafEntries(leaf.AsSpan(DaHeader), hashes.GetRange(h, n));
            result.Blocks.Add(new XfsMetadataBlock(leafFsbs[i], leaf, XfsHeaderKind.DaTree));
            level.Add((leafFsbs[i], hashes[h + n - 1].Hash));
            h += n;
        }

        int nodeMax = (dbs - DaHeader) / 8;
        int height = 1;
        while (true)
        {
            int nodes = (level.Count + nodeMax - 1) / nodeMax;
            var fsbs = new long[nodes];
            for (int i = 0; i < nodes; i++)
            {
                fsbs[i] = nodes == 1 ? leafFsb : nextFsb;
                if (nodes != 1)
                {
                    nextFsb += dirFsbs;
                }
            }

            var upper = new List<(long Fsb, uint LastHash)>(nodes);
            for (int i = 0, c = 0; i < nodes; i++)
            {
                int n = (level.Count - c) / (nodes - i);
                byte[] node = new byte[dbs];
                DaHeaderWrite(node, NodeMagic, nodes > 1 && i < nodes - 1 ? fsbs[i + 1] : 0, nodes > 1 && i > 0 ? fsbs[i - 1] : 0);
                BinaryPrimitives.WriteUInt16BigEndian(node.AsSpan(56), (ushort)n);
                BinaryPrimitives.WriteUInt16BigEndian(node.AsSpan(58), (ushort)height);
                for (int k = 0; k < n; k++)
                {
                    BinaryPrimitives.WriteUInt32BigEndian(node.AsSpan(DaHeader + (k * 8)), level[c + k].LastHash);
                    BinaryPrimitives.WriteUInt32BigEndian(node.AsSpan(DaHeader + (k * 8) + 4), checked((uint)level[c + k].Fsb));
                }

                result.Blocks.Add(new XfsMetadataBlock(fsbs[i], node, XfsHeaderKind.DaTree));
                upper.Add((fsbs[i], level[c + n - 1].LastHash));
                c += n;
            }

            if (nodes == 1)
            {
                break;
            }

            level = upper;
            height++;
        }

        int bestsPerFree = (dbs - DataHeader) / 2;
        for (int first = 0, j = 0; first < blocks.Count; first += bestsPerFree, j++)
        {
            int n = Math.Min(bestsPerFree, blocks.Count - first);
            byte[] free = new byte[dbs];
            BinaryPrimitives.WriteUInt32BigEndian(free, FreeMagic);
            BinaryPrimitives.WriteInt32BigEndian(free.AsSpan(48), first);
            BinaryPrimitives.WriteInt32BigEndian(free.AsSpan(52), n);
            BinaryPrimitives.WriteInt32BigEndian(free.AsSpan(56), n);
            for (int i = 0; i < n; i++)
            {
                BinaryPrimitives.WriteUInt16BigEndian(free.AsSpan(DataHeader + (i * 2)), (ushort)bests[first + i]);
            }

            result.Blocks.Add(new XfsMetadataBlock(freeFsb + ((long)j * dirFsbs), free, XfsHeaderKind.Directory));
        }

        return result;
    }

    private static bool NeedsI8(ulong parent, IReadOnlyList<XfsDirectoryEntryToWrite> entries)
    {
        if (parent > uint.MaxValue)
        {
            return true;
        }

        foreach (XfsDirectoryEntryToWrite e in entries)
        {
            if (e.Inode > uint.MaxValue)
            {
                return true;
            }
        }

        return false;
    }

    private static byte[] Shortform(ulong parent, IReadOnlyList<XfsDirectoryEntryToWrite> entries, int size)
    {
        bool i8 = NeedsI8(parent, entries);
        byte[] sf = new byte[size];
        sf[0] = (byte)(i8 ? 0 : entries.Count);
        sf[1] = (byte)(i8 ? entries.Count : 0);
        int p = WriteIno(sf, 2, parent, i8);
        int offset = 96;
        foreach (XfsDirectoryEntryToWrite e in entries)
        {
            sf[p] = (byte)e.Name.Length;
            BinaryPrimitives.WriteUInt16BigEndian(sf.AsSpan(p + 1), (ushort)offset);
            e.Name.CopyTo(sf, p + 3);
            sf[p + 3 + e.Name.Length] = e.FileType;
            p = WriteIno(sf, p + 4 + e.Name.Length, e.Inode, i8);
            offset += EntrySize(e.Name.Length);
        }

        return sf;
    }

    private static int WriteIno(byte[] b, int at, ulong ino, bool i8)
    {
        if (i8)
        {
            BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(at), ino);
            return at + 8;
        }

        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(at), (uint)ino);
        return at + 4;
    }

    private static int EntrySize(int nameLength) => (12 + nameLength + 7) & ~7;

    private static int WriteEntry(byte[] block, int off, XfsDirectoryEntryToWrite e)
    {
        int size = EntrySize(e.Name.Length);
        Span<byte> s = block.AsSpan(off, size);
        BinaryPrimitives.WriteUInt64BigEndian(s, e.Inode);
        s[8] = (byte)e.Name.Length;
        e.Name.CopyTo(s[9..]);
        s[9 + e.Name.Length] = e.FileType;
        BinaryPrimitives.WriteUInt16BigEndian(s[(size - 2)..], (ushort)off);
        return off + size;
    }

    /// <summary>Writes the data header and the trailing free region of a data block; returns its best free length.</summary>
    private static int FinishData(byte[] block, int end)
    {
        int free = block.Length - end;
        WriteDataHeader(block, DataMagic, end, free);
        return free;
    }

    private static void WriteDataHeader(byte[] block, uint magic, int freeAt, int freeLength)
    {
        BinaryPrimitives.WriteUInt32BigEndian(block, magic);
        if (freeLength >= 8)
        {
            BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(48), (ushort)freeAt);
            BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(50), (ushort)freeLength);
            BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(freeAt), 0xFFFF);
            BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(freeAt + 2), (ushort)freeLength);
            BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(freeAt + freeLength - 2), (ushort)freeAt);
        }
    }

    private static void DaHeaderWrite(byte[] block, ushort magic, long forw, long back)
    {
        BinaryPrimitives.WriteUInt32BigEndian(block, checked((uint)forw));
        BinaryPrimitives.WriteUInt32BigEndian(block.AsSpan(4), checked((uint)back));
        BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(8), magic);
    }

    /// <summary>
    /// How many hash entries from <paramref name="start"/> go into one leafn block: about <paramref name="target"/>, with
    /// the boundary moved off a run of equal hashes (back when it can, else forward), never more than <paramref name="max"/>.
    /// </summary>
    private static int LeafRun(List<(uint Hash, uint Address)> hashes, int start, int target, int max)
    {
        int count = hashes.Count;
        if (start + target >= count)
        {
            if (count - start > max)
            {
                throw new InvalidOperationException("XFS directory leaf blocks overflow.");
            }

            return count - start;
        }

        int n = target;
        while (n > 1 && hashes[start + n - 1].Hash == hashes[start + n].Hash)
        {
            n--;
        }

        if (hashes[start + n - 1].Hash == hashes[start + n].Hash)
        {
            n = target;
            while (n < max && start + n < count && hashes[start + n - 1].Hash == hashes[start + n].Hash)
            {
                n++;
            }
        }

        return n;
    }

    private static void SortLeaf(List<(uint Hash, uint Address)> leaf) =>
        leaf.Sort(static (a, b) => a.Hash != b.Hash ? a.Hash.CompareTo(b.Hash) : a.Address.CompareTo(b.Address));

    private static void WriteLeafEntries(Span<byte> s, List<(uint Hash, uint Address)> leaf)
    {
        for (int i = 0; i < leaf.Count; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(s[(i * 8)..], leaf[i].Hash);
            BinaryPrimitives.WriteUInt32BigEndian(s[((i * 8) + 4)..], leaf[i].Address);
        }
    }
}
