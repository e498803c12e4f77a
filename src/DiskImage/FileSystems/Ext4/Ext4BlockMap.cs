using System.Buffers;
using System.Buffers.Binary;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Maps, allocates and truncates the direct/indirect block maps of ext2/ext3 files (i_block[0..14]):
/// lookups, allocation of data and indirect blocks, and truncation that frees emptied indirect blocks.
/// </summary>
internal sealed class Ext4BlockMap(Ext4FileSystem fs)
{
    private readonly Ext4FileSystem _fs = fs;

    // ---- block maps (ext2/ext3) -----------------------------------------------------------------

    internal long MapBlockMapRun(Ext4Inode inode, long logical, long maxCount, out long count)
    {
        long physical = BlockMapLookup(inode, logical);
        count = 1;
        if (physical < 0)
        {
            // Report a one-block hole; callers step block by block through block-mapped holes.
            return -1;
        }

        while (count < maxCount && count < 1024)
        {
            long next = BlockMapLookup(inode, logical + count);
            if (next != physical + count)
            {
                break;
            }

            count++;
        }

        return physical;
    }

    /// <summary>The block-map entry for <paramref name="logical"/> (-1 when it is a hole).</summary>
    private long BlockMapLookup(Ext4Inode inode, long logical)
    {
        int perBlock = _fs.SuperBlock.BlockSize / 4;
        ReadOnlySpan<byte> area = inode.BlockArea;
        if (logical < 12)
        {
            uint direct = BinaryPrimitives.ReadUInt32LittleEndian(area[((int)logical * 4)..]);
            return direct == 0 ? -1 : CheckMapped(inode, direct);
        }

        long rel = logical - 12;
        long span = perBlock;
        for (int level = 1; level <= 3; level++)
        {
            if (rel < span)
            {
                uint block = BinaryPrimitives.ReadUInt32LittleEndian(area[((11 + level) * 4)..]);
                long childSpan = span / perBlock;
                byte[] buffer = ArrayPool<byte>.Shared.Rent(_fs.SuperBlock.BlockSize);
                try
                {
                    for (int l = level; l >= 1; l--)
                    {
                        if (block == 0)
                        {
                            return -1;
                        }

                        CheckMapped(inode, block);
                        _fs.Device.ReadExactly((long)block * _fs.SuperBlock.BlockSize, buffer.AsSpan(0, _fs.SuperBlock.BlockSize));
                        long index = rel / childSpan;
                        rel %= childSpan;
                        childSpan /= perBlock;
                        block = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan((int)index * 4));
                        if (childSpan == 0)
                        {
                            childSpan = 1;
                        }
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }

                return block == 0 ? -1 : CheckMapped(inode, block);
            }

            rel -= span;
            span *= perBlock;
        }

        return -1;
    }

    private long CheckMapped(Ext4Inode inode, long block)
    {
        if (block < _fs.SuperBlock.FirstDataBlock || block >= _fs.SuperBlock.BlocksCount)
        {
            FormatError.Throw("ext4 block map", -1, $"inode {inode.Number}: block {block} lies outside the file system.");
        }

        return block;
    }

    /// <summary>The number of file blocks a block map (12 direct, single, double and triple indirect) can address.</summary>
    internal long BlockMapCapacity
    {
        get
        {
            long p = _fs.SuperBlock.BlockSize / 4;
            return Math.Min(12 + p + (p * p) + (p * p * p), Ext4FileSystem.MaxLogicalBlocks - 1);
        }
    }

