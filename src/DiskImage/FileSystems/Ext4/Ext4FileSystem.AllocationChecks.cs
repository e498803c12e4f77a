using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

// The checks made before writing: features and journal state that a writable open refuses, and, before a
// writable file system trusts its allocation state, bitmap checksums
// (metadata_csum), bitmaps that call group metadata or reserved inodes free, inode slots that a bitmap
// calls free but that hold a live inode, and block writes or frees that would land on metadata.
public sealed partial class Ext4FileSystem
{
    /// <summary>Above this many bitmap bytes the bitmaps verified at open are not kept in memory.</summary>
    private const long MaxCachedBitmapBytes = 64L << 20;

    private Ext4MetadataMap? _metadataMap;

    /// <summary>Whether checksums are verified: always when writing (a write must never trust a damaged structure).</summary>
    internal bool VerifyChecksums => _options.VerifyChecksums || _writable;

    /// <summary>
    /// Called when the file system is opened for writing, before anything is written: maps the metadata
    /// blocks and verifies every block and inode bitmap (checksum, metadata marked in use), as debugfs
    /// and e2fsck do before they change anything.
    /// </summary>
    /// <exception cref="InvalidDataException">A descriptor, bitmap or the journal inode is corrupt.</exception>
    private void VerifyAllocationState()
    {
        BuildMetadataMap();
        bool keep = (long)_sb.GroupCount * _sb.BlockSize * 2 <= MaxCachedBitmapBytes;
        for (uint g = 0; g < _sb.GroupCount; g++)
        {
            // Uninitialised groups have no bitmap on disk: the computed one holds the metadata by
            // construction, so only a journal inside such a group needs looking for (and huge file
            // systems, mostly uninitialised, open without computing a bitmap per group).
            if (HasUninitGroups && (GroupFlags(g) & BgBlockUninit) != 0 && _blockBitmaps[g] is null)
            {
                CheckNoJournalIn(g);
            }
            else
            {
                BlockAllocator.BlockBitmap(g);
            }

            if (g == 0 || !HasUninitGroups || (GroupFlags(g) & BgInodeUninit) == 0)
            {
                InodeAllocator.InodeBitmap(g);
            }

            if (!keep)
            {
                _blockBitmaps[g] = null;
                _inodeBitmaps[g] = null;
            }
        }
    }

    private void CheckNoJournalIn(uint group)
    {
        Ext4MetadataMap map = _metadataMap!;
        long first = GroupFirstBlock(group);
        long end = first + BlocksInGroup(group);
        for (int i = map.FirstEndingAfter(first); i < map.Count && map.Run(i).Start < end; i++)
        {
            if (map.Run(i).What == Ext4MetadataMap.Kind.Journal)
            {
                FormatError.Throw("ext4 block bitmap", -1, $"group {group} is marked BLOCK_UNINIT but holds journal blocks (the descriptor is corrupt).");
            }
        }
    }

    /// <summary>
    /// Marks in <paramref name="bitmap"/> the superblock and descriptor copies, bitmaps and inode tables
    /// that lie in <paramref name="group"/>, from the metadata map (a binary search, not a pass over
    /// every group); false when there is no map yet.
    /// </summary>
    internal bool TryMarkGroupMetadata(uint group, byte[] bitmap)
    {
        if (_metadataMap is not { } map)
        {
            return false;
        }

        long first = GroupFirstBlock(group);
        long end = first + BlocksInGroup(group);
        for (int i = map.FirstEndingAfter(first); i < map.Count && map.Run(i).Start < end; i++)
        {
            Ext4MetadataMap.MetadataRun run = map.Run(i);
            if (run.What != Ext4MetadataMap.Kind.Journal)
            {
                long from = Math.Max(run.Start, first);
                Ext4Bitmap.SetBits(bitmap, (int)(from - first), (int)(Math.Min(run.End, end) - from), true);
            }
        }

        return true;
    }

