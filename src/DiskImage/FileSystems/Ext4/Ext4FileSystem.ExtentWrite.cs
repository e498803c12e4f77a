using System.Buffers;
using System.Buffers.Binary;

namespace DiskImage.FileSystems.Ext4;

// Writing file block maps: lookups, allocation into extent trees (leaf insertion with merging, node
// splits, growth in depth, index-key maintenance, checksum tails) and truncation that frees data and
// emptied tree blocks; the direct/indirect block maps of ext2/ext3 files likewise.
public sealed partial class Ext4FileSystem
{
    internal const long MaxLogicalBlocks = 1L << 32;

    /// <summary>
    /// The device block of file block <paramref name="logical"/>, or -1 for a hole (unwritten extents count as holes).
    /// </summary>
    internal long MapLogicalBlock(Ext4Inode inode, long logical) => MapLogicalRun(inode, logical, 1, out _);

    /// <summary>
    /// Maps up to <paramref name="maxCount"/> file blocks from <paramref name="logical"/>: returns the device block
    /// of the first and in <paramref name="count"/> how many follow contiguously, or -1 and the length of the hole.
    /// </summary>
    internal long MapLogicalRun(Ext4Inode inode, long logical, long maxCount, out long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(logical);
        count = maxCount;
        if (logical >= MaxLogicalBlocks)
        {
            return -1;
        }

        if (inode.HasInlineData)
        {
            FormatError.Unsupported($"Inode {inode.Number} keeps its data inline; it has no blocks.");
        }

        if (!inode.HasExtents)
        {
            return BlockMaps.MapBlockMapRun(inode, logical, maxCount, out count);
        }

        // A lookup changes nothing, so the path's cached nodes stay current even when a check throws (a level whose
        // read or verification failed is left marked invalid).
        Ext4ExtentPaths.ExtentPath path = ExtentPaths.RentExtentPath();
        try
        {
            ExtentPaths.FindExtentPath(inode, logical, path);
            Ext4ExtentPaths.ExtentLevel leafLevel = path[^1];
            Span<byte> leaf = ExtentPaths.LevelNode(inode, leafLevel);
            int i = leafLevel.Index;
            if (i >= 0)
            {
                (long l, long p, int len, bool unwritten) = ExtentPaths.CheckedLeafExtent(inode, leaf, i);
                if (logical < l + len)
                {
                    count = Math.Min(maxCount, l + len - logical);
                    return unwritten ? -1 : p + (logical - l);
                }
            }

            count = Math.Min(maxCount, ExtentPaths.NextMappedLogical(inode, path) - logical);
            return -1;
        }
        finally
        {
            ExtentPaths.ReturnExtentPath(path);
        }
    }

    /// <summary>
    /// The device block of file block <paramref name="logical"/>, allocating it (and extent-tree blocks) when it is
    /// a hole; i_blocks is updated and the inode written. A new block's content is undefined: callers write it whole.
    /// </summary>
    internal long MapOrAllocateBlock(Ext4Inode inode, long logical) => MapOrAllocateRun(inode, logical, 1, out _);

    /// <summary>
    /// Like <see cref="MapOrAllocateBlock"/> for up to <paramref name="maxCount"/> blocks: returns the first device
    /// block of a contiguous run of <paramref name="count"/> blocks that are either all mapped already or all new.
    /// </summary>
    internal long MapOrAllocateRun(Ext4Inode inode, long logical, int maxCount, out int count)
    {
        EnsureWritable();
        ArgumentOutOfRangeException.ThrowIfNegative(logical);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        if (logical >= MaxLogicalBlocks)
        {
            throw new IOException($"Inode {inode.Number}: file block {logical} is beyond the largest file ext4 can hold.");
        }

        if (inode.HasInlineData)
        {
            FormatError.Unsupported($"Inode {inode.Number} keeps its data inline; writing inline data is not supported.");
        }

        if (!inode.HasExtents)
        {
            return BlockMaps.MapOrAllocateBlockMap(inode, logical, out count);
        }

        Ext4ExtentPaths.ExtentPath path = ExtentPaths.RentExtentPath();
        long result;
        try
        {
            result = ExtentTree.MapOrAllocateRunCore(inode, logical, maxCount, out count, path);
        }
        catch
        {
            // A change may have stopped half-way: the path's buffers may no longer match the device.
            path.Invalidate();
            ExtentPaths.InvalidateExtentCache();
            ExtentPaths.ReturnExtentPath(path);
            throw;
        }

        ExtentPaths.ReturnExtentPath(path);
        return result;
    }

