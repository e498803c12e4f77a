using System.Buffers.Binary;
using System.Numerics;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Allocates and frees blocks: loads (or, for BLOCK_UNINIT groups, computes) block bitmaps and keeps the
/// bitmaps, group free counts and the superblock free count in step.
/// </summary>
internal sealed class Ext4BlockAllocator(Ext4FileSystem fs)
{
    private readonly Ext4FileSystem _fs = fs;

    internal const int MaxInitializedExtentLength = 32768;

    // ---- bitmaps --------------------------------------------------------------------------------

    internal byte[] BlockBitmap(uint group)
    {
        if (_fs._blockBitmaps[group] is { } cached)
        {
            return cached;
        }

        int bs = _fs.SuperBlock.BlockSize;
        byte[] bitmap = new byte[bs];
        bool fromDisk = !(_fs.HasUninitGroups && (_fs.GroupFlags(group) & Ext4FileSystem.BgBlockUninit) != 0);
        if (!fromDisk)
        {
            ComputeUninitBlockBitmap(group, bitmap);
        }
        else
        {
            long at = _fs.GroupBlockBitmap(group);
            if (at < _fs.SuperBlock.FirstDataBlock || at >= _fs.SuperBlock.BlocksCount)
            {
                FormatError.Throw("ext4 group descriptor", -1, $"group {group}: block bitmap at block {at} lies outside the file system.");
            }

            _fs.Device.ReadExactly(at * bs, bitmap);
        }

        _fs.CheckBlockBitmap(group, bitmap, fromDisk);

        // Bits past the end of a short last group stay set.
        int n = _fs.BlocksInGroup(group);
        Ext4Bitmap.SetBits(bitmap, n, (8 * bs) - n, true);
        _fs._blockBitmaps[group] = bitmap;
        return bitmap;
    }

    /// <summary>The block bitmap of a BLOCK_UNINIT group: its superblock/descriptor copies and any group's metadata that lies in it.</summary>
    private void ComputeUninitBlockBitmap(uint group, byte[] bitmap)
    {
        if (_fs.TryMarkGroupMetadata(group, bitmap))
        {
            return;
        }

        long first = _fs.GroupFirstBlock(group);
        int n = _fs.BlocksInGroup(group);
        int overhead = _fs.GroupSuperblockOverhead(group);
        Ext4Bitmap.SetBits(bitmap, 0, Math.Min(overhead, n), true);
        int itableBlocks = (int)((((long)_fs.SuperBlock.InodesPerGroup * _fs.SuperBlock.InodeSize) + _fs.SuperBlock.BlockSize - 1) / _fs.SuperBlock.BlockSize);
        for (uint g = 0; g < _fs.SuperBlock.GroupCount; g++)
        {
            MarkIfInside(bitmap, first, n, _fs.GroupBlockBitmap(g), 1);
            MarkIfInside(bitmap, first, n, _fs.GroupInodeBitmap(g), 1);
            MarkIfInside(bitmap, first, n, _fs.GroupInodeTable(g), itableBlocks);
        }

        static void MarkIfInside(byte[] bitmap, long first, int n, long start, int count)
        {
            long from = Math.Max(start, first);
            long to = Math.Min(start + count, first + n);
            if (from < to)
            {
                Ext4Bitmap.SetBits(bitmap, (int)(from - first), (int)(to - from), true);
            }
        }
    }

    /// <summary>
    /// Allocates a contiguous run of 1..<paramref name="count"/> blocks, the first free one at or after
    /// <paramref name="goal"/> (wrapping around). Clears BLOCK_UNINIT, updates bitmaps and counters.
    /// </summary>
    /// <exception cref="IOException">No free block is left.</exception>
    internal long AllocateBlocks(long goal, int count, out int allocated)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        _fs.EnsureWritable();
        if (goal < _fs.SuperBlock.FirstDataBlock || goal >= _fs.SuperBlock.BlocksCount)
        {
            goal = _fs.SuperBlock.FirstDataBlock;
        }

        uint groups = _fs.SuperBlock.GroupCount;
        uint startGroup = _fs.GroupOfBlock(goal);
        int startBit = (int)((goal - _fs.SuperBlock.FirstDataBlock) % _fs.SuperBlock.BlocksPerGroup);

