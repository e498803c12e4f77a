using System.Buffers;
using System.Buffers.Binary;

namespace DiskImage.FileSystems.Ext4;

// Extended attributes: setting and removing them in the in-inode area and the external block. Like the
// kernel, a value goes into the inode when it fits there and into the block otherwise; when neither has
// room, every movable attribute is repacked (smallest into the inode first). A block shared by several
// inodes (h_refcount > 1) is copied on write; a new block content identical to a block already
// seen is shared with it instead (at most 1024 references, as the kernel does).
public sealed partial class Ext4FileSystem
{
    /// <summary>The kernel's limit on references to one attribute block (<c>EXT4_XATTR_REFCOUNT_MAX</c>).</summary>
    private const uint XattrRefCountMax = 1024;
    private const int XattrBlockCacheLimit = 16384;

    /// <summary>The name suffix of <c>system.data</c> (index 7), which holds inline data past <c>i_block</c>.</summary>
    private static readonly byte[] InlineDataName = "data"u8.ToArray();

    /// <summary>Attribute blocks seen or written, by block hash: candidates for sharing identical blocks.</summary>
    private readonly Dictionary<uint, List<long>> _xattrBlockCache = [];
    private int _xattrBlockCacheCount;

    /// <summary>Creates or replaces the attribute <paramref name="name"/> (full name with prefix) and writes the inode.</summary>
    /// <exception cref="ArgumentException">Invalid name, a value over 64 KiB, or a POSIX ACL that is not valid.</exception>
    /// <exception cref="IOException">The attributes do not fit the inode and one block.</exception>
    internal void SetXattrCore(Ext4Inode inode, string name, ReadOnlySpan<byte> value)
    {
        (byte index, byte[] suffix) = Ext4XattrLayout.ParseName(name);
        if (value.Length > Ext4XattrLayout.MaxValueLength)
        {
            throw new ArgumentException($"An extended attribute value is limited to {Ext4XattrLayout.MaxValueLength / 1024} KiB.", nameof(value));
        }

        byte[] stored = index is Ext4XattrLayout.PosixAclAccessIndex or Ext4XattrLayout.PosixAclDefaultIndex
            ? Ext4PosixAcl.ToDisk(value)
            : value.ToArray();

        XattrSet set = LoadXattrSet(inode);
        int inInode = set.InodeEntries.FindIndex(e => e.Is(index, suffix));
        int inBlock = set.BlockEntries.FindIndex(e => e.Is(index, suffix));
        if ((inInode >= 0 && set.InodeEntries[inInode].Value.AsSpan().SequenceEqual(stored)) ||
            (inBlock >= 0 && set.BlockEntries[inBlock].Value.AsSpan().SequenceEqual(stored)))
        {
            return;
        }

        var entry = new Ext4XattrEntry(index, suffix, stored);
        if (inBlock >= 0)
        {
            set.BlockEntries.RemoveAt(inBlock);
            set.BlockChanged = true;
        }

        // In the inode first (replacing in place keeps the order), then in the block.
        if (inInode >= 0)
        {
            set.InodeEntries[inInode] = entry;
        }
        else
        {
            set.InodeEntries.Add(entry);
        }

        if (!Fits(set.InodeEntries, set.InodeCapacity))
        {
            set.InodeEntries.Remove(entry);
            InsertSorted(set.BlockEntries, entry);
            set.BlockChanged = true;
            if (!Fits(set.BlockEntries, set.BlockCapacity) && !Repack(set))
            {
                throw new IOException($"No space for the extended attribute '{name}' ({value.Length} bytes): the attributes of inode {inode.Number} must fit in the inode and one {_sb.BlockSize}-byte block.");
            }
        }

        StoreXattrSet(inode, set);
    }

