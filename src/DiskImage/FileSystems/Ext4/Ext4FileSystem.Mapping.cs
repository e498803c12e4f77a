using System.Buffers;
using System.Buffers.Binary;

namespace DiskImage.FileSystems.Ext4;

// Maps file blocks to device blocks: extent trees and the legacy direct/indirect block maps.
public sealed partial class Ext4FileSystem
{
    internal const ushort ExtentMagic = 0xF30A;
    internal const int MaxExtentDepth = 5;

    /// <summary>Returns the extents of <paramref name="inode"/>'s data, sorted by logical block, within its size.</summary>
    internal List<Ext4Extent> MapFile(Ext4Inode inode)
    {
        long sizeBlocks = (inode.Size + _sb.BlockSize - 1) / _sb.BlockSize;
        var result = new List<Ext4Extent>();
        if (inode.HasExtents)
        {
            var visited = new HashSet<long>();
            byte[] rootCopy = inode.BlockArea.ToArray();
            WalkExtentNode(inode, rootCopy, expectedDepth: -1, 0, uint.MaxValue + 1L, visited, result);
        }
        else
        {
            if ((_sb.ReadOnlyCompatible & Ext4ReadOnlyCompatibleFeatures.BigAlloc) != 0)
            {
                FormatError.Throw("ext4 inode", -1, $"inode {inode.Number}: block maps are not allowed with bigalloc.");
            }

            MapBlockMap(inode, sizeBlocks, result);
        }

        return result;
    }

    private void WalkExtentNode(Ext4Inode inode, ReadOnlySpan<byte> node, int expectedDepth, long rangeStart, long rangeEnd, HashSet<long> visited, List<Ext4Extent> result)
    {
        const string S = "ext4 extent tree";
        if (BinaryPrimitives.ReadUInt16LittleEndian(node) != ExtentMagic)
        {
            FormatError.Throw(S, -1, $"inode {inode.Number}: bad extent header magic.");
        }

        int entries = BinaryPrimitives.ReadUInt16LittleEndian(node[2..]);
        int max = BinaryPrimitives.ReadUInt16LittleEndian(node[4..]);
        int depth = BinaryPrimitives.ReadUInt16LittleEndian(node[6..]);
        int capacity = (node.Length - 12) / 12;
        if (max == 0 || max > capacity || entries > max)
        {
            FormatError.Throw(S, -1, $"inode {inode.Number}: extent node has {entries} of {max} entries (capacity {capacity}).");
        }

        if (depth > MaxExtentDepth || (expectedDepth >= 0 && depth != expectedDepth))
        {
            FormatError.Throw(S, -1, $"inode {inode.Number}: extent node depth {depth} is wrong (expected {(expectedDepth >= 0 ? expectedDepth : MaxExtentDepth)} at most).");
        }

        long previousEnd = rangeStart;
        for (int i = 0; i < entries; i++)
        {
            ReadOnlySpan<byte> e = node.Slice(12 + (i * 12), 12);
            long logical = BinaryPrimitives.ReadUInt32LittleEndian(e);
            if (logical < previousEnd || logical >= rangeEnd)
            {
                FormatError.Throw(S, -1, $"inode {inode.Number}: extent entries are not sorted or leave their parent's range.");
            }

            if (depth == 0)
            {
                int len = BinaryPrimitives.ReadUInt16LittleEndian(e[4..]);
                bool unwritten = len > 32768;
                if (unwritten)
                {
                    len -= 32768;
                }

                long physical = BinaryPrimitives.ReadUInt32LittleEndian(e[8..]) | ((long)BinaryPrimitives.ReadUInt16LittleEndian(e[6..]) << 32);
                if (len == 0 || logical + len > rangeEnd || physical < _sb.FirstDataBlock || physical > _sb.BlocksCount - len)
                {
                    FormatError.Throw(S, -1, $"inode {inode.Number}: extent ({logical}, {physical}, {len}) lies outside the file system.");
                }

                result.Add(new Ext4Extent(logical, physical, len, unwritten));
                previousEnd = logical + len;
            }
            else
            {
                long child = BinaryPrimitives.ReadUInt32LittleEndian(e[4..]) | ((long)BinaryPrimitives.ReadUInt16LittleEndian(e[8..]) << 32);
                long nextStart = i + 1 < entries ? BinaryPrimitives.ReadUInt32LittleEndian(node[(12 + ((i + 1) * 12))..]) : rangeEnd;
                if (child < _sb.FirstDataBlock || child >= _sb.BlocksCount)
                {
                    FormatError.Throw(S, -1, $"inode {inode.Number}: extent index points to block {child} outside the file system.");
                }

                if (!visited.Add(child))
                {
                    FormatError.Throw(S, -1, $"inode {inode.Number}: extent tree block {child} is referenced twice (cycle).");
                }

                byte[] buffer = ArrayPool<byte>.Shared.Rent(_sb.BlockSize);
                try
                {
                    Span<byte> block = buffer.AsSpan(0, _sb.BlockSize);
                    _device.ReadExactly(child * _sb.BlockSize, block);
                    VerifyExtentBlock(inode, block, child);
                    WalkExtentNode(inode, block, depth - 1, logical, Math.Min(nextStart, rangeEnd), visited, result);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }

                previousEnd = logical + 1;
            }
        }
    }