        // Blocks freed by the running transaction are reused only when nothing else is left: until its commit they
        // still belong to their old owner on the device, and data written to them in place would change that owner.
        for (int pass = 0; pass < 2; pass++)
        {
            for (uint i = 0; i <= groups; i++)
            {
                uint g = (startGroup + i) % groups;
                if (_fs.GroupFreeBlocks(g) == 0)
                {
                    continue;
                }

                byte[] bitmap = BlockBitmap(g);
                byte[]? freed = pass == 0 ? _fs._freedInTransaction[g] : null;
                int n = _fs.BlocksInGroup(g);
                int bit = Ext4Bitmap.FindBit(bitmap, i == 0 ? startBit : 0, n, false);
                while (bit >= 0 && freed is not null && Ext4Bitmap.TestBit(freed, bit))
                {
                    int past = Ext4Bitmap.FindBit(freed, bit, n, false);
                    bit = past < 0 ? -1 : Ext4Bitmap.FindBit(bitmap, past, n, false);
                }

                if (bit < 0)
                {
                    continue;
                }

                int limit = Math.Min(n, bit + count);
                int end = Ext4Bitmap.FindBit(bitmap, bit, limit, true);
                if (freed is not null)
                {
                    int f = Ext4Bitmap.FindBit(freed, bit, end < 0 ? limit : end, true);
                    if (f >= 0)
                    {
                        end = f;
                    }
                }

                int run = (end < 0 ? limit : end) - bit;
                long first = _fs.GroupFirstBlock(g) + bit;
                _fs.CheckNotMetadata(first, run, "allocate");
                if (pass == 1 && _fs.AnyFreedInTransaction(first, run))
                {
                    _fs._reusedFreedBlocks = true;
                }

                MarkBlocks(g, bitmap, bit, run, used: true);
                allocated = run;
                return first;
            }
        }

        throw new IOException("No space left on the ext4 file system.");
    }

    /// <summary>Frees <paramref name="count"/> blocks from <paramref name="start"/> (they may span groups).</summary>
    /// <exception cref="InvalidDataException">A block is outside the file system or already free.</exception>
    internal void FreeBlocks(long start, long count)
    {
        _fs.EnsureWritable();
        if (count <= 0)
        {
            return;
        }

        if (start < _fs.SuperBlock.FirstDataBlock || start > _fs.SuperBlock.BlocksCount - count)
        {
            FormatError.Throw("ext4 block bitmap", -1, $"cannot free blocks {start}+{count}: outside the file system.");
        }

        _fs.CheckNotMetadata(start, count, "free");

        while (count > 0)
        {
            uint g = _fs.GroupOfBlock(start);
            int bit = (int)((start - _fs.SuperBlock.FirstDataBlock) % _fs.SuperBlock.BlocksPerGroup);
            int run = (int)Math.Min(count, _fs.BlocksInGroup(g) - bit);
            byte[] bitmap = BlockBitmap(g);
            if (Ext4Bitmap.FindBit(bitmap, bit, bit + run, false) >= 0)
            {
                FormatError.Throw("ext4 block bitmap", -1, $"group {g}: freeing blocks {start}+{run} that are already free (the file system is corrupt).");
            }

            MarkBlocks(g, bitmap, bit, run, used: false);
            Ext4Bitmap.SetBits(_fs._freedInTransaction[g] ??= new byte[_fs.SuperBlock.BlockSize], bit, run, true);
            start += run;
            count -= run;
        }
    }

    private void MarkBlocks(uint group, byte[] bitmap, int bit, int count, bool used)
    {
        Ext4Bitmap.SetBits(bitmap, bit, count, used);
        _fs._blockBitmapDirty[group] = true;
        ushort flags = _fs.GroupFlags(group);
        if ((flags & Ext4FileSystem.BgBlockUninit) != 0)
        {
            _fs.SetGroupFlags(group, (ushort)(flags & ~Ext4FileSystem.BgBlockUninit));
        }

        uint free = _fs.GroupFreeBlocks(group);
        if (used && free < (uint)count)
        {
            FormatError.Throw("ext4 group descriptor", -1, $"group {group}: the free block count {free} disagrees with the bitmap.");
        }

        _fs.SetDescriptorCount(group, 0x0C, 0x2C, used ? free - (uint)count : free + (uint)count);
    }
}
