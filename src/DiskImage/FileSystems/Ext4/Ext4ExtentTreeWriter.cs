using System.Buffers;
using System.Buffers.Binary;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Changes extent trees: inserts extents (merging with a neighbour), makes room by splitting nodes or
/// growing the tree in depth, keeps index keys current, and truncates, freeing data and emptied tree blocks.
/// </summary>
internal sealed class Ext4ExtentTreeWriter(Ext4FileSystem fs)
{
    private readonly Ext4FileSystem _fs = fs;

    internal long MapOrAllocateRunCore(Ext4Inode inode, long logical, int maxCount, out int count, Ext4ExtentPaths.ExtentPath path)
    {
        _fs.ExtentPaths.FindExtentPath(inode, logical, path);
        Ext4ExtentPaths.ExtentLevel leafLevel = path[^1];
        Span<byte> leaf = _fs.ExtentPaths.LevelNode(inode, leafLevel);
        int i = leafLevel.Index;
        long goal;
        if (i >= 0)
        {
            (long l, long p, int len, bool unwritten) = _fs.ExtentPaths.CheckedLeafExtent(inode, leaf, i);
            if (logical < l + len)
            {
                if (unwritten)
                {
                    // Make the whole extent written: zero its blocks so its content (zeros) does not change.
                    _fs.CheckNotMetadata(p, len, "zero");
                    _fs.WriteDataZeroes(p, len);
                    Ext4ExtentNode.SetLeafExtent(leaf, i, l, p, len, false);
                    _fs.ExtentPaths.WriteLevel(inode, leafLevel);
                }

                count = (int)Math.Min(maxCount, l + len - logical);
                return p + (logical - l);
            }

            goal = p + (logical - l);
        }
        else if (Ext4ExtentNode.NodeEntries(leaf) > 0)
        {
            (long l, long p, _, _) = Ext4ExtentNode.LeafExtent(leaf, 0);
            goal = Math.Max(_fs.SuperBlock.FirstDataBlock, p - (l - logical));
        }
        else
        {
            goal = _fs.GroupFirstBlock((inode.Number - 1) / _fs.SuperBlock.InodesPerGroup);
        }

        long want = Math.Min(Math.Min(maxCount, Ext4BlockAllocator.MaxInitializedExtentLength), _fs.ExtentPaths.NextMappedLogical(inode, path) - logical);
        long physical = _fs.BlockAllocator.AllocateBlocks(goal, (int)want, out int got);
        try
        {
            InsertExtent(inode, logical, physical, got, path);
        }
        catch
        {
            _fs.BlockAllocator.FreeBlocks(physical, got);
            throw;
        }

        inode.AddBlocks(got, _fs.SuperBlock.BlockSize);
        _fs.WriteInode(inode);
        count = got;
        return physical;
    }

    /// <summary>Inserts a new extent (its blocks just allocated) into the tree, merging with a neighbour when contiguous.</summary>
    private void InsertExtent(Ext4Inode inode, long logical, long physical, int length, Ext4ExtentPaths.ExtentPath path)
    {
        bool restructured = false;
        bool first = true;
        while (true)
        {
            // The caller's path is still valid on the first pass: allocating blocks does not change the tree.
            if (!first)
            {
                _fs.ExtentPaths.FindExtentPath(inode, logical, path);
            }

            first = false;
            Ext4ExtentPaths.ExtentLevel leafLevel = path[^1];
            Span<byte> leaf = _fs.ExtentPaths.LevelNode(inode, leafLevel);
            int i = leafLevel.Index;
            int entries = Ext4ExtentNode.NodeEntries(leaf);
            if (!restructured)
            {
                if (i >= 0)
                {
                    (long l, long p, int len, bool unwritten) = Ext4ExtentNode.LeafExtent(leaf, i);
                    if (!unwritten && l + len == logical && p + len == physical && len + length <= Ext4BlockAllocator.MaxInitializedExtentLength)
                    {
                        Ext4ExtentNode.SetLeafExtent(leaf, i, l, p, len + length, false);
                        _fs.ExtentPaths.WriteLevel(inode, leafLevel);
                        return;
                    }
                }

                if (i + 1 < entries)
                {
                    (long l, long p, int len, bool unwritten) = Ext4ExtentNode.LeafExtent(leaf, i + 1);
                    if (!unwritten && logical + length == l && physical + length == p && len + length <= Ext4BlockAllocator.MaxInitializedExtentLength)
                    {
                        Ext4ExtentNode.SetLeafExtent(leaf, i + 1, logical, physical, len + length, false);
                        _fs.ExtentPaths.WriteLevel(inode, leafLevel);
                        if (i + 1 == 0)
                        {
                            UpdateParentKeys(inode, path, logical);
                        }

                        return;
                    }
                }
            }

            if (entries < Ext4ExtentNode.NodeMax(leaf))
            {
                int pos = i + 1;
                leaf.Slice(12 + (pos * 12), (entries - pos) * 12).CopyTo(leaf[(12 + ((pos + 1) * 12))..]);
                Ext4ExtentNode.SetLeafExtent(leaf, pos, logical, physical, length, false);
                Ext4ExtentNode.SetNodeEntries(leaf, entries + 1);
                _fs.ExtentPaths.WriteLevel(inode, leafLevel);
                if (pos == 0)
                {
                    UpdateParentKeys(inode, path, logical);
                }

                return;
            }

            MakeRoom(inode, path, logical);
            restructured = true;
        }
    }