    /// <summary>Maps or allocates one block of a block-mapped (ext2/ext3) file, allocating indirect blocks on the way.</summary>
    internal long MapOrAllocateBlockMap(Ext4Inode inode, long logical, out int count)
    {
        count = 1;
        long existing = BlockMapLookup(inode, logical);
        if (existing >= 0)
        {
            return existing;
        }

        if (logical >= BlockMapCapacity)
        {
            throw new IOException($"Inode {inode.Number}: file block {logical} is beyond what a block map can address.");
        }

        long previous = logical > 0 ? BlockMapLookup(inode, logical - 1) : -1;
        long goal = previous >= 0 ? previous + 1 : _fs.GroupFirstBlock((inode.Number - 1) / _fs.SuperBlock.InodesPerGroup);
        Span<byte> area = inode.BlockAreaWritable;
        long data;
        if (logical < 12)
        {
            data = _fs.BlockAllocator.AllocateBlocks(goal, 1, out _);
            BinaryPrimitives.WriteUInt32LittleEndian(area[((int)logical * 4)..], (uint)data);
            inode.AddBlocks(1, _fs.SuperBlock.BlockSize);
            _fs.WriteInode(inode);
            return data;
        }

        int perBlock = _fs.SuperBlock.BlockSize / 4;
        long rel = logical - 12;
        long span = perBlock;
        int level = 1;
        while (rel >= span)
        {
            rel -= span;
            span *= perBlock;
            level++;
        }

        int slot = (11 + level) * 4;
        long block = BinaryPrimitives.ReadUInt32LittleEndian(area[slot..]);
        long added = 0;
        if (block == 0)
        {
            block = _fs.AllocateZeroedBlock(goal);
            goal = block + 1;
            BinaryPrimitives.WriteUInt32LittleEndian(area[slot..], (uint)block);
            added++;
        }

        byte[] buffer = new byte[_fs.SuperBlock.BlockSize];
        long childSpan = span / perBlock;
        for (int l = level; l >= 1; l--)
        {
            CheckMapped(inode, block);
            _fs.Device.ReadExactly(block * _fs.SuperBlock.BlockSize, buffer);
            int index = (int)(rel / childSpan);
            rel %= childSpan;
            long child = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(index * 4));
            if (child == 0)
            {
                child = l == 1 ? _fs.BlockAllocator.AllocateBlocks(goal, 1, out _) : _fs.AllocateZeroedBlock(goal);
                goal = child + 1;
                BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(index * 4), (uint)child);
                _fs.WriteFsBlock(block, buffer);
                added++;
            }

            block = child;
            childSpan = Math.Max(1, childSpan / perBlock);
        }

        inode.AddBlocks(added, _fs.SuperBlock.BlockSize);
        _fs.WriteInode(inode);
        return block;
    }

    /// <summary>Frees the blocks of a block-mapped file at or past <paramref name="newBlocks"/>, and indirect blocks left empty.</summary>
    internal void TruncateBlockMap(Ext4Inode inode, long newBlocks)
    {
        Span<byte> area = inode.BlockAreaWritable;
        long freed = 0;
        for (int i = 0; i < 12; i++)
        {
            uint b = BinaryPrimitives.ReadUInt32LittleEndian(area[(i * 4)..]);
            if (i >= newBlocks && b != 0)
            {
                _fs.BlockAllocator.FreeBlocks(CheckMapped(inode, b), 1);
                freed++;
                BinaryPrimitives.WriteUInt32LittleEndian(area[(i * 4)..], 0);
            }
        }

        int perBlock = _fs.SuperBlock.BlockSize / 4;
        long start = 12;
        long span = perBlock;
        for (int level = 1; level <= 3; level++)
        {
            uint root = BinaryPrimitives.ReadUInt32LittleEndian(area[((11 + level) * 4)..]);
            if (root != 0 && start + span > newBlocks && TruncateIndirect(inode, root, level, start, span, newBlocks, ref freed))
            {
                BinaryPrimitives.WriteUInt32LittleEndian(area[((11 + level) * 4)..], 0);
            }

            start += span;
            span *= perBlock;
        }

        inode.AddBlocks(-freed, _fs.SuperBlock.BlockSize);
    }

    /// <summary>Truncates below one indirect block covering [start, start+span); returns true when it became empty and was freed.</summary>
    private bool TruncateIndirect(Ext4Inode inode, uint block, int level, long start, long span, long newBlocks, ref long freed)
    {
        CheckMapped(inode, block);
        int perBlock = _fs.SuperBlock.BlockSize / 4;
        long childSpan = span / perBlock;
        byte[] buffer = new byte[_fs.SuperBlock.BlockSize];
        _fs.Device.ReadExactly((long)block * _fs.SuperBlock.BlockSize, buffer);
        bool changed = false;
        bool empty = true;
        for (int i = 0; i < perBlock; i++)
        {
            uint entry = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(i * 4));
            if (entry == 0)
            {
                continue;
            }

            long childStart = start + (i * childSpan);
            if (childStart + childSpan <= newBlocks)
            {
                empty = false;
                continue;
            }

            bool drop;
            if (level == 1)
            {
                _fs.BlockAllocator.FreeBlocks(CheckMapped(inode, entry), 1);
                freed++;
                drop = true;
            }
            else
            {
                drop = TruncateIndirect(inode, entry, level - 1, childStart, childSpan, newBlocks, ref freed);
            }

            if (drop)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(i * 4), 0);
                changed = true;
            }
            else
            {
                empty = false;
            }
        }

        if (empty)
        {
            _fs.BlockAllocator.FreeBlocks(block, 1);
            freed++;
            return true;
        }

        if (changed)
        {
            _fs.WriteFsBlock(block, buffer);
        }

        return false;
    }
}