    internal void VerifyExtentBlock(Ext4Inode inode, ReadOnlySpan<byte> block, long blockNumber)
    {
        if (!_sb.HasMetadataChecksum || !VerifyChecksums)
        {
            return;
        }

        int max = BinaryPrimitives.ReadUInt16LittleEndian(block[4..]);
        int tail = 12 + (max * 12);
        if (tail + 4 > block.Length)
        {
            FormatError.Throw("ext4 extent block", blockNumber * _sb.BlockSize, $"inode {inode.Number}: no room for the checksum tail.");
        }

        uint c = Ext4Checksum.Crc32C(InodeSeed(inode.Number, inode.Generation), block[..tail]);
        if (c != BinaryPrimitives.ReadUInt32LittleEndian(block[tail..]))
        {
            FormatError.Throw("ext4 extent block", blockNumber * _sb.BlockSize, $"inode {inode.Number}: checksum mismatch.");
        }
    }

    private void MapBlockMap(Ext4Inode inode, long sizeBlocks, List<Ext4Extent> result)
    {
        int perBlock = _sb.BlockSize / 4;
        long limit = 12 + (long)perBlock + ((long)perBlock * perBlock) + ((long)perBlock * perBlock * perBlock);
        if (sizeBlocks > limit)
        {
            FormatError.Throw("ext4 block map", -1, $"inode {inode.Number}: size {inode.Size} exceeds what a block map can address.");
        }

        ReadOnlySpan<byte> area = inode.BlockArea;
        var visited = new HashSet<long>();
        for (int i = 0; i < 12 && i < sizeBlocks; i++)
        {
            AddMapped(inode, result, i, BinaryPrimitives.ReadUInt32LittleEndian(area[(i * 4)..]));
        }

        long start = 12;
        long span = 1;
        for (int level = 1; level <= 3 && start < sizeBlocks; level++)
        {
            span *= perBlock;
            uint root = BinaryPrimitives.ReadUInt32LittleEndian(area[((11 + level) * 4)..]);
            if (root != 0)
            {
                WalkIndirect(inode, root, level, start, sizeBlocks, visited, result);
            }

            start += span;
        }
    }