    /// <summary>After the first key of the deepest node changed, sets the keys that point at it on the way up.</summary>
    private void UpdateParentKeys(Ext4Inode inode, Ext4ExtentPaths.ExtentPath path, long key)
    {
        for (int d = path.Count - 2; d >= 0; d--)
        {
            Ext4ExtentPaths.ExtentLevel level = path[d];
            Span<byte> node = _fs.ExtentPaths.LevelNode(inode, level);
            if (Ext4ExtentNode.EntryKey(node, level.Index) == key)
            {
                return;
            }

            Ext4ExtentNode.SetEntryKey(node, level.Index, key);
            _fs.ExtentPaths.WriteLevel(inode, level);
            if (level.Index != 0)
            {
                return;
            }
        }
    }

    /// <summary>Makes room in the full leaf of <paramref name="path"/>: splits the lowest full nodes below a node with room, or grows the tree by one level.</summary>
    private void MakeRoom(Ext4Inode inode, Ext4ExtentPaths.ExtentPath path, long logical)
    {
        int j = path.Count - 1;
        while (j > 0 && Ext4ExtentNode.NodeEntries(_fs.ExtentPaths.LevelNode(inode, path[j - 1])) >= Ext4ExtentNode.NodeMax(_fs.ExtentPaths.LevelNode(inode, path[j - 1])))
        {
            j--;
        }

        if (j == 0)
        {
            GrowInDepth(inode);
        }
        else
        {
            SplitNode(inode, path, j, logical);
        }
    }