    /// <summary>Removes the attribute <paramref name="name"/> and writes the inode; returns false when it did not exist.</summary>
    /// <exception cref="ArgumentException">Invalid name.</exception>
    internal bool RemoveXattrCore(Ext4Inode inode, string name)
    {
        (byte index, byte[] suffix) = Ext4XattrLayout.ParseName(name);
        XattrSet set = LoadXattrSet(inode);
        int inInode = set.InodeEntries.FindIndex(e => e.Is(index, suffix));
        if (inInode >= 0)
        {
            set.InodeEntries.RemoveAt(inInode);
        }
        else
        {
            int inBlock = set.BlockEntries.FindIndex(e => e.Is(index, suffix));
            if (inBlock < 0)
            {
                return false;
            }

            set.BlockEntries.RemoveAt(inBlock);
            set.BlockChanged = true;
        }

        StoreXattrSet(inode, set);
        return true;
    }

    /// <summary>
    /// Releases the external attribute block of an inode being deleted: decrements its reference count (freeing
    /// it at zero), clears <c>i_file_acl</c>, uncharges the block from <c>i_blocks</c> and writes the inode.
    /// </summary>
    internal void ReleaseXattrs(Ext4Inode inode)
    {
        if (inode.FileAcl == 0)
        {
            return;
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(_sb.BlockSize);
        try
        {
            Span<byte> block = buffer.AsSpan(0, _sb.BlockSize);
            ReadXattrBlock(inode, block, forWrite: true);
            DropXattrBlockReference(inode, block);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        WriteInode(inode);
    }

    /// <summary>
    /// The largest value the hidden <c>system.data</c> attribute (inline data past <c>i_block</c>) can hold in the
    /// inode's own attribute area next to the other in-inode attributes (the kernel's
    /// <c>get_max_inline_xattr_value_size</c>, on a packed area), a multiple of 4; negative when the area cannot
    /// even hold the entry.
    /// </summary>
    internal int MaxInlineDataValueLength(Ext4Inode inode)
    {
        int capacity = Ext4XattrLayout.InodeCapacity(inode.Raw.Length, inode.ExtraSize);
        if (capacity == 0)
        {
            return -1;
        }

        XattrSet set = LoadXattrSet(inode);
        int used = 4 + Ext4XattrLayout.EntrySize(InlineDataName.Length);
        foreach (Ext4XattrEntry e in set.InodeEntries)
        {
            if (!e.IsInlineData)
            {
                used += e.Footprint;
            }
        }

        int free = capacity - used;
        return free < 0 ? -1 : free & ~3;
    }

    /// <summary>
    /// Creates or replaces the hidden <c>system.data</c> attribute in the inode's own attribute area (never in the
    /// block, as the kernel requires) and writes the inode. The caller has checked the room with
    /// <see cref="MaxInlineDataValueLength"/>.
    /// </summary>
    internal void SetInlineDataValue(Ext4Inode inode, byte[] value)
    {
        XattrSet set = LoadXattrSet(inode);
        var entry = new Ext4XattrEntry(Ext4XattrLayout.SystemIndex, InlineDataName, value);
        int i = set.InodeEntries.FindIndex(e => e.IsInlineData);
        if (i >= 0)
        {
            set.InodeEntries[i] = entry;
        }
        else
        {
            set.InodeEntries.Add(entry);
        }

        if (!Fits(set.InodeEntries, set.InodeCapacity))
        {
            throw new InvalidOperationException($"ext4 inline data of inode {inode.Number} does not fit its attribute area (the caller must check the space).");
        }

        StoreXattrSet(inode, set);
    }

    /// <summary>Removes the hidden <c>system.data</c> attribute (the inode no longer keeps data inline) and writes the inode.</summary>
    internal void RemoveInlineDataValue(Ext4Inode inode)
    {
        XattrSet set = LoadXattrSet(inode);
        set.InodeEntries.RemoveAll(e => e.IsInlineData);
        StoreXattrSet(inode, set);
    }

    private static bool Fits(List<Ext4XattrEntry> entries, int capacity) =>
        entries.Count == 0 || Ext4XattrLayout.Required(entries) <= capacity;

    private static void InsertSorted(List<Ext4XattrEntry> entries, Ext4XattrEntry entry)
    {
        int i = 0;
        while (i < entries.Count && Ext4XattrLayout.CompareBlockOrder(entries[i], entry) < 0)
        {
            i++;
        }

        entries.Insert(i, entry);
    }

    /// <summary>
    /// Redistributes every attribute but inline data: smallest first into the inode, the rest into the block.
    /// Returns false (leaving the lists unusable) when they still do not fit.
    /// </summary>
    private static bool Repack(XattrSet set)
    {
        var movable = new List<Ext4XattrEntry>(set.InodeEntries.Count + set.BlockEntries.Count);
        var pinned = new List<Ext4XattrEntry>();
        foreach (Ext4XattrEntry e in set.InodeEntries)
        {
            (e.IsInlineData ? pinned : movable).Add(e);
        }

        movable.AddRange(set.BlockEntries);
        movable.Sort((a, b) => a.Footprint != b.Footprint ? a.Footprint.CompareTo(b.Footprint) : Ext4XattrLayout.CompareBlockOrder(a, b));
        set.InodeEntries.Clear();
        set.InodeEntries.AddRange(pinned);
        set.BlockEntries.Clear();
        int used = Ext4XattrLayout.Required(set.InodeEntries);
        foreach (Ext4XattrEntry e in movable)
        {
            if (used + e.Footprint <= set.InodeCapacity)
            {
                set.InodeEntries.Add(e);
                used += e.Footprint;
            }
            else
            {
                set.BlockEntries.Add(e);
            }
        }

        set.BlockEntries.Sort(Ext4XattrLayout.CompareBlockOrder);
        set.BlockChanged = true;
        return Fits(set.BlockEntries, set.BlockCapacity);
    }

    /// <summary>Reads both attribute areas of an inode into lists (block entries in their on-disk, sorted order).</summary>
    private XattrSet LoadXattrSet(Ext4Inode inode)
    {
        var set = new XattrSet
        {
            InodeCapacity = Ext4XattrLayout.InodeCapacity(inode.Raw.Length, inode.ExtraSize),
            BlockCapacity = Ext4XattrLayout.BlockCapacity(_sb.BlockSize),
        };

        ParseInodeXattrs(inode, set.InodeEntries);
        set.InodeAreaPresent = set.InodeEntries.Count != 0;

        if (inode.FileAcl != 0)
        {
            byte[] block = new byte[_sb.BlockSize];
            ReadXattrBlock(inode, block, forWrite: true);
            ParseXattrEntries(inode, block.AsSpan(Ext4XattrLayout.BlockHeaderSize), Ext4XattrLayout.BlockHeaderSize, block, set.BlockEntries, BlockStructure);
            set.Block = block;
            RememberXattrBlock(inode.FileAcl, BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(12)));
        }

        if (!Fits(set.InodeEntries, set.InodeCapacity) && !Repack(set))
        {
            throw new IOException($"The extended attributes of inode {inode.Number} do not fit its writable areas.");
        }

        return set;
    }

    /// <summary>Writes the in-inode area, the block (in place, copied when shared, allocated or released) and the inode.</summary>
    private void StoreXattrSet(Ext4Inode inode, XattrSet set)
    {
        if (set.InodeEntries.Count != 0 && !Fits(set.InodeEntries, set.InodeCapacity))
        {
            throw new InvalidOperationException("ext4 in-inode xattrs overflow (the caller must check the space).");
        }

        if (set.InodeEntries.Count != 0 || set.BlockEntries.Count != 0)
        {
            EnsureExtendedAttributeFeature();
        }

        if (set.BlockChanged)
        {
            StoreXattrBlock(inode, set);
        }

        if (set.InodeCapacity > 0 || set.InodeAreaPresent)
        {
            Ext4XattrLayout.WriteInodeArea(inode.Raw.AsSpan(128 + inode.ExtraSize), set.InodeEntries);
        }

        WriteInode(inode);
    }

    private void StoreXattrBlock(Ext4Inode inode, XattrSet set)
    {
        int bs = _sb.BlockSize;
        if (set.BlockEntries.Count == 0)
        {
            if (set.Block is not null)
            {
                DropXattrBlockReference(inode, set.Block);
            }

            return;
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(2 * bs);
        try
        {
            Span<byte> data = buffer.AsSpan(0, bs);
            Ext4XattrLayout.WriteBlock(data, set.BlockEntries, 1);
            uint hash = BinaryPrimitives.ReadUInt32LittleEndian(data[12..]);
            long old = set.Block is null ? 0 : inode.FileAcl;

            // Like the kernel's block cache: an identical block elsewhere is shared instead of written again.
            long shared = ShareIdenticalXattrBlock(data, hash, old, buffer.AsSpan(bs, bs));
            if (shared != 0)
            {
                if (set.Block is not null)
                {
                    DropXattrBlockReference(inode, set.Block);
                }

                inode.FileAcl = shared;
                inode.AddBlocks(1, bs);
                return;
            }

            long target;
            if (set.Block is not null && BinaryPrimitives.ReadUInt32LittleEndian(set.Block.AsSpan(4)) == 1)
            {
                // Ours alone: rewrite in place.
                target = old;
                ForgetXattrBlock(old, BinaryPrimitives.ReadUInt32LittleEndian(set.Block.AsSpan(12)));
            }
            else
            {
                target = BlockAllocator.AllocateBlocks(old != 0 ? old : XattrBlockGoal(inode), 1, out int allocated);
                if (allocated != 1)
                {
                    throw new IOException("No free block for the extended attribute block.");
                }

                if (set.Block is not null)
                {
                    // Copy on write: the shared block loses one reference; our i_blocks charge moves to the copy.
                    DecrementXattrBlock(old, set.Block);
                }
                else
                {
                    inode.AddBlocks(1, bs);
                }

                inode.FileAcl = target;
            }

            if (_sb.HasMetadataChecksum)
            {
                Ext4XattrLayout.SetBlockChecksum(data, target, _sb.ChecksumSeed);
            }

            WriteFsBlock(target, data);
            RememberXattrBlock(target, hash);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The inode drops its reference to its attribute block (freed at zero) and no longer charges it.</summary>
    private void DropXattrBlockReference(Ext4Inode inode, Span<byte> block)
    {
        long number = inode.FileAcl;
        if (BinaryPrimitives.ReadUInt32LittleEndian(block[4..]) <= 1)
        {
            ForgetXattrBlock(number, BinaryPrimitives.ReadUInt32LittleEndian(block[12..]));
            BlockAllocator.FreeBlocks(number, 1);
        }
        else
        {
            DecrementXattrBlock(number, block);
        }

        inode.FileAcl = 0;
        inode.AddBlocks(-1, _sb.BlockSize);
    }

    /// <summary>
    /// Looks for a known attribute block (other than <paramref name="exclude"/>) with exactly the entries and values of
    /// <paramref name="data"/>; when one is found with fewer than the kernel's 1024 references, adds a reference to it
    /// and returns its number, else 0. Candidates are re-read and fully checked, so a stale cache cannot mislead.
    /// </summary>
    private long ShareIdenticalXattrBlock(ReadOnlySpan<byte> data, uint hash, long exclude, Span<byte> scratch)
    {
        if (hash == 0 || !_xattrBlockCache.TryGetValue(hash, out List<long>? candidates))
        {
            return 0;
        }

        for (int i = candidates.Count - 1; i >= 0; i--)
        {
            long candidate = candidates[i];
            if (candidate == exclude)
            {
                continue;
            }

            ReadFsBlock(candidate, scratch);
            uint refs = BinaryPrimitives.ReadUInt32LittleEndian(scratch[4..]);
            bool valid = BinaryPrimitives.ReadUInt32LittleEndian(scratch) == Ext4XattrLayout.Magic &&
                BinaryPrimitives.ReadUInt32LittleEndian(scratch[8..]) == 1 &&
                BinaryPrimitives.ReadUInt32LittleEndian(scratch[12..]) == hash &&
                refs is >= 1 and < XattrRefCountMax &&
                (!_sb.HasMetadataChecksum || Ext4XattrLayout.BlockChecksum(scratch, candidate, _sb.ChecksumSeed) == BinaryPrimitives.ReadUInt32LittleEndian(scratch[0x10..]));
            if (!valid || !scratch[0x14..].SequenceEqual(data[0x14..]))
            {
                if (!valid && refs < XattrRefCountMax)
                {
                    candidates.RemoveAt(i);
                }

                continue;
            }

            BinaryPrimitives.WriteUInt32LittleEndian(scratch[4..], refs + 1);
            if (_sb.HasMetadataChecksum)
            {
                Ext4XattrLayout.SetBlockChecksum(scratch, candidate, _sb.ChecksumSeed);
            }

            WriteFsBlock(candidate, scratch);
            return candidate;
        }

        return 0;
    }

    /// <summary>Records that <paramref name="block"/> holds an attribute block with this hash (bounded; cleared when full).</summary>
    private void RememberXattrBlock(long block, uint hash)
    {
        if (hash == 0)
        {
            return;
        }

        if (_xattrBlockCacheCount >= XattrBlockCacheLimit)
        {
            _xattrBlockCache.Clear();
            _xattrBlockCacheCount = 0;
        }

        if (!_xattrBlockCache.TryGetValue(hash, out List<long>? list))
        {
            list = [];
            _xattrBlockCache[hash] = list;
        }

        if (!list.Contains(block))
        {
            list.Add(block);
            _xattrBlockCacheCount++;
        }
    }

    private void ForgetXattrBlock(long block, uint hash)
    {
        if (_xattrBlockCache.TryGetValue(hash, out List<long>? list) && list.Remove(block))
        {
            _xattrBlockCacheCount--;
        }
    }

    /// <summary>Writes <paramref name="block"/> back with its reference count one lower (at least 1) and a fresh checksum.</summary>
    private void DecrementXattrBlock(long number, Span<byte> block)
    {
        uint refs = BinaryPrimitives.ReadUInt32LittleEndian(block[4..]);
        BinaryPrimitives.WriteUInt32LittleEndian(block[4..], refs - 1);
        if (_sb.HasMetadataChecksum)
        {
            Ext4XattrLayout.SetBlockChecksum(block, number, _sb.ChecksumSeed);
        }

        WriteFsBlock(number, block);
    }

    /// <summary>Where to look for a new attribute block: the start of the inode's block group.</summary>
    private long XattrBlockGoal(Ext4Inode inode)
    {
        long group = (inode.Number - 1) / _sb.InodesPerGroup;
        return _sb.FirstDataBlock + (group * _sb.BlocksPerGroup);
    }

    /// <summary>Sets the ext_attr compatible feature (written with the superblock), as the kernel does on the first xattr.</summary>
    private void EnsureExtendedAttributeFeature()
    {
        const int CompatOffset = 0x5C;
        uint compat = BinaryPrimitives.ReadUInt32LittleEndian(_sbRaw.AsSpan(CompatOffset));
        if ((compat & (uint)Ext4CompatibleFeatures.ExtendedAttributes) == 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_sbRaw.AsSpan(CompatOffset), compat | (uint)Ext4CompatibleFeatures.ExtendedAttributes);
            _metadataDirty = true;
        }
    }

    /// <summary>The attributes of one inode while they are being changed.</summary>
    private sealed class XattrSet
    {
        public List<Ext4XattrEntry> InodeEntries { get; } = [];

        public List<Ext4XattrEntry> BlockEntries { get; } = [];

        /// <summary>The current attribute block (null when the inode has none).</summary>
        public byte[]? Block { get; set; }

        public bool BlockChanged { get; set; }

        /// <summary>Whether the inode had in-inode entries when loaded (the area is rewritten even without capacity).</summary>
        public bool InodeAreaPresent { get; set; }

        public int InodeCapacity { get; init; }

        public int BlockCapacity { get; init; }
    }
}