    private void BuildMetadataMap()
    {
        const string S = "ext4 group descriptor";
        var map = new Ext4MetadataMap();
        long itableBlocks = (((long)_sb.InodesPerGroup * _sb.InodeSize) + _sb.BlockSize - 1) / _sb.BlockSize;
        for (uint g = 0; g < _sb.GroupCount; g++)
        {
            map.Add(GroupFirstBlock(g), Math.Min(GroupSuperblockOverhead(g), BlocksInGroup(g)), Ext4MetadataMap.Kind.SuperblockAndDescriptors, g);
            long bb = GroupBlockBitmap(g);
            long ib = GroupInodeBitmap(g);
            long it = GroupInodeTable(g);
            if (bb < _sb.FirstDataBlock || bb >= _sb.BlocksCount)
            {
                FormatError.Throw(S, -1, $"group {g}: block bitmap at block {bb} lies outside the file system.");
            }

            if (ib < _sb.FirstDataBlock || ib >= _sb.BlocksCount)
            {
                FormatError.Throw(S, -1, $"group {g}: inode bitmap at block {ib} lies outside the file system.");
            }

            if (it < _sb.FirstDataBlock || it > _sb.BlocksCount - itableBlocks)
            {
                FormatError.Throw(S, -1, $"group {g}: inode table at block {it} lies outside the file system.");
            }

            map.Add(bb, 1, Ext4MetadataMap.Kind.BlockBitmap, g);
            map.Add(ib, 1, Ext4MetadataMap.Kind.InodeBitmap, g);
            map.Add(it, itableBlocks, Ext4MetadataMap.Kind.InodeTable, g);
        }

        if ((_sb.Compatible & Ext4CompatibleFeatures.HasJournal) != 0)
        {
            Ext4Inode journal = ReadInode(BinaryPrimitives.ReadUInt32LittleEndian(_sbRaw.AsSpan(0xE0)));
            foreach (Ext4Extent e in MapFile(journal))
            {
                map.Add(e.Physical, e.Length, Ext4MetadataMap.Kind.Journal, 0);
            }
        }

        map.Seal();
        _metadataMap = map;
    }

    /// <summary>
    /// Checks a block bitmap just loaded: its checksum when read from disk (metadata_csum), and that every
    /// metadata block of the group is marked in use; a bitmap that fails either would let the allocator
    /// hand out the inode table, a bitmap or the journal.
    /// </summary>
    internal void CheckBlockBitmap(uint group, byte[] bitmap, bool fromDisk)
    {
        const string S = "ext4 block bitmap";
        if (fromDisk && _sb.HasMetadataChecksum && VerifyChecksums)
        {
            uint stored = DescriptorChecksumField(group, 0x18, 0x38);
            uint computed = Ext4Checksum.Crc32C(_sb.ChecksumSeed, bitmap.AsSpan(0, (int)(_sb.BlocksPerGroup / 8)));
            if (!HasHighDescriptorFields)
            {
                computed &= 0xFFFF;
            }

            if (stored != computed)
            {
                FormatError.Throw(S, GroupBlockBitmap(group) * _sb.BlockSize, $"group {group}: checksum mismatch (stored 0x{stored:X8}, computed 0x{computed:X8}).");
            }
        }

        if (_metadataMap is not { } map)
        {
            return;
        }

        long first = GroupFirstBlock(group);
        long end = first + BlocksInGroup(group);
        for (int i = map.FirstEndingAfter(first); i < map.Count; i++)
        {
            Ext4MetadataMap.MetadataRun run = map.Run(i);
            if (run.Start >= end)
            {
                break;
            }

            int from = (int)(Math.Max(run.Start, first) - first);
            int to = (int)(Math.Min(run.End, end) - first);
            int free = Ext4Bitmap.FindBit(bitmap, from, to, false);
            if (free >= 0)
            {
                FormatError.Throw(S, -1, $"group {group}: block {first + free}, part of {run.Describe()}, is marked free (the bitmap is corrupt).");
            }
        }
    }