    private void WalkIndirect(Ext4Inode inode, uint block, int level, long logicalStart, long sizeBlocks, HashSet<long> visited, List<Ext4Extent> result)
    {
        if (block < _sb.FirstDataBlock || block >= _sb.BlocksCount)
        {
            FormatError.Throw("ext4 block map", -1, $"inode {inode.Number}: indirect block {block} lies outside the file system.");
        }

        if (!visited.Add(block))
        {
            FormatError.Throw("ext4 block map", -1, $"inode {inode.Number}: indirect block {block} is referenced twice (cycle).");
        }

        int perBlock = _sb.BlockSize / 4;
        long childSpan = 1;
        for (int i = 1; i < level; i++)
        {
            childSpan *= perBlock;
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(_sb.BlockSize);
        try
        {
            _device.ReadExactly((long)block * _sb.BlockSize, buffer.AsSpan(0, _sb.BlockSize));
            for (int i = 0; i < perBlock; i++)
            {
                long logical = logicalStart + (i * childSpan);
                if (logical >= sizeBlocks)
                {
                    break;
                }

                uint entry = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(i * 4));
                if (entry == 0)
                {
                    continue;
                }

                if (level == 1)
                {
                    AddMapped(inode, result, logical, entry);
                }
                else
                {
                    WalkIndirect(inode, entry, level - 1, logical, sizeBlocks, visited, result);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void AddMapped(Ext4Inode inode, List<Ext4Extent> result, long logical, uint physical)
    {
        if (physical == 0)
        {
            return;
        }

        if (physical < _sb.FirstDataBlock || physical >= _sb.BlocksCount)
        {
            FormatError.Throw("ext4 block map", -1, $"inode {inode.Number}: data block {physical} lies outside the file system.");
        }

        if (result.Count > 0)
        {
            Ext4Extent last = result[^1];
            if (last.Logical + last.Length == logical && last.Physical + last.Length == physical && last.Length < int.MaxValue)
            {
                result[^1] = last with { Length = last.Length + 1 };
                return;
            }
        }

        result.Add(new Ext4Extent(logical, physical, 1, false));
    }

    /// <summary>Opens the content of a regular file, directory or slow symlink as a read-only stream.</summary>
    internal Stream OpenContent(Ext4Inode inode)
    {
        if ((inode.Flags & Ext4Inode.EncryptFlag) != 0)
        {
            FormatError.Unsupported($"Inode {inode.Number} is encrypted.");
        }

        if (inode.HasInlineData)
        {
            return new MemoryStream(ReadInlineData(inode), writable: false);
        }

        return new Ext4FileStream(_device, _sb.BlockSize, inode.Size, MapFile(inode), _sync);
    }

    /// <summary>Reads the whole content of a small object (symlink target, inline data).</summary>
    private byte[] ReadInlineData(Ext4Inode inode)
    {
        if (inode.Size > 60 + _sb.InodeSize)
        {
            FormatError.Throw("ext4 inline data", -1, $"inode {inode.Number}: inline size {inode.Size} is too large.");
        }

        byte[] data = new byte[inode.Size];
        int first = (int)Math.Min(inode.Size, 60);
        inode.BlockArea[..first].CopyTo(data);
        if (inode.Size > 60)
        {
            byte[]? more = null;
            foreach (Ext4Xattr x in ReadInodeXattrs(inode))
            {
                if (x.Index == 7 && x.Name == "data")
                {
                    more = x.Value;
                }
            }

            if (more is null || more.Length < inode.Size - 60)
            {
                FormatError.Throw("ext4 inline data", -1, $"inode {inode.Number}: the system.data attribute is missing or shorter than the file.");
            }

            more.AsSpan(0, (int)(inode.Size - 60)).CopyTo(data.AsSpan(60));
        }

        return data;
    }

    private string ReadLinkTarget(Ext4Node node)
    {
        Ext4Inode inode = node.Inode;
        if (inode.Size is <= 0 or > 4096)
        {
            FormatError.Throw("ext4 symbolic link", -1, $"inode {inode.Number}: target length {inode.Size} is out of range.");
        }

        byte[] target;
        long xattrBlockSectors = inode.FileAcl != 0 ? _sb.BlockSize / 512 : 0;
        if (inode.HasInlineData)
        {
            target = ReadInlineData(inode);
        }
        else if (!inode.HasExtents && inode.Size < 60 && inode.BlocksLow - xattrBlockSectors == 0)
        {
            target = inode.BlockArea[..(int)inode.Size].ToArray();
        }
        else
        {
            target = new byte[inode.Size];
            using Stream s = OpenContent(inode);
            s.ReadExactly(target);
        }

        return UnixPathEncoding.GetString(target);
    }
}