    private void GrowInDepth(Ext4Inode inode)
    {
        Span<byte> root = inode.BlockAreaWritable;
        int depth = Ext4ExtentNode.NodeDepth(root);
        if (depth >= Ext4FileSystem.MaxExtentDepth)
        {
            throw new IOException($"Inode {inode.Number}: the extent tree would exceed depth {Ext4FileSystem.MaxExtentDepth}.");
        }

        int entries = Ext4ExtentNode.NodeEntries(root);
        long goal = entries > 0 && depth == 0 ? Ext4ExtentNode.LeafExtent(root, 0).Physical : _fs.GroupFirstBlock((inode.Number - 1) / _fs.SuperBlock.InodesPerGroup);
        long block = _fs.BlockAllocator.AllocateBlocks(goal, 1, out _);

        // Every node moves one level down: cached levels no longer line up with the tree.
        _fs.ExtentPaths.InvalidateExtentCache();
        byte[] buffer = new byte[_fs.SuperBlock.BlockSize];
        BinaryPrimitives.WriteUInt16LittleEndian(buffer, Ext4FileSystem.ExtentMagic);
        Ext4ExtentNode.SetNodeEntries(buffer, entries);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(4), (ushort)_fs.ExtentPaths.ExtentCapacity);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(6), (ushort)depth);
        root.Slice(12, entries * 12).CopyTo(buffer.AsSpan(12));
        _fs.ExtentPaths.WriteExtentBlock(inode, block, buffer);
        long firstKey = entries > 0 ? Ext4ExtentNode.EntryKey(root, 0) : 0;
        root[12..].Clear();
        Ext4ExtentNode.SetNodeEntries(root, 1);
        BinaryPrimitives.WriteUInt16LittleEndian(root[6..], (ushort)(depth + 1));
        Ext4ExtentNode.SetIndex(root, 0, firstKey, block);
        inode.AddBlocks(1, _fs.SuperBlock.BlockSize);
        _fs.WriteInode(inode);
    }

    /// <summary>Splits the full node at <paramref name="level"/> (not the root; its parent has room) into two blocks.</summary>
    private void SplitNode(Ext4Inode inode, Ext4ExtentPaths.ExtentPath path, int level, long logical)
    {
        Ext4ExtentPaths.ExtentLevel at = path[level];
        byte[] node = at.Buffer!;
        int entries = Ext4ExtentNode.NodeEntries(node);

        // Appending past the last entry moves only that entry, so sequential files fill their nodes.
        int keep = at.Index == entries - 1 && logical > Ext4ExtentNode.EntryKey(node, entries - 1) ? entries - 1 : entries / 2;
        long block = _fs.BlockAllocator.AllocateBlocks(at.Block + 1, 1, out _);
        byte[] buffer = new byte[_fs.SuperBlock.BlockSize];
        BinaryPrimitives.WriteUInt16LittleEndian(buffer, Ext4FileSystem.ExtentMagic);
        Ext4ExtentNode.SetNodeEntries(buffer, entries - keep);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(4), (ushort)_fs.ExtentPaths.ExtentCapacity);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(6), (ushort)Ext4ExtentNode.NodeDepth(node));
        node.AsSpan(12 + (keep * 12), (entries - keep) * 12).CopyTo(buffer.AsSpan(12));
        _fs.ExtentPaths.WriteExtentBlock(inode, block, buffer);
        node.AsSpan(12 + (keep * 12), (entries - keep) * 12).Clear();
        Ext4ExtentNode.SetNodeEntries(node, keep);
        _fs.ExtentPaths.WriteLevel(inode, at);

        Ext4ExtentPaths.ExtentLevel parentLevel = path[level - 1];
        Span<byte> parent = _fs.ExtentPaths.LevelNode(inode, parentLevel);
        int pe = Ext4ExtentNode.NodeEntries(parent);
        int pos = parentLevel.Index + 1;
        parent.Slice(12 + (pos * 12), (pe - pos) * 12).CopyTo(parent[(12 + ((pos + 1) * 12))..]);
        Ext4ExtentNode.SetIndex(parent, pos, Ext4ExtentNode.EntryKey(buffer, 0), block);
        Ext4ExtentNode.SetNodeEntries(parent, pe + 1);
        inode.AddBlocks(1, _fs.SuperBlock.BlockSize);
        _fs.ExtentPaths.WriteLevel(inode, parentLevel);
        if (parentLevel.Buffer is not null)
        {
            _fs.WriteInode(inode);
        }
    }

    /// <summary>Removes everything at or past <paramref name="newBlocks"/> below <paramref name="node"/>; returns the entries left.</summary>
    internal int TruncateExtentNode(Ext4Inode inode, Span<byte> node, int depth, long newBlocks)
    {
        int entries = Ext4ExtentNode.NodeEntries(node);
        long freed = 0;
        if (depth == 0)
        {
            while (entries > 0)
            {
                (long l, long p, int len, bool unwritten) = _fs.ExtentPaths.CheckedLeafExtent(inode, node, entries - 1);
                if (l >= newBlocks)
                {
                    _fs.BlockAllocator.FreeBlocks(p, len);
                    freed += len;
                    entries--;
                    node.Slice(12 + (entries * 12), 12).Clear();
                }
                else
                {
                    if (l + len > newBlocks)
                    {
                        int keep = (int)(newBlocks - l);
                        _fs.BlockAllocator.FreeBlocks(p + keep, len - keep);
                        freed += len - keep;
                        Ext4ExtentNode.SetLeafExtent(node, entries - 1, l, p, keep, unwritten);
                    }

                    break;
                }
            }
        }
        else
        {
            while (entries > 0)
            {
                long key = Ext4ExtentNode.EntryKey(node, entries - 1);
                long child = Ext4ExtentNode.IndexChild(node, entries - 1);
                if (key >= newBlocks)
                {
                    freed += FreeExtentSubtree(inode, child, depth - 1);
                    entries--;
                    node.Slice(12 + (entries * 12), 12).Clear();
                    continue;
                }

                byte[] buffer = _fs.ExtentPaths.ReadExtentBlock(inode, child, depth - 1);
                int left = TruncateExtentNode(inode, buffer, depth - 1, newBlocks);
                if (left == 0)
                {
                    _fs.BlockAllocator.FreeBlocks(child, 1);
                    freed++;
                    entries--;
                    node.Slice(12 + (entries * 12), 12).Clear();
                    continue;
                }

                _fs.ExtentPaths.WriteExtentBlock(inode, child, buffer);
                break;
            }
        }

        Ext4ExtentNode.SetNodeEntries(node, entries);
        inode.AddBlocks(-freed, _fs.SuperBlock.BlockSize);
        return entries;
    }

    /// <summary>Frees a whole subtree (its data and node blocks); returns the number of blocks freed.</summary>
    private long FreeExtentSubtree(Ext4Inode inode, long block, int depth)
    {
        byte[] node = _fs.ExtentPaths.ReadExtentBlock(inode, block, depth);
        long freed = 0;
        int entries = Ext4ExtentNode.NodeEntries(node);
        for (int i = 0; i < entries; i++)
        {
            if (depth == 0)
            {
                (_, long p, int len, _) = Ext4ExtentNode.LeafExtent(node, i);
                _fs.BlockAllocator.FreeBlocks(p, len);
                freed += len;
            }
            else
            {
                freed += FreeExtentSubtree(inode, Ext4ExtentNode.IndexChild(node, i), depth - 1);
            }
        }

        _fs.BlockAllocator.FreeBlocks(block, 1);
        return freed + 1;
    }
}