    /// <summary>Checks an inode bitmap just loaded: its checksum when read from disk, and that the reserved inodes are in use.</summary>
    internal void CheckInodeBitmap(uint group, byte[] bitmap, bool fromDisk)
    {
        const string S = "ext4 inode bitmap";
        if (fromDisk && _sb.HasMetadataChecksum && VerifyChecksums)
        {
            uint stored = DescriptorChecksumField(group, 0x1A, 0x3A);
            uint computed = Ext4Checksum.Crc32C(_sb.ChecksumSeed, bitmap.AsSpan(0, (int)(_sb.InodesPerGroup / 8)));
            if (!HasHighDescriptorFields)
            {
                computed &= 0xFFFF;
            }

            if (stored != computed)
            {
                FormatError.Throw(S, GroupInodeBitmap(group) * _sb.BlockSize, $"group {group}: checksum mismatch (stored 0x{stored:X8}, computed 0x{computed:X8}).");
            }
        }

        if (group == 0)
        {
            int reserved = (int)Math.Min(_sb.FirstInode - 1, _sb.InodesPerGroup);
            int free = Ext4Bitmap.FindBit(bitmap, 0, reserved, false);
            if (free >= 0)
            {
                FormatError.Throw(S, -1, $"group 0: reserved inode {free + 1} is marked free (the bitmap is corrupt).");
            }
        }
    }

    private uint DescriptorChecksumField(uint group, int lo, int hi)
    {
        Span<byte> d = Descriptor(group);
        uint v = BinaryPrimitives.ReadUInt16LittleEndian(d[lo..]);
        if (HasHighDescriptorFields)
        {
            v |= (uint)BinaryPrimitives.ReadUInt16LittleEndian(d[hi..]) << 16;
        }

        return v;
    }

    /// <summary>
    /// Refuses to hand out inode <paramref name="number"/>, which the bitmap calls free, when its initialised
    /// table slot still holds a live inode (mode set, links, no deletion time): the bitmap is corrupt.
    /// </summary>
    internal void CheckInodeSlotFree(uint number, uint group, int bit)
    {
        if (HasUninitGroups && ((GroupFlags(group) & BgInodeUninit) != 0 || (uint)bit >= _sb.InodesPerGroup - Math.Min(GroupItableUnused(group), _sb.InodesPerGroup)))
        {
            return; // never initialised: the slot may hold anything
        }

        Span<byte> head = stackalloc byte[0x20];
        _device.ReadExactly(InodeOffset(number), head);
        ushort mode = BinaryPrimitives.ReadUInt16LittleEndian(head);
        ushort links = BinaryPrimitives.ReadUInt16LittleEndian(head[0x1A..]);
        uint dtime = BinaryPrimitives.ReadUInt32LittleEndian(head[0x14..]);
        if (mode != 0 && links != 0 && dtime == 0)
        {
            FormatError.Throw("ext4 inode bitmap", -1, $"group {group}: inode {number} is marked free but is in use (the bitmap is corrupt).");
        }
    }

    /// <summary>Refuses a data write or free of [<paramref name="block"/>, +<paramref name="count"/>) that would touch file-system metadata.</summary>
    internal void CheckNotMetadata(long block, long count, string action)
    {
        if (_metadataMap is { } map && map.FirstOverlap(block, count) is int i and >= 0)
        {
            FormatError.Throw("ext4 block", -1, $"refusing to {action} blocks {block}+{count}: they overlap {map.Run(i).Describe()} (a corrupt block pointer or bitmap).");
        }
    }

    private const Ext4ReadOnlyCompatibleFeatures WritableReadOnlyCompatible =
        Ext4ReadOnlyCompatibleFeatures.SparseSuper | Ext4ReadOnlyCompatibleFeatures.LargeFile | Ext4ReadOnlyCompatibleFeatures.HugeFile |
        Ext4ReadOnlyCompatibleFeatures.GroupDescriptorChecksum | Ext4ReadOnlyCompatibleFeatures.DirNLink |
        Ext4ReadOnlyCompatibleFeatures.ExtraInodeSize | Ext4ReadOnlyCompatibleFeatures.MetadataChecksum;

