using System.Buffers;
using System.Buffers.Binary;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Finds the root-to-leaf path of an extent tree for a logical block (with a small cache of recently
/// read paths), reads and validates tree nodes, and writes changed nodes back with their checksum tails.
/// </summary>
internal sealed class Ext4ExtentPaths(Ext4FileSystem fs)
{
    private readonly Ext4FileSystem _fs = fs;

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
    internal sealed class ExtentLevel
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

    /// <summary>The levels from the root (index 0) to a leaf; at most <see cref="Ext4FileSystem.MaxExtentDepth"/> + 1 of them.</summary>
    internal sealed class ExtentPath(bool shared)
    {
        public readonly ExtentLevel[] Levels = CreateLevels(shared, Ext4FileSystem.MaxExtentDepth + 1);

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
    internal ExtentPath RentExtentPath() =>
        Interlocked.Exchange(ref _sharedExtentPathBusy, 1) == 0 ? _sharedExtentPath : new ExtentPath(shared: false);

    /// <summary>Gives the reusable lookup path back once the operation that used it has ended.</summary>
    internal void ReturnExtentPath(ExtentPath path)
    {
        if (path.Shared)
        {
            Volatile.Write(ref _sharedExtentPathBusy, 0);
        }
    }

    /// <summary>Marks every cached extent-tree node as needing to be read and verified again.</summary>
    internal void InvalidateExtentCache() => Interlocked.Increment(ref _extentCacheEpoch);

    internal int ExtentCapacity => (_fs.SuperBlock.BlockSize - 12) / 12;

    /// <summary>A leaf entry, checked to lie inside the file system.</summary>
    internal (long Logical, long Physical, int Length, bool Unwritten) CheckedLeafExtent(Ext4Inode inode, ReadOnlySpan<byte> node, int i)
    {
        (long l, long p, int len, bool unwritten) = Ext4ExtentNode.LeafExtent(node, i);
        if (len == 0 || p < _fs.SuperBlock.FirstDataBlock || p > _fs.SuperBlock.BlocksCount - len)
        {
            FormatError.Throw("ext4 extent tree", -1, $"inode {inode.Number}: extent ({l}, {p}, {len}) lies outside the file system.");
        }

        return (l, p, len, unwritten);
    }

    internal Span<byte> LevelNode(Ext4Inode inode, ExtentLevel level) =>
        level.Buffer is null ? inode.BlockAreaWritable : level.Buffer.AsSpan(0, _fs.SuperBlock.BlockSize);

    internal void CheckNodeHeader(Ext4Inode inode, ReadOnlySpan<byte> node, int expectedDepth, bool isRoot)
    {
        const string S = "ext4 extent tree";
        int capacity = (node.Length - 12) / 12;
        if (BinaryPrimitives.ReadUInt16LittleEndian(node) != Ext4FileSystem.ExtentMagic)
        {
            FormatError.Throw(S, -1, $"inode {inode.Number}: bad extent header magic.");
        }

        int entries = Ext4ExtentNode.NodeEntries(node);
        int max = Ext4ExtentNode.NodeMax(node);
        int depth = Ext4ExtentNode.NodeDepth(node);
        if (max == 0 || max > capacity || entries > max || depth > Ext4FileSystem.MaxExtentDepth || (expectedDepth >= 0 && depth != expectedDepth) ||
            (!isRoot && entries == 0) || (depth > 0 && entries == 0))
        {
            FormatError.Throw(S, -1, $"inode {inode.Number}: extent node with {entries} of {max} entries at depth {depth} is invalid.");
        }
    }

    internal byte[] ReadExtentBlock(Ext4Inode inode, long block, int expectedDepth)
    {
        if (block < _fs.SuperBlock.FirstDataBlock || block >= _fs.SuperBlock.BlocksCount)
        {
            FormatError.Throw("ext4 extent tree", -1, $"inode {inode.Number}: extent index points to block {block} outside the file system.");
        }

        byte[] buffer = new byte[_fs.SuperBlock.BlockSize];
        ReadExtentBlockInto(inode, block, expectedDepth, buffer);
        return buffer;
    }

    private void ReadExtentBlockInto(Ext4Inode inode, long block, int expectedDepth, byte[] buffer)
    {
        if (block < _fs.SuperBlock.FirstDataBlock || block >= _fs.SuperBlock.BlocksCount)
        {
            FormatError.Throw("ext4 extent tree", -1, $"inode {inode.Number}: extent index points to block {block} outside the file system.");
        }

        Span<byte> span = buffer.AsSpan(0, _fs.SuperBlock.BlockSize);
        _fs.Device.ReadExactly(block * _fs.SuperBlock.BlockSize, span);
        CheckNodeHeader(inode, span, expectedDepth, isRoot: false);
        _fs.VerifyExtentBlock(inode, span, block);
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
            level.Buffer ??= new byte[_fs.SuperBlock.BlockSize];
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
        slot.Buffer ??= new byte[_fs.SuperBlock.BlockSize];
        level.Buffer = slot.Buffer;
        ReadExtentBlockInto(inode, block, depth, slot.Buffer);
        slot.OwnerInode = inode.Number;
        slot.OwnerGeneration = inode.Generation;
        slot.NodeDepth = depth;
        slot.Epoch = epoch;
    }

    /// <summary>Writes a node block from a buffer that is not the cached copy of that block (so cached copies are dropped).</summary>
    internal void WriteExtentBlock(Ext4Inode inode, long block, byte[] buffer)
    {
        InvalidateExtentCache();
        WriteExtentNode(inode, block, buffer);
    }

    /// <summary>Writes a node block, with its checksum tail, from the buffer of the path level that holds it.</summary>
    private void WriteExtentNode(Ext4Inode inode, long block, byte[] buffer)
    {
        if (_fs.SuperBlock.HasMetadataChecksum)
        {
            int tail = 12 + (Ext4ExtentNode.NodeMax(buffer) * 12);
            uint c = Ext4Checksum.Crc32C(_fs.InodeSeed(inode.Number, inode.Generation), buffer.AsSpan(0, tail));
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(tail), c);
        }

        _fs.WriteFsBlock(block, buffer.AsSpan(0, _fs.SuperBlock.BlockSize));
    }

    /// <summary>Writes a changed node: the root through the inode, a block with its checksum tail.</summary>
    internal void WriteLevel(Ext4Inode inode, ExtentLevel level)
    {
        if (level.Buffer is null)
        {
            _fs.WriteInode(inode);
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
    internal void FindExtentPath(Ext4Inode inode, long logical, ExtentPath path)
    {
        path.Count = 0;
        ExtentLevel root = path.Levels[0];
        root.Buffer = null;
        root.Block = -1;
        Span<byte> node = inode.BlockAreaWritable;
        CheckNodeHeader(inode, node, -1, isRoot: true);
        int depth = Ext4ExtentNode.NodeDepth(node);
        ExtentLevel level = root;
        while (true)
        {
            node = LevelNode(inode, level);
            int entries = Ext4ExtentNode.NodeEntries(node);
            int lo = 0;
            int hi = entries - 1;
            int found = -1;
            while (lo <= hi)
            {
                int mid = (lo + hi) >>> 1;
                if (Ext4ExtentNode.EntryKey(node, mid) <= logical)
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
            long child = Ext4ExtentNode.IndexChild(node, level.Index);
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

    /// <summary>The first logical block mapped after the leaf entry the path points at (2^32 when none).</summary>
    internal long NextMappedLogical(Ext4Inode inode, ExtentPath path)
    {
        for (int d = path.Count - 1; d >= 0; d--)
        {
            Span<byte> node = LevelNode(inode, path[d]);
            int next = path[d].Index + 1;
            if (next < Ext4ExtentNode.NodeEntries(node))
            {
                return Ext4ExtentNode.EntryKey(node, next);
            }
        }

        return Ext4FileSystem.MaxLogicalBlocks;
    }

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
}