    /// <summary>
    /// Sets the size to <paramref name="newSize"/>: frees the blocks past it and the extent-tree blocks that become
    /// empty, zeroes the rest of a partial last block, updates i_blocks, and writes the inode.
    /// </summary>
    internal void TruncateBlocks(Ext4Inode inode, long newSize)
    {
        EnsureWritable();
        ArgumentOutOfRangeException.ThrowIfNegative(newSize);
        int bs = _sb.BlockSize;
        long oldSize = inode.Size;
        if (inode.HasInlineData)
        {
            FormatError.Unsupported($"Inode {inode.Number} keeps its data inline; changing inline data is not supported.");
        }

        if (HasDataBlocks(inode))
        {
            long newBlocks = (newSize + bs - 1) / bs;
            if (inode.HasExtents)
            {
                // Truncation rewrites and frees tree blocks through its own buffers.
                ExtentPaths.InvalidateExtentCache();
                Span<byte> root = inode.BlockAreaWritable;
                ExtentPaths.CheckNodeHeader(inode, root, -1, isRoot: true);
                int remaining;
                try
                {
                    remaining = ExtentTree.TruncateExtentNode(inode, root, Ext4ExtentNode.NodeDepth(root), newBlocks);
                }
                finally
                {
                    ExtentPaths.InvalidateExtentCache();
                }

                if (remaining == 0)
                {
                    Ext4ExtentNode.InitializeExtentRoot(inode);
                }
            }
            else
            {
                BlockMaps.TruncateBlockMap(inode, newBlocks);
            }

            // Bytes past the end of the file in its last block must read as zeros if it grows again.
            long tailFrom = newSize < oldSize ? newSize : oldSize;
            if (tailFrom % bs != 0 && newSize != oldSize)
            {
                long phys = MapLogicalBlock(inode, tailFrom / bs);
                if (phys >= 0)
                {
                    int inBlock = (int)(tailFrom % bs);
                    CheckNotMetadata(phys, 1, "zero");
                    _device.WriteZeroes((phys * bs) + inBlock, bs - inBlock);
                }
            }
        }

        inode.Size = newSize;
        if (newSize > int.MaxValue && inode.Type == UnixFileType.RegularFile)
        {
            SetReadOnlyCompatibleFeature(Ext4ReadOnlyCompatibleFeatures.LargeFile);
        }

        WriteInode(inode);
    }

    /// <summary>Whether i_block maps blocks (extents or a block map), rather than holding a fast symlink, device number or nothing.</summary>
    internal bool HasDataBlocks(Ext4Inode inode)
    {
        if (inode.HasInlineData)
        {
            return false;
        }

        return inode.Type switch
        {
            UnixFileType.RegularFile or UnixFileType.Directory => true,
            UnixFileType.SymbolicLink => inode.HasExtents || inode.BlocksLow - (inode.FileAcl != 0 ? _sb.BlockSize / 512 : 0) > 0,
            _ => false,
        };
    }

    internal long AllocateZeroedBlock(long goal)
    {
        long block = BlockAllocator.AllocateBlocks(goal, 1, out _);
        CheckNotMetadata(block, 1, "zero");
        _device.WriteZeroes(block * _sb.BlockSize, _sb.BlockSize);
        return block;
    }
}
