using System.Buffers;
using System.Buffers.Binary;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Writing file block maps: lookups, allocation into extent trees (leaf insertion with merging, node
/// splits, growth in depth, index-key maintenance, checksum tails) and truncation that frees data and
/// emptied tree blocks; the direct/indirect block maps of ext2/ext3 files likewise.
/// </summary>
public sealed partial class Ext4FileSystem
{
    private const long MaxLogicalBlocks = 1L << 32;

    /// <summary>How many verified extent-tree blocks the reusable path keeps.</summary>
    private const int ExtentCacheSlots = 8;

    /// <summary>
    /// The file system's reusable lookup path, taken by one lookup at a time. Besides the path itself it keeps the
    /// verified contents of the last few extent-tree blocks it read, so repeated lookups through them read nothing.
    /// </summary>
    private readonly ExtentPath _sharedExtentPath = new(shared: true);

    /// <summary>1 while a lookup uses <see cref="_sharedExtentPath"/>.</summary>
    private int _sharedExtentPathBusy;

    /// <summary>
    /// Bumped whenever a cached extent-tree node may no longer match the device (a node written from another buffer,
    /// tree growth, truncation, a failed change, data written over a cached block); cached levels of older epochs are
    /// read and verified again.
    /// </summary>
    private long _extentCacheEpoch;

    /// <summary>One node on the way from the root (in the inode) to a leaf.</summary>
    private sealed class ExtentLevel
    {
        /// <summary>The node's block, or null for the root in <c>i_block</c>.</summary>
        public byte[]? Buffer;

        /// <summary>The node's block number (-1 for the root).</summary>
        public long Block = -1;

        /// <summary>The entry followed (index nodes) or the last entry starting at or before the target (leaves; -1 when none).</summary>
        public int Index;

        /// <summary>The inode whose tree the buffer was verified for (the checksum seed depends on it).</summary>
        public uint OwnerInode;

        /// <summary>The generation of <see cref="OwnerInode"/> when verified.</summary>
        public uint OwnerGeneration;

        /// <summary>The node depth the buffer was verified at.</summary>
        public int NodeDepth = -1;

        /// <summary>The cache epoch in which the buffer was known to match the device (-1: not valid).</summary>
        public long Epoch = -1;

        /// <summary>Whether the level belongs to the file system's reusable path (whose cached copies its own writes keep current).</summary>
        public bool Shared;
    }

    /// <summary>The levels from the root (index 0) to a leaf; at most <see cref="MaxExtentDepth"/> + 1 of them.</summary>
    private sealed class ExtentPath(bool shared)
    {
        public readonly ExtentLevel[] Levels = CreateLevels(shared, MaxExtentDepth + 1);

        public readonly bool Shared = shared;

        /// <summary>Cached verified blocks (shared path only); the levels' buffers point into them.</summary>
        public readonly ExtentLevel[]? Slots = shared ? CreateLevels(true, ExtentCacheSlots) : null;

        /// <summary>The slot the next block read replaces (round robin: a lookup reads fewer blocks than there are slots).</summary>
        public int NextSlot;

        public int Count { get; set; }

        public ExtentLevel this[int index] => Levels[index];

        private static ExtentLevel[] CreateLevels(bool shared, int count)
        {
            var levels = new ExtentLevel[count];
            for (int i = 0; i < levels.Length; i++)
            {
                levels[i] = new ExtentLevel { Shared = shared };
            }

            return levels;
        }

        /// <summary>Forgets every cached block.</summary>
        public void Invalidate()
        {
            foreach (ExtentLevel level in Levels)
            {
                level.Epoch = -1;
            }

            if (Slots is not null)
            {
                foreach (ExtentLevel slot in Slots)
                {
                    slot.Epoch = -1;
                }
            }
        }
    }

    /// <summary>Takes the reusable lookup path (or a new one when it is in use).</summary>
    private ExtentPath RentExtentPath() =>
        Interlocked.Exchange(ref _sharedExtentPathBusy, 1) == 0 ? _sharedExtentPath : new ExtentPath(shared: false);

    /// <summary>Gives the reusable lookup path back once the operation that used it has ended.</summary>
    private void ReturnExtentPath(ExtentPath path)
    {
        if (path.Shared)
        {
            Volatile.Write(ref _sharedExtentPathBusy, 0);
        }
    }

    /// <summary>Marks every cached extent-tree node as needing to be read and verified again.</summary>
    private void InvalidateExtentCache() => Interlocked.Increment(ref _extentCacheEpoch);

    /// <summary>
    /// Called after file data was written to device blocks [<paramref name="first"/>, +<paramref name="count"/>):
    /// on a damaged image such a block may also be a cached extent-tree node, which must then be read again.
    /// </summary>
    internal void NoteDataBlocksWritten(long first, long count)
    {
        if (Volatile.Read(ref _sharedExtentPathBusy) != 0)
        {
            InvalidateExtentCache();
            return;
        }

        foreach (ExtentLevel slot in _sharedExtentPath.Slots!)
        {
            if (slot.Epoch >= 0 && slot.Block >= first && slot.Block - first < count)
            {
                InvalidateExtentCache();
                return;
            }
        }
    }

    private int ExtentCapacity => (_sb.BlockSize - 12) / 12;

    internal static void InitializeExtentRoot(Ext4Inode inode)
    {
        Span<byte> root = inode.BlockAreaWritable;
        root.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(root, ExtentMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(root[4..], 4);
    }

    private static int NodeEntries(ReadOnlySpan<byte> node) => BinaryPrimitives.ReadUInt16LittleEndian(node[2..]);

    private static void SetNodeEntries(Span<byte> node, int count) => BinaryPrimitives.WriteUInt16LittleEndian(node[2..], (ushort)count);

    private static int NodeMax(ReadOnlySpan<byte> node) => BinaryPrimitives.ReadUInt16LittleEndian(node[4..]);

    private static int NodeDepth(ReadOnlySpan<byte> node) => BinaryPrimitives.ReadUInt16LittleEndian(node[6..]);

    private static long EntryKey(ReadOnlySpan<byte> node, int i) => BinaryPrimitives.ReadUInt32LittleEndian(node[(12 + (i * 12))..]);

    private static void SetEntryKey(Span<byte> node, int i, long key) => BinaryPrimitives.WriteUInt32LittleEndian(node[(12 + (i * 12))..], (uint)key);

    private static long IndexChild(ReadOnlySpan<byte> node, int i)
    {
        ReadOnlySpan<byte> e = node.Slice(12 + (i * 12), 12);
        return BinaryPrimitives.ReadUInt32LittleEndian(e[4..]) | ((long)BinaryPrimitives.ReadUInt16LittleEndian(e[8..]) << 32);
    }

    private static void SetIndex(Span<byte> node, int i, long key, long child)
    {
        Span<byte> e = node.Slice(12 + (i * 12), 12);
        BinaryPrimitives.WriteUInt32LittleEndian(e, (uint)key);
        BinaryPrimitives.WriteUInt32LittleEndian(e[4..], (uint)child);
        BinaryPrimitives.WriteUInt16LittleEndian(e[8..], (ushort)(child >> 32));
        BinaryPrimitives.WriteUInt16LittleEndian(e[10..], 0);
    }

    /// <summary>A leaf entry, checked to lie inside the file system.</summary>
    private (long Logical, long Physical, int Length, bool Unwritten) CheckedLeafExtent(Ext4Inode inode, ReadOnlySpan<byte> node, int i)
    {
        (long l, long p, int len, bool unwritten) = LeafExtent(node, i);
        if (len == 0 || p < _sb.FirstDataBlock || p > _sb.BlocksCount - len)
        {
            FormatError.Throw("ext4 extent tree", -1, $"inode {inode.Number}: extent ({l}, {p}, {len}) lies outside the file system.");
        }

        return (l, p, len, unwritten);
    }

    private static (long Logical, long Physical, int Length, bool Unwritten) LeafExtent(ReadOnlySpan<byte> node, int i)
    {
        ReadOnlySpan<byte> e = node.Slice(12 + (i * 12), 12);
        int len = BinaryPrimitives.ReadUInt16LittleEndian(e[4..]);
        bool unwritten = len > MaxInitializedExtentLength;
        long physical = BinaryPrimitives.ReadUInt32LittleEndian(e[8..]) | ((long)BinaryPrimitives.ReadUInt16LittleEndian(e[6..]) << 32);
        return (BinaryPrimitives.ReadUInt32LittleEndian(e), physical, unwritten ? len - MaxInitializedExtentLength : len, unwritten);
    }

    private static void SetLeafExtent(Span<byte> node, int i, long logical, long physical, int length, bool unwritten)
    {
        Span<byte> e = node.Slice(12 + (i * 12), 12);
        BinaryPrimitives.WriteUInt32LittleEndian(e, (uint)logical);
        BinaryPrimitives.WriteUInt16LittleEndian(e[4..], (ushort)(unwritten ? length + MaxInitializedExtentLength : length));
        BinaryPrimitives.WriteUInt16LittleEndian(e[6..], (ushort)(physical >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(e[8..], (uint)physical);
    }

    private Span<byte> LevelNode(Ext4Inode inode, ExtentLevel level) =>
        level.Buffer is null ? inode.BlockAreaWritable : level.Buffer.AsSpan(0, _sb.BlockSize);

    private void CheckNodeHeader(Ext4Inode inode, ReadOnlySpan<byte> node, int expectedDepth, bool isRoot)
    {
        const string S = "ext4 extent tree";
        int capacity = (node.Length - 12) / 12;
        if (BinaryPrimitives.ReadUInt16LittleEndian(node) != ExtentMagic)
        {
            FormatError.Throw(S, -1, $"inode {inode.Number}: bad extent header magic.");
        }

        int entries = NodeEntries(node);
        int max = NodeMax(node);
        int depth = NodeDepth(node);
        if (max == 0 || max > capacity || entries > max || depth > MaxExtentDepth || (expectedDepth >= 0 && depth != expectedDepth) ||
            (!isRoot && entries == 0) || (depth > 0 && entries == 0))
        {
            FormatError.Throw(S, -1, $"inode {inode.Number}: extent node with {entries} of {max} entries at depth {depth} is invalid.");
        }
    }

    private byte[] ReadExtentBlock(Ext4Inode inode, long block, int expectedDepth)
    {
        if (block < _sb.FirstDataBlock || block >= _sb.BlocksCount)
        {
            FormatError.Throw("ext4 extent tree", -1, $"inode {inode.Number}: extent index points to block {block} outside the file system.");
        }

        byte[] buffer = new byte[_sb.BlockSize];
        ReadExtentBlockInto(inode, block, expectedDepth, buffer);
        return buffer;
    }

    private void ReadExtentBlockInto(Ext4Inode inode, long block, int expectedDepth, byte[] buffer)
    {
        if (block < _sb.FirstDataBlock || block >= _sb.BlocksCount)
        {
            FormatError.Throw("ext4 extent tree", -1, $"inode {inode.Number}: extent index points to block {block} outside the file system.");
        }

        Span<byte> span = buffer.AsSpan(0, _sb.BlockSize);
        _device.ReadExactly(block * _sb.BlockSize, span);
        CheckNodeHeader(inode, span, expectedDepth, isRoot: false);
        VerifyExtentBlock(inode, span, block);
    }

    /// <summary>
    /// Makes <paramref name="level"/> of <paramref name="path"/> hold block <paramref name="block"/>, verified; the
    /// shared path reads it only when no cached copy is current.
    /// </summary>
    private void LoadLevel(Ext4Inode inode, ExtentPath path, ExtentLevel level, long block, int depth)
    {
        level.Block = block;
        if (path.Slots is null)
        {
            level.Buffer ??= new byte[_sb.BlockSize];
            ReadExtentBlockInto(inode, block, depth, level.Buffer);
            return;
        }

        long epoch = Volatile.Read(ref _extentCacheEpoch);
        foreach (ExtentLevel cached in path.Slots)
        {
            if (cached.Epoch == epoch && cached.Block == block && cached.NodeDepth == depth &&
                cached.OwnerInode == inode.Number && cached.OwnerGeneration == inode.Generation)
            {
                level.Buffer = cached.Buffer;
                return;
            }
        }

        ExtentLevel slot = path.Slots[path.NextSlot];
        path.NextSlot = (path.NextSlot + 1) % path.Slots.Length;
        slot.Epoch = -1;
        slot.Block = block;
        slot.Buffer ??= new byte[_sb.BlockSize];
        level.Buffer = slot.Buffer;
        ReadExtentBlockInto(inode, block, depth, slot.Buffer);
        slot.OwnerInode = inode.Number;
        slot.OwnerGeneration = inode.Generation;
        slot.NodeDepth = depth;
        slot.Epoch = epoch;
    }

    /// <summary>Writes a node block from a buffer that is not the cached copy of that block (so cached copies are dropped).</summary>
    private void WriteExtentBlock(Ext4Inode inode, long block, byte[] buffer)
    {
        InvalidateExtentCache();
        WriteExtentNode(inode, block, buffer);
    }

    /// <summary>Writes a node block, with its checksum tail, from the buffer of the path level that holds it.</summary>
    private void WriteExtentNode(Ext4Inode inode, long block, byte[] buffer)
    {
        if (_sb.HasMetadataChecksum)
        {
            int tail = 12 + (NodeMax(buffer) * 12);
            uint c = Ext4Checksum.Crc32C(InodeSeed(inode.Number, inode.Generation), buffer.AsSpan(0, tail));
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(tail), c);
        }

        WriteFsBlock(block, buffer.AsSpan(0, _sb.BlockSize));
    }

    /// <summary>Writes a changed node: the root through the inode, a block with its checksum tail.</summary>
    private void WriteLevel(Ext4Inode inode, ExtentLevel level)
    {
        if (level.Buffer is null)
        {
            WriteInode(inode);
        }
        else
        {
            if (!level.Shared)
            {
                // The shared path's copy of this block would now be out of date.
                InvalidateExtentCache();
            }
            else
            {
                // Only the slot whose buffer this is stays current (a damaged image may have cached the block twice).
                foreach (ExtentLevel slot in _sharedExtentPath.Slots!)
                {
                    if (slot.Block == level.Block && !ReferenceEquals(slot.Buffer, level.Buffer))
                    {
                        slot.Epoch = -1;
                    }
                }
            }

            WriteExtentNode(inode, level.Block, level.Buffer);
        }
    }

    /// <summary>The path from the root to the leaf whose range holds <paramref name="logical"/>.</summary>
    private void FindExtentPath(Ext4Inode inode, long logical, ExtentPath path)
    {
        path.Count = 0;
        ExtentLevel root = path.Levels[0];
        root.Buffer = null;
        root.Block = -1;
        Span<byte> node = inode.BlockAreaWritable;
        CheckNodeHeader(inode, node, -1, isRoot: true);
        int depth = NodeDepth(node);
        ExtentLevel level = root;
        while (true)
        {
            node = LevelNode(inode, level);
            int entries = NodeEntries(node);
            int lo = 0;
            int hi = entries - 1;
            int found = -1;
            while (lo <= hi)
            {
                int mid = (lo + hi) >>> 1;
                if (EntryKey(node, mid) <= logical)
                {
                    found = mid;
                    lo = mid + 1;
                }
                else
                {
                    hi = mid - 1;
                }
            }

            path.Count++;
            if (depth == 0)
            {
                level.Index = found;
                return;
            }

            level.Index = Math.Max(found, 0);
            long child = IndexChild(node, level.Index);
            for (int k = 0; k < path.Count; k++)
            {
                if (path.Levels[k].Block == child)
                {
                    FormatError.Throw("ext4 extent tree", -1, $"inode {inode.Number}: extent tree block {child} is referenced twice (cycle).");
                }
            }

            depth--;
            level = path.Levels[path.Count];
            LoadLevel(inode, path, level, child, depth);
        }
    }

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
            return MapBlockMapRun(inode, logical, maxCount, out count);
        }

        // A lookup changes nothing, so the path's cached nodes stay current even when a check throws (a level whose
        // read or verification failed is left marked invalid).
        ExtentPath path = RentExtentPath();
        try
        {
            FindExtentPath(inode, logical, path);
            ExtentLevel leafLevel = path[^1];
            Span<byte> leaf = LevelNode(inode, leafLevel);
            int i = leafLevel.Index;
            if (i >= 0)
            {
                (long l, long p, int len, bool unwritten) = CheckedLeafExtent(inode, leaf, i);
                if (logical < l + len)
                {
                    count = Math.Min(maxCount, l + len - logical);
                    return unwritten ? -1 : p + (logical - l);
                }
            }

            count = Math.Min(maxCount, NextMappedLogical(inode, path) - logical);
            return -1;
        }
        finally
        {
            ReturnExtentPath(path);
        }
    }

    /// <summary>The first logical block mapped after the leaf entry the path points at (2^32 when none).</summary>
    private long NextMappedLogical(Ext4Inode inode, ExtentPath path)
    {
        for (int d = path.Count - 1; d >= 0; d--)
        {
            Span<byte> node = LevelNode(inode, path[d]);
            int next = path[d].Index + 1;
            if (next < NodeEntries(node))
            {
                return EntryKey(node, next);
            }
        }

        return MaxLogicalBlocks;
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
            return MapOrAllocateBlockMap(inode, logical, out count);
        }

        ExtentPath path = RentExtentPath();
        long result;
        try
        {
            result = MapOrAllocateRunCore(inode, logical, maxCount, out count, path);
        }
        catch
        {
            // A change may have stopped half-way: the path's buffers may no longer match the device.
            path.Invalidate();
            InvalidateExtentCache();
            ReturnExtentPath(path);
            throw;
        }

        ReturnExtentPath(path);
        return result;
    }

    private long MapOrAllocateRunCore(Ext4Inode inode, long logical, int maxCount, out int count, ExtentPath path)
    {
        FindExtentPath(inode, logical, path);
        ExtentLevel leafLevel = path[^1];
        Span<byte> leaf = LevelNode(inode, leafLevel);
        int i = leafLevel.Index;
        long goal;
        if (i >= 0)
        {
            (long l, long p, int len, bool unwritten) = CheckedLeafExtent(inode, leaf, i);
            if (logical < l + len)
            {
                if (unwritten)
                {
                    // Make the whole extent written: zero its blocks so its content (zeros) does not change.
                    CheckNotMetadata(p, len, "zero");
                    WriteDataZeroes(p, len);
                    SetLeafExtent(leaf, i, l, p, len, false);
                    WriteLevel(inode, leafLevel);
                }

                count = (int)Math.Min(maxCount, l + len - logical);
                return p + (logical - l);
            }

            goal = p + (logical - l);
        }
        else if (NodeEntries(leaf) > 0)
        {
            (long l, long p, _, _) = LeafExtent(leaf, 0);
            goal = Math.Max(_sb.FirstDataBlock, p - (l - logical));
        }
        else
        {
            goal = GroupFirstBlock((inode.Number - 1) / _sb.InodesPerGroup);
        }

        long want = Math.Min(Math.Min(maxCount, MaxInitializedExtentLength), NextMappedLogical(inode, path) - logical);
        long physical = AllocateBlocks(goal, (int)want, out int got);
        try
        {
            InsertExtent(inode, logical, physical, got, path);
        }
        catch
        {
            FreeBlocks(physical, got);
            throw;
        }

        inode.AddBlocks(got, _sb.BlockSize);
        WriteInode(inode);
        count = got;
        return physical;
    }

    /// <summary>Inserts a new extent (its blocks just allocated) into the tree, merging with a neighbour when contiguous.</summary>
    private void InsertExtent(Ext4Inode inode, long logical, long physical, int length, ExtentPath path)
    {
        bool restructured = false;
        bool first = true;
        while (true)
        {
            // The caller's path is still valid on the first pass: allocating blocks does not change the tree.
            if (!first)
            {
                FindExtentPath(inode, logical, path);
            }

            first = false;
            ExtentLevel leafLevel = path[^1];
            Span<byte> leaf = LevelNode(inode, leafLevel);
            int i = leafLevel.Index;
            int entries = NodeEntries(leaf);
            if (!restructured)
            {
                if (i >= 0)
                {
                    (long l, long p, int len, bool unwritten) = LeafExtent(leaf, i);
                    if (!unwritten && l + len == logical && p + len == physical && len + length <= MaxInitializedExtentLength)
                    {
                        SetLeafExtent(leaf, i, l, p, len + length, false);
                        WriteLevel(inode, leafLevel);
                        return;
                    }
                }

                if (i + 1 < entries)
                {
                    (long l, long p, int len, bool unwritten) = LeafExtent(leaf, i + 1);
                    if (!unwritten && logical + length == l && physical + length == p && len + length <= MaxInitializedExtentLength)
                    {
                        SetLeafExtent(leaf, i + 1, logical, physical, len + length, false);
                        WriteLevel(inode, leafLevel);
                        if (i + 1 == 0)
                        {
                            UpdateParentKeys(inode, path, logical);
                        }

                        return;
                    }
                }
            }

            if (entries < NodeMax(leaf))
            {
                int pos = i + 1;
                leaf.Slice(12 + (pos * 12), (entries - pos) * 12).CopyTo(leaf[(12 + ((pos + 1) * 12))..]);
                SetLeafExtent(leaf, pos, logical, physical, length, false);
                SetNodeEntries(leaf, entries + 1);
                WriteLevel(inode, leafLevel);
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
    private void UpdateParentKeys(Ext4Inode inode, ExtentPath path, long key)
    {
        for (int d = path.Count - 2; d >= 0; d--)
        {
            ExtentLevel level = path[d];
            Span<byte> node = LevelNode(inode, level);
            if (EntryKey(node, level.Index) == key)
            {
                return;
            }

            SetEntryKey(node, level.Index, key);
            WriteLevel(inode, level);
            if (level.Index != 0)
            {
                return;
            }
        }
    }

    /// <summary>Makes room in the full leaf of <paramref name="path"/>: splits the lowest full nodes below a node with room, or grows the tree by one level.</summary>
    private void MakeRoom(Ext4Inode inode, ExtentPath path, long logical)
    {
        int j = path.Count - 1;
        while (j > 0 && NodeEntries(LevelNode(inode, path[j - 1])) >= NodeMax(LevelNode(inode, path[j - 1])))
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
        int depth = NodeDepth(root);
        if (depth >= MaxExtentDepth)
        {
            throw new IOException($"Inode {inode.Number}: the extent tree would exceed depth {MaxExtentDepth}.");
        }

        int entries = NodeEntries(root);
        long goal = entries > 0 && depth == 0 ? LeafExtent(root, 0).Physical : GroupFirstBlock((inode.Number - 1) / _sb.InodesPerGroup);
        long block = AllocateBlocks(goal, 1, out _);

        // Every node moves one level down: cached levels no longer line up with the tree.
        InvalidateExtentCache();
        byte[] buffer = new byte[_sb.BlockSize];
        BinaryPrimitives.WriteUInt16LittleEndian(buffer, ExtentMagic);
        SetNodeEntries(buffer, entries);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(4), (ushort)ExtentCapacity);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(6), (ushort)depth);
        root.Slice(12, entries * 12).CopyTo(buffer.AsSpan(12));
        WriteExtentBlock(inode, block, buffer);
        long firstKey = entries > 0 ? EntryKey(root, 0) : 0;
        root[12..].Clear();
        SetNodeEntries(root, 1);
        BinaryPrimitives.WriteUInt16LittleEndian(root[6..], (ushort)(depth + 1));
        SetIndex(root, 0, firstKey, block);
        inode.AddBlocks(1, _sb.BlockSize);
        WriteInode(inode);
    }

    /// <summary>Splits the full node at <paramref name="level"/> (not the root; its parent has room) into two blocks.</summary>
    private void SplitNode(Ext4Inode inode, ExtentPath path, int level, long logical)
    {
        ExtentLevel at = path[level];
        byte[] node = at.Buffer!;
        int entries = NodeEntries(node);

        // Appending past the last entry moves only that entry, so sequential files fill their nodes.
        int keep = at.Index == entries - 1 && logical > EntryKey(node, entries - 1) ? entries - 1 : entries / 2;
        long block = AllocateBlocks(at.Block + 1, 1, out _);
        byte[] buffer = new byte[_sb.BlockSize];
        BinaryPrimitives.WriteUInt16LittleEndian(buffer, ExtentMagic);
        SetNodeEntries(buffer, entries - keep);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(4), (ushort)ExtentCapacity);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(6), (ushort)NodeDepth(node));
        node.AsSpan(12 + (keep * 12), (entries - keep) * 12).CopyTo(buffer.AsSpan(12));
        WriteExtentBlock(inode, block, buffer);
        node.AsSpan(12 + (keep * 12), (entries - keep) * 12).Clear();
        SetNodeEntries(node, keep);
        WriteLevel(inode, at);

        ExtentLevel parentLevel = path[level - 1];
        Span<byte> parent = LevelNode(inode, parentLevel);
        int pe = NodeEntries(parent);
        int pos = parentLevel.Index + 1;
        parent.Slice(12 + (pos * 12), (pe - pos) * 12).CopyTo(parent[(12 + ((pos + 1) * 12))..]);
        SetIndex(parent, pos, EntryKey(buffer, 0), block);
        SetNodeEntries(parent, pe + 1);
        inode.AddBlocks(1, _sb.BlockSize);
        WriteLevel(inode, parentLevel);
        if (parentLevel.Buffer is not null)
        {
            WriteInode(inode);
        }
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
                InvalidateExtentCache();
                Span<byte> root = inode.BlockAreaWritable;
                CheckNodeHeader(inode, root, -1, isRoot: true);
                int remaining;
                try
                {
                    remaining = TruncateExtentNode(inode, root, NodeDepth(root), newBlocks);
                }
                finally
                {
                    InvalidateExtentCache();
                }

                if (remaining == 0)
                {
                    InitializeExtentRoot(inode);
                }
            }
            else
            {
                TruncateBlockMap(inode, newBlocks);
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
    private bool HasDataBlocks(Ext4Inode inode)
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

    /// <summary>Removes everything at or past <paramref name="newBlocks"/> below <paramref name="node"/>; returns the entries left.</summary>
    private int TruncateExtentNode(Ext4Inode inode, Span<byte> node, int depth, long newBlocks)
    {
        int entries = NodeEntries(node);
        long freed = 0;
        if (depth == 0)
        {
            while (entries > 0)
            {
                (long l, long p, int len, bool unwritten) = CheckedLeafExtent(inode, node, entries - 1);
                if (l >= newBlocks)
                {
                    FreeBlocks(p, len);
                    freed += len;
                    entries--;
                    node.Slice(12 + (entries * 12), 12).Clear();
                }
                else
                {
                    if (l + len > newBlocks)
                    {
                        int keep = (int)(newBlocks - l);
                        FreeBlocks(p + keep, len - keep);
                        freed += len - keep;
                        SetLeafExtent(node, entries - 1, l, p, keep, unwritten);
                    }

                    break;
                }
            }
        }
        else
        {
            while (entries > 0)
            {
                long key = EntryKey(node, entries - 1);
                long child = IndexChild(node, entries - 1);
                if (key >= newBlocks)
                {
                    freed += FreeExtentSubtree(inode, child, depth - 1);
                    entries--;
                    node.Slice(12 + (entries * 12), 12).Clear();
                    continue;
                }

                byte[] buffer = ReadExtentBlock(inode, child, depth - 1);
                int left = TruncateExtentNode(inode, buffer, depth - 1, newBlocks);
                if (left == 0)
                {
                    FreeBlocks(child, 1);
                    freed++;
                    entries--;
                    node.Slice(12 + (entries * 12), 12).Clear();
                    continue;
                }

                WriteExtentBlock(inode, child, buffer);
                break;
            }
        }

        SetNodeEntries(node, entries);
        inode.AddBlocks(-freed, _sb.BlockSize);
        return entries;
    }

    /// <summary>Frees a whole subtree (its data and node blocks); returns the number of blocks freed.</summary>
    private long FreeExtentSubtree(Ext4Inode inode, long block, int depth)
    {
        byte[] node = ReadExtentBlock(inode, block, depth);
        long freed = 0;
        int entries = NodeEntries(node);
        for (int i = 0; i < entries; i++)
        {
            if (depth == 0)
            {
                (_, long p, int len, _) = LeafExtent(node, i);
                FreeBlocks(p, len);
                freed += len;
            }
            else
            {
                freed += FreeExtentSubtree(inode, IndexChild(node, i), depth - 1);
            }
        }

        FreeBlocks(block, 1);
        return freed + 1;
    }

    // ---- block maps (ext2/ext3) -----------------------------------------------------------------

    private long MapBlockMapRun(Ext4Inode inode, long logical, long maxCount, out long count)
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
        int perBlock = _sb.BlockSize / 4;
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
                byte[] buffer = ArrayPool<byte>.Shared.Rent(_sb.BlockSize);
                try
                {
                    for (int l = level; l >= 1; l--)
                    {
                        if (block == 0)
                        {
                            return -1;
                        }

                        CheckMapped(inode, block);
                        _device.ReadExactly((long)block * _sb.BlockSize, buffer.AsSpan(0, _sb.BlockSize));
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
        if (block < _sb.FirstDataBlock || block >= _sb.BlocksCount)
        {
            FormatError.Throw("ext4 block map", -1, $"inode {inode.Number}: block {block} lies outside the file system.");
        }

        return block;
    }

    /// <summary>The number of file blocks a block map (12 direct, single, double and triple indirect) can address.</summary>
    private long BlockMapCapacity
    {
        get
        {
            long p = _sb.BlockSize / 4;
            return Math.Min(12 + p + (p * p) + (p * p * p), MaxLogicalBlocks - 1);
        }
    }

    /// <summary>Maps or allocates one block of a block-mapped (ext2/ext3) file, allocating indirect blocks on the way.</summary>
    private long MapOrAllocateBlockMap(Ext4Inode inode, long logical, out int count)
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
        long goal = previous >= 0 ? previous + 1 : GroupFirstBlock((inode.Number - 1) / _sb.InodesPerGroup);
        Span<byte> area = inode.BlockAreaWritable;
        long data;
        if (logical < 12)
        {
            data = AllocateBlocks(goal, 1, out _);
            BinaryPrimitives.WriteUInt32LittleEndian(area[((int)logical * 4)..], (uint)data);
            inode.AddBlocks(1, _sb.BlockSize);
            WriteInode(inode);
            return data;
        }

        int perBlock = _sb.BlockSize / 4;
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
            block = AllocateZeroedBlock(goal);
            goal = block + 1;
            BinaryPrimitives.WriteUInt32LittleEndian(area[slot..], (uint)block);
            added++;
        }

        byte[] buffer = new byte[_sb.BlockSize];
        long childSpan = span / perBlock;
        for (int l = level; l >= 1; l--)
        {
            CheckMapped(inode, block);
            _device.ReadExactly(block * _sb.BlockSize, buffer);
            int index = (int)(rel / childSpan);
            rel %= childSpan;
            long child = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(index * 4));
            if (child == 0)
            {
                child = l == 1 ? AllocateBlocks(goal, 1, out _) : AllocateZeroedBlock(goal);
                goal = child + 1;
                BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(index * 4), (uint)child);
                WriteFsBlock(block, buffer);
                added++;
            }

            block = child;
            childSpan = Math.Max(1, childSpan / perBlock);
        }

        inode.AddBlocks(added, _sb.BlockSize);
        WriteInode(inode);
        return block;
    }

    private long AllocateZeroedBlock(long goal)
    {
        long block = AllocateBlocks(goal, 1, out _);
        CheckNotMetadata(block, 1, "zero");
        _device.WriteZeroes(block * _sb.BlockSize, _sb.BlockSize);
        return block;
    }

    /// <summary>Frees the blocks of a block-mapped file at or past <paramref name="newBlocks"/>, and indirect blocks left empty.</summary>
    private void TruncateBlockMap(Ext4Inode inode, long newBlocks)
    {
        Span<byte> area = inode.BlockAreaWritable;
        long freed = 0;
        for (int i = 0; i < 12; i++)
        {
            uint b = BinaryPrimitives.ReadUInt32LittleEndian(area[(i * 4)..]);
            if (i >= newBlocks && b != 0)
            {
                FreeBlocks(CheckMapped(inode, b), 1);
                freed++;
                BinaryPrimitives.WriteUInt32LittleEndian(area[(i * 4)..], 0);
            }
        }

        int perBlock = _sb.BlockSize / 4;
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

        inode.AddBlocks(-freed, _sb.BlockSize);
    }

    /// <summary>Truncates below one indirect block covering [start, start+span); returns true when it became empty and was freed.</summary>
    private bool TruncateIndirect(Ext4Inode inode, uint block, int level, long start, long span, long newBlocks, ref long freed)
    {
        CheckMapped(inode, block);
        int perBlock = _sb.BlockSize / 4;
        long childSpan = span / perBlock;
        byte[] buffer = new byte[_sb.BlockSize];
        _device.ReadExactly((long)block * _sb.BlockSize, buffer);
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
                FreeBlocks(CheckMapped(inode, entry), 1);
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
            FreeBlocks(block, 1);
            freed++;
            return true;
        }

        if (changed)
        {
            WriteFsBlock(block, buffer);
        }

        return false;
    }
}