    /// <summary>Refuses to open for writing what this writer cannot keep consistent.</summary>
    private static void CheckWritable(BlockDevice device, ReadOnlySpan<byte> sb, Ext4SuperBlock parsed)
    {
        const string Prefix = "The ext4 file system cannot be opened for writing: ";
        if (!device.CanWrite)
        {
            FormatError.Unsupported(Prefix + "the device is read-only.");
        }

        if ((parsed.Incompatible & Ext4IncompatibleFeatures.Recover) != 0)
        {
            FormatError.Unsupported(Prefix + "the journal needs recovery (the file system was not cleanly unmounted); replay it first (e2fsck).");
        }

        ushort state = BinaryPrimitives.ReadUInt16LittleEndian(sb[0x3A..]);
        if ((state & 0x1) == 0)
        {
            FormatError.Unsupported(Prefix + "it was not cleanly unmounted; check it first (e2fsck).");
        }

        if ((state & 0x2) != 0)
        {
            FormatError.Unsupported(Prefix + "it has errors recorded; check it first (e2fsck).");
        }

        Ext4ReadOnlyCompatibleFeatures ro = parsed.ReadOnlyCompatible;
        if ((ro & Ext4ReadOnlyCompatibleFeatures.BigAlloc) != 0)
        {
            FormatError.Unsupported(Prefix + "bigalloc is not supported for writing.");
        }

        if ((ro & Ext4ReadOnlyCompatibleFeatures.Verity) != 0)
        {
            FormatError.Unsupported(Prefix + "verity is not supported for writing.");
        }

        if ((ro & (Ext4ReadOnlyCompatibleFeatures.Quota | Ext4ReadOnlyCompatibleFeatures.Project)) != 0)
        {
            FormatError.Unsupported(Prefix + "quota and project quota files are not maintained by this writer.");
        }

        if ((ro & Ext4ReadOnlyCompatibleFeatures.ReadOnly) != 0)
        {
            FormatError.Unsupported(Prefix + "it carries the read-only feature flag.");
        }

        if ((ro & Ext4ReadOnlyCompatibleFeatures.OrphanPresent) != 0 || BinaryPrimitives.ReadUInt32LittleEndian(sb[0xE8..]) != 0)
        {
            FormatError.Unsupported(Prefix + "orphan inodes are pending; check it first (e2fsck).");
        }

        if ((ro & ~WritableReadOnlyCompatible & ~Ext4ReadOnlyCompatibleFeatures.OrphanPresent) != 0)
        {
            FormatError.Unsupported(Prefix + $"unsupported read-only-compatible feature flags 0x{(uint)(ro & ~WritableReadOnlyCompatible):X}.");
        }

        Ext4IncompatibleFeatures incompat = parsed.Incompatible;
        if ((incompat & Ext4IncompatibleFeatures.MultipleMountProtection) != 0)
        {
            FormatError.Unsupported(Prefix + "multiple-mount protection (mmp) is not supported for writing.");
        }

        if ((parsed.Compatible & Ext4CompatibleFeatures.HasJournal) != 0 && BinaryPrimitives.ReadUInt32LittleEndian(sb[0xE0..]) == 0)
        {
            FormatError.Unsupported(Prefix + "the journal is on an external device.");
        }
    }

    /// <summary>Refuses a journal that still holds transactions (s_start ≠ 0).</summary>
    private void CheckJournalClean()
    {
        if ((_sb.Compatible & Ext4CompatibleFeatures.HasJournal) == 0)
        {
            return;
        }

        uint journalInode = BinaryPrimitives.ReadUInt32LittleEndian(_sbRaw.AsSpan(0xE0));
        Ext4Inode journal = ReadInode(journalInode);
        long first = MapLogicalBlock(journal, 0);
        if (first < 0)
        {
            FormatError.Throw("ext4 journal", -1, "the journal's first block is not mapped.");
        }

        Span<byte> header = stackalloc byte[0x20];
        _device.ReadExactly(first * _sb.BlockSize, header);
        if (BinaryPrimitives.ReadUInt32BigEndian(header) != 0xC03B3998)
        {
            FormatError.Throw("ext4 journal", first * _sb.BlockSize, "bad journal superblock magic.");
        }

        if (BinaryPrimitives.ReadUInt32BigEndian(header[0x1C..]) != 0)
        {
            FormatError.Unsupported("The ext4 file system cannot be opened for writing: the journal holds transactions that need replaying (e2fsck).");
        }
    }
}
