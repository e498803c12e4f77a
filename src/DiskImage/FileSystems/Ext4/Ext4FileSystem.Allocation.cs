using System.Buffers.Binary;
using System.Numerics;

namespace DiskImage.FileSystems.Ext4;

// Writable state: group descriptors and bitmaps held in memory with dirty tracking, block and inode
// allocation honouring the uninit flags, inode writes, and the metadata flush.
public sealed partial class Ext4FileSystem
{
    private const ushort BgInodeUninit = 0x1;
    private const ushort BgBlockUninit = 0x2;
    internal const int MaxInitializedExtentLength = 32768;
    private const int InodeCacheLimit = 65536;

    private readonly Dictionary<uint, Ext4Inode> _inodeCache = [];
    private readonly Dictionary<uint, int> _openCounts = [];
    private readonly HashSet<uint> _pendingRelease = [];
    private readonly HashSet<Ext4Inode> _dirtyInodes = [];
    private byte[] _sbRaw = [];
    private bool _writable;
    private byte[]?[] _blockBitmaps = [];
    private byte[]?[] _inodeBitmaps = [];
    private bool[] _blockBitmapDirty = [];
    private bool[] _inodeBitmapDirty = [];
    private bool[] _descriptorDirty = [];
    private bool _metadataDirty;
    private readonly HashSet<long> _dirtyDescriptorBlocks = [];
    private uint _generationState;
    private long _bytesWritten;

    /// <summary>The time stamped on changes: the configured clock, or now.</summary>
    internal UnixTime Now() => _options.Clock?.Invoke() ?? UnixTime.Now;

    private void InitializeWritableState(byte[] sbRaw)
    {
        _sbRaw = sbRaw;
        _writable = true;
        uint groups = _sb.GroupCount;
        _blockBitmaps = new byte[]?[groups];
        _inodeBitmaps = new byte[]?[groups];
        _blockBitmapDirty = new bool[groups];
        _inodeBitmapDirty = new bool[groups];
        _descriptorDirty = new bool[groups];
        _generationState = Ext4Checksum.Crc32C(Ext4Checksum.Crc32C(~0u, _sb.UuidBytes), BinaryPrimitives.ReadUInt32LittleEndian(sbRaw.AsSpan(0x30)));
    }

    // ---- group descriptor fields ----------------------------------------------------------------

    private Span<byte> Descriptor(uint group) => _descriptors.AsSpan((int)(group * (uint)_sb.DescriptorSize), _sb.DescriptorSize);

    private bool HasHighDescriptorFields => _sb.DescriptorSize >= 64;

    private long DescriptorBlockField(uint group, int lo, int hi)
    {
        Span<byte> d = Descriptor(group);
        long v = BinaryPrimitives.ReadUInt32LittleEndian(d[lo..]);
        if (HasHighDescriptorFields)
        {
            v |= (long)BinaryPrimitives.ReadUInt32LittleEndian(d[hi..]) << 32;
        }

        return v;
    }

    private uint DescriptorCount(uint group, int lo, int hi)
    {
        Span<byte> d = Descriptor(group);
        uint v = BinaryPrimitives.ReadUInt16LittleEndian(d[lo..]);
        if (HasHighDescriptorFields)
        {
            v |= (uint)BinaryPrimitives.ReadUInt16LittleEndian(d[hi..]) << 16;
        }

        return v;
    }

    private void SetDescriptorCount(uint group, int lo, int hi, uint value)
    {
        Span<byte> d = Descriptor(group);
        BinaryPrimitives.WriteUInt16LittleEndian(d[lo..], (ushort)value);
        if (HasHighDescriptorFields)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(d[hi..], (ushort)(value >> 16));
        }

        _descriptorDirty[group] = true;
        _metadataDirty = true;
    }

    private long GroupBlockBitmap(uint group) => DescriptorBlockField(group, 0x00, 0x20);

    private long GroupInodeBitmap(uint group) => DescriptorBlockField(group, 0x04, 0x24);

    private long GroupInodeTable(uint group) => DescriptorBlockField(group, 0x08, 0x28);

    private uint GroupFreeBlocks(uint group) => DescriptorCount(group, 0x0C, 0x2C);

    private uint GroupFreeInodes(uint group) => DescriptorCount(group, 0x0E, 0x2E);

    private uint GroupUsedDirs(uint group) => DescriptorCount(group, 0x10, 0x30);

    private uint GroupItableUnused(uint group) => DescriptorCount(group, 0x1C, 0x32);

    private ushort GroupFlags(uint group) => BinaryPrimitives.ReadUInt16LittleEndian(Descriptor(group)[0x12..]);

    private void SetGroupFlags(uint group, ushort flags)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(Descriptor(group)[0x12..], flags);
        _descriptorDirty[group] = true;
        _metadataDirty = true;
    }

    private bool HasUninitGroups => _sb.HasMetadataChecksum || _sb.HasGroupDescriptorChecksum;

    internal long GroupFirstBlock(uint group) => _sb.FirstDataBlock + ((long)group * _sb.BlocksPerGroup);

    private int BlocksInGroup(uint group) => (int)Math.Min(_sb.BlocksPerGroup, _sb.BlocksCount - GroupFirstBlock(group));

    private uint GroupOfBlock(long block) => (uint)((block - _sb.FirstDataBlock) / _sb.BlocksPerGroup);

    // ---- bitmaps --------------------------------------------------------------------------------

    private byte[] BlockBitmap(uint group)
    {
        if (_blockBitmaps[group] is { } cached)
        {
            return cached;
        }

        int bs = _sb.BlockSize;
        byte[] bitmap = new byte[bs];
        bool fromDisk = !(HasUninitGroups && (GroupFlags(group) & BgBlockUninit) != 0);
        if (!fromDisk)
        {
            ComputeUninitBlockBitmap(group, bitmap);
        }
        else
        {
            long at = GroupBlockBitmap(group);
            if (at < _sb.FirstDataBlock || at >= _sb.BlocksCount)
            {
                FormatError.Throw("ext4 group descriptor", -1, $"group {group}: block bitmap at block {at} lies outside the file system.");
            }

            _device.ReadExactly(at * bs, bitmap);
        }

        CheckBlockBitmap(group, bitmap, fromDisk);

        // Bits past the end of a short last group stay set.
        int n = BlocksInGroup(group);
        SetBits(bitmap, n, (8 * bs) - n, true);
        _blockBitmaps[group] = bitmap;
        return bitmap;
    }

    /// <summary>The block bitmap of a BLOCK_UNINIT group: its superblock/descriptor copies and any group's metadata that lies in it.</summary>
    private void ComputeUninitBlockBitmap(uint group, byte[] bitmap)
    {
        if (TryMarkGroupMetadata(group, bitmap))
        {
            return;
        }

        long first = GroupFirstBlock(group);
        int n = BlocksInGroup(group);
        int overhead = GroupSuperblockOverhead(group);
        SetBits(bitmap, 0, Math.Min(overhead, n), true);
        int itableBlocks = (int)((((long)_sb.InodesPerGroup * _sb.InodeSize) + _sb.BlockSize - 1) / _sb.BlockSize);
        for (uint g = 0; g < _sb.GroupCount; g++)
        {
            MarkIfInside(bitmap, first, n, GroupBlockBitmap(g), 1);
            MarkIfInside(bitmap, first, n, GroupInodeBitmap(g), 1);
            MarkIfInside(bitmap, first, n, GroupInodeTable(g), itableBlocks);
        }

        static void MarkIfInside(byte[] bitmap, long first, int n, long start, int count)
        {
            long from = Math.Max(start, first);
            long to = Math.Min(start + count, first + n);
            if (from < to)
            {
                SetBits(bitmap, (int)(from - first), (int)(to - from), true);
            }
        }
    }

    /// <summary>Blocks at the start of <paramref name="group"/> taken by a superblock copy, descriptor blocks and reserved GDT blocks.</summary>
    private int GroupSuperblockOverhead(uint group)
    {
        int perBlock = _sb.BlockSize / _sb.DescriptorSize;
        long descBlocks = (_sb.GroupCount + perBlock - 1) / perBlock;
        bool hasSuper = _sb.GroupHasSuperblock(group);
        bool metaBg = (_sb.Incompatible & Ext4IncompatibleFeatures.MetaBlockGroups) != 0;
        int reservedGdt = BinaryPrimitives.ReadUInt16LittleEndian(_sbRaw.AsSpan(0xCE));
        long count = 0;
        if (!metaBg || group / perBlock < _sb.FirstMetaBlockGroup)
        {
            if (hasSuper)
            {
                count = 1 + (metaBg ? _sb.FirstMetaBlockGroup : descBlocks) + reservedGdt;
            }
        }
        else
        {
            count = hasSuper ? 1 : 0;
            uint inMeta = group % (uint)perBlock;
            if (inMeta == 0 || inMeta == 1 || inMeta == perBlock - 1)
            {
                count++;
            }
        }

        // With 1 KiB blocks group 0 starts at block 1, which is the superblock; with larger blocks block 0 holds it.
        return (int)Math.Min(count, int.MaxValue);
    }

    private byte[] InodeBitmap(uint group)
    {
        if (_inodeBitmaps[group] is { } cached)
        {
            return cached;
        }

        int bs = _sb.BlockSize;
        byte[] bitmap = new byte[bs];
        bool fromDisk = !(HasUninitGroups && (GroupFlags(group) & BgInodeUninit) != 0);
        if (fromDisk)
        {
            long at = GroupInodeBitmap(group);
            if (at < _sb.FirstDataBlock || at >= _sb.BlocksCount)
            {
                FormatError.Throw("ext4 group descriptor", -1, $"group {group}: inode bitmap at block {at} lies outside the file system.");
            }

            _device.ReadExactly(at * bs, bitmap);
        }

        // An INODE_UNINIT group is all free; only the padding past inodes_per_group is set.
        CheckInodeBitmap(group, bitmap, fromDisk);

        int ipg = (int)_sb.InodesPerGroup;
        SetBits(bitmap, ipg, (8 * bs) - ipg, true);
        _inodeBitmaps[group] = bitmap;
        return bitmap;
    }

    private static bool TestBit(ReadOnlySpan<byte> bitmap, int bit) => (bitmap[bit >> 3] & (1 << (bit & 7))) != 0;

    /// <summary>Sets or clears <paramref name="count"/> bits from <paramref name="start"/>.</summary>
    private static void SetBits(Span<byte> bitmap, int start, int count, bool value)
    {
        int end = start + count;
        int i = start;
        while (i < end && (i & 7) != 0)
        {
            SetBit(bitmap, i++, value);
        }

        int bytes = (end - i) >> 3;
        if (bytes > 0)
        {
            bitmap.Slice(i >> 3, bytes).Fill(value ? (byte)0xFF : (byte)0);
            i += bytes << 3;
        }

        while (i < end)
        {
            SetBit(bitmap, i++, value);
        }

        static void SetBit(Span<byte> bitmap, int bit, bool value)
        {
            if (value)
            {
                bitmap[bit >> 3] |= (byte)(1 << (bit & 7));
            }
            else
            {
                bitmap[bit >> 3] &= (byte)~(1 << (bit & 7));
            }
        }
    }

    /// <summary>The first bit in [<paramref name="from"/>, <paramref name="end"/>) equal to <paramref name="value"/>, or -1.</summary>
    private static int FindBit(ReadOnlySpan<byte> bitmap, int from, int end, bool value)
    {
        int i = from;
        ulong skip = value ? 0UL : ulong.MaxValue;
        while (i < end)
        {
            if ((i & 63) == 0 && i + 64 <= end)
            {
                ulong w = BinaryPrimitives.ReadUInt64LittleEndian(bitmap[(i >> 3)..]);
                if (w == skip)
                {
                    i += 64;
                    continue;
                }

                return i + BitOperations.TrailingZeroCount(value ? w : ~w);
            }

            if (TestBit(bitmap, i) == value)
            {
                return i;
            }

            i++;
        }

        return -1;
    }

    // ---- blocks ---------------------------------------------------------------------------------

    /// <summary>Reads file-system block <paramref name="block"/> into <paramref name="buffer"/> (one block long).</summary>
    internal void ReadFsBlock(long block, Span<byte> buffer)
    {
        if (block < 0 || block >= _sb.BlocksCount)
        {
            FormatError.Throw("ext4 block", -1, $"block {block} lies outside the file system.");
        }

        _device.ReadExactly(block * _sb.BlockSize, buffer[.._sb.BlockSize]);
    }

    /// <summary>Writes <paramref name="data"/> (one block, or a run of whole blocks) at file-system block <paramref name="block"/>.</summary>
    internal void WriteFsBlock(long block, ReadOnlySpan<byte> data)
    {
        if (block <= 0 || block + ((data.Length - 1) / _sb.BlockSize) >= _sb.BlocksCount)
        {
            FormatError.Throw("ext4 block", -1, $"refusing to write block {block}, outside the data area of the file system (a corrupt block pointer).");
        }

        CheckNotMetadata(block, ((data.Length - 1) / _sb.BlockSize) + 1, "write");

        // Metadata: a block image in the running transaction, written in place only by its commit.
        _device.Write(block * _sb.BlockSize, data);
        _bytesWritten += data.Length;
    }

    /// <summary>
    /// Writes file data (whole blocks) at <paramref name="block"/>: straight to the device, ahead of the commit that
    /// makes the blocks part of the file (ordered mode); a block freed and reused within the running transaction
    /// stays in the transaction instead.
    /// </summary>
    internal void WriteDataBlocks(long block, ReadOnlySpan<byte> data)
    {
        if (block <= 0 || block + ((data.Length - 1) / _sb.BlockSize) >= _sb.BlocksCount)
        {
            FormatError.Throw("ext4 block", -1, $"refusing to write block {block}, outside the data area of the file system (a corrupt block pointer).");
        }

        int count = ((data.Length - 1) / _sb.BlockSize) + 1;
        CheckNotMetadata(block, count, "write");
        if (_reusedFreedBlocks && AnyFreedInTransaction(block, count))
        {
            _device.Write(block * _sb.BlockSize, data);
        }
        else
        {
            _transaction!.WriteThrough(block * _sb.BlockSize, data);
        }

        _bytesWritten += data.Length;
    }

    /// <summary>
    /// Allocates a contiguous run of 1..<paramref name="count"/> blocks, the first free one at or after
    /// <paramref name="goal"/> (wrapping around). Clears BLOCK_UNINIT, updates bitmaps and counters.
    /// </summary>
    /// <exception cref="IOException">No free block is left.</exception>
    internal long AllocateBlocks(long goal, int count, out int allocated)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        EnsureWritable();
        if (goal < _sb.FirstDataBlock || goal >= _sb.BlocksCount)
        {
            goal = _sb.FirstDataBlock;
        }

        uint groups = _sb.GroupCount;
        uint startGroup = GroupOfBlock(goal);
        int startBit = (int)((goal - _sb.FirstDataBlock) % _sb.BlocksPerGroup);

        // Blocks freed by the running transaction are reused only when nothing else is left: until its commit they
        // still belong to their old owner on the device, and data written to them in place would change that owner.
        for (int pass = 0; pass < 2; pass++)
        {
            for (uint i = 0; i <= groups; i++)
            {
                uint g = (startGroup + i) % groups;
                if (GroupFreeBlocks(g) == 0)
                {
                    continue;
                }

                byte[] bitmap = BlockBitmap(g);
                byte[]? freed = pass == 0 ? _freedInTransaction[g] : null;
                int n = BlocksInGroup(g);
                int bit = FindBit(bitmap, i == 0 ? startBit : 0, n, false);
                while (bit >= 0 && freed is not null && TestBit(freed, bit))
                {
                    int past = FindBit(freed, bit, n, false);
                    bit = past < 0 ? -1 : FindBit(bitmap, past, n, false);
                }

                if (bit < 0)
                {
                    continue;
                }

                int limit = Math.Min(n, bit + count);
                int end = FindBit(bitmap, bit, limit, true);
                if (freed is not null)
                {
                    int f = FindBit(freed, bit, end < 0 ? limit : end, true);
                    if (f >= 0)
                    {
                        end = f;
                    }
                }

                int run = (end < 0 ? limit : end) - bit;
                long first = GroupFirstBlock(g) + bit;
                CheckNotMetadata(first, run, "allocate");
                if (pass == 1 && AnyFreedInTransaction(first, run))
                {
                    _reusedFreedBlocks = true;
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
        EnsureWritable();
        if (count <= 0)
        {
            return;
        }

        if (start < _sb.FirstDataBlock || start > _sb.BlocksCount - count)
        {
            FormatError.Throw("ext4 block bitmap", -1, $"cannot free blocks {start}+{count}: outside the file system.");
        }

        CheckNotMetadata(start, count, "free");

        while (count > 0)
        {
            uint g = GroupOfBlock(start);
            int bit = (int)((start - _sb.FirstDataBlock) % _sb.BlocksPerGroup);
            int run = (int)Math.Min(count, BlocksInGroup(g) - bit);
            byte[] bitmap = BlockBitmap(g);
            if (FindBit(bitmap, bit, bit + run, false) >= 0)
            {
                FormatError.Throw("ext4 block bitmap", -1, $"group {g}: freeing blocks {start}+{run} that are already free (the file system is corrupt).");
            }

            MarkBlocks(g, bitmap, bit, run, used: false);
            SetBits(_freedInTransaction[g] ??= new byte[_sb.BlockSize], bit, run, true);
            start += run;
            count -= run;
        }
    }

    private void MarkBlocks(uint group, byte[] bitmap, int bit, int count, bool used)
    {
        SetBits(bitmap, bit, count, used);
        _blockBitmapDirty[group] = true;
        ushort flags = GroupFlags(group);
        if ((flags & BgBlockUninit) != 0)
        {
            SetGroupFlags(group, (ushort)(flags & ~BgBlockUninit));
        }

        uint free = GroupFreeBlocks(group);
        if (used && free < (uint)count)
        {
            FormatError.Throw("ext4 group descriptor", -1, $"group {group}: the free block count {free} disagrees with the bitmap.");
        }

        SetDescriptorCount(group, 0x0C, 0x2C, used ? free - (uint)count : free + (uint)count);
    }

    // ---- inodes ---------------------------------------------------------------------------------

    private long InodeOffset(uint number)
    {
        uint group = (number - 1) / _sb.InodesPerGroup;
        uint index = (number - 1) % _sb.InodesPerGroup;
        return (GroupInodeTable(group) * _sb.BlockSize) + ((long)index * _sb.InodeSize);
    }

    /// <summary>Recomputes the inode checksum (metadata_csum) and writes the inode to its table slot.</summary>
    internal void WriteInode(Ext4Inode inode)
    {
        EnsureWritable();

        // Inodes of files open for writing are written when the last stream closes or on Flush.
        if (_openCounts.ContainsKey(inode.Number))
        {
            _dirtyInodes.Add(inode);
            return;
        }

        WriteInodeNow(inode);
    }

    private void WriteInodeNow(Ext4Inode inode)
    {
        byte[] raw = inode.Raw;
        if (_sb.HasMetadataChecksum)
        {
            bool hasHi = raw.Length > 128 && inode.ExtraSize >= 4;
            uint c = Ext4Checksum.Inode(InodeSeed(inode.Number, inode.Generation), raw, hasHi);
            BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(0x7C), (ushort)c);
            if (hasHi)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(0x82), (ushort)(c >> 16));
            }
        }

        _device.Write(InodeOffset(inode.Number), raw);
        _bytesWritten += raw.Length;
    }

    /// <summary>
    /// Allocates an inode near <paramref name="parentDirectory"/> (directories spread over groups with room),
    /// marks it in the bitmap and counters, and returns it initialised in memory (not yet written):
    /// zeroed, mode, <c>i_extra_isize</c>, generation, all times now, <c>EXTENTS_FL</c> with an empty root
    /// for regular files and directories when the extents feature is on, link count 0.
    /// </summary>
    /// <exception cref="IOException">No free inode is left.</exception>
    internal Ext4Inode AllocateInode(uint parentDirectory, UnixFileType type, int permissionBits)
    {
        EnsureWritable();
        uint ipg = _sb.InodesPerGroup;
        uint groups = _sb.GroupCount;
        uint parentGroup = parentDirectory >= 1 && parentDirectory <= _sb.InodesCount ? (parentDirectory - 1) / ipg : 0;
        // Like the kernel's Orlov allocator, only top-level directories are spread over the groups.
        uint start = type == UnixFileType.Directory && parentDirectory == RootInode ? PickDirectoryGroup(parentGroup) : parentGroup;
        for (uint i = 0; i < groups; i++)
        {
            uint g = (start + i) % groups;
            if (GroupFreeInodes(g) == 0)
            {
                continue;
            }

            byte[] bitmap = InodeBitmap(g);
            int from = g == 0 ? (int)_sb.FirstInode - 1 : 0;
            int bit = FindBit(bitmap, from, (int)ipg, false);
            if (bit < 0)
            {
                continue;
            }

            CheckInodeSlotFree((g * ipg) + (uint)bit + 1, g, bit);
            SetBits(bitmap, bit, 1, true);
            _inodeBitmapDirty[g] = true;
            ushort flags = GroupFlags(g);
            if (HasUninitGroups)
            {
                if ((flags & BgInodeUninit) != 0)
                {
                    SetGroupFlags(g, (ushort)(flags & ~BgInodeUninit));
                }

                uint unused = GroupItableUnused(g);
                if (unused > ipg)
                {
                    FormatError.Throw("ext4 group descriptor", -1, $"group {g}: itable_unused {unused} exceeds the inodes per group.");
                }

                if ((uint)bit >= ipg - unused)
                {
                    SetDescriptorCount(g, 0x1C, 0x32, ipg - (uint)bit - 1);
                }
            }

            if (GroupFreeInodes(g) == 0)
            {
                FormatError.Throw("ext4 group descriptor", -1, $"group {g}: the free inode count disagrees with the bitmap.");
            }

            SetDescriptorCount(g, 0x0E, 0x2E, GroupFreeInodes(g) - 1);
            if (type == UnixFileType.Directory)
            {
                SetDescriptorCount(g, 0x10, 0x30, GroupUsedDirs(g) + 1);
            }

            uint number = (g * ipg) + (uint)bit + 1;
            var inode = new Ext4Inode(number, new byte[_sb.InodeSize]);
            InitializeNewInode(inode, type, permissionBits);
            _inodeCache[number] = inode;
            return inode;
        }

        throw new IOException("No free inodes left on the ext4 file system.");
    }

    /// <summary>Orlov-like: a group with at least average free inodes and blocks and the fewest directories, from the parent's on.</summary>
    private uint PickDirectoryGroup(uint parentGroup)
    {
        uint groups = _sb.GroupCount;
        long totalInodes = 0;
        long totalBlocks = 0;
        for (uint g = 0; g < groups; g++)
        {
            totalInodes += GroupFreeInodes(g);
            totalBlocks += GroupFreeBlocks(g);
        }

        long avgInodes = totalInodes / groups;
        long avgBlocks = totalBlocks / groups;
        uint best = parentGroup;
        uint bestDirs = uint.MaxValue;
        for (uint i = 0; i < groups; i++)
        {
            uint g = (parentGroup + i) % groups;
            uint freeInodes = GroupFreeInodes(g);
            if (freeInodes == 0 || freeInodes < avgInodes || GroupFreeBlocks(g) < avgBlocks)
            {
                continue;
            }

            uint dirs = GroupUsedDirs(g);
            if (dirs < bestDirs)
            {
                best = g;
                bestDirs = dirs;
            }
        }

        return best;
    }

    private void InitializeNewInode(Ext4Inode inode, UnixFileType type, int permissionBits)
    {
        byte[] raw = inode.Raw;
        inode.Mode = (ushort)((int)type | (permissionBits & 0xFFF));
        if (raw.Length > 128)
        {
            int want = BinaryPrimitives.ReadUInt16LittleEndian(_sbRaw.AsSpan(0x15E));
            int extra = want != 0 ? want : 32;
            extra = Math.Min(extra & ~3, raw.Length - 128);
            BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(0x80), (ushort)Math.Max(extra, Math.Min(32, raw.Length - 128)));
        }

        _generationState = (_generationState * 1664525) + 1013904223;
        inode.Generation = _generationState;
        UnixTime now = Now();
        inode.SetAccessTime(now);
        inode.SetChangeTime(now);
        inode.SetModificationTime(now);
        if (inode.HasExtraField(0x90))
        {
            inode.SetTime(0x90, 0x94, now);
        }

        if (type is UnixFileType.RegularFile or UnixFileType.Directory && HasExtentsFeature)
        {
            inode.Flags |= Ext4Inode.ExtentsFlag;
            Ext4ExtentNode.InitializeExtentRoot(inode);
        }
    }

    private bool HasExtentsFeature => (_sb.Incompatible & Ext4IncompatibleFeatures.Extents) != 0;

    /// <summary>Releases an inode whose blocks and xattrs are already freed: dtime, link count 0, bitmap and counters.</summary>
    internal void FreeInode(Ext4Inode inode)
    {
        EnsureWritable();
        uint number = inode.Number;
        if (number < _sb.FirstInode || number > _sb.InodesCount)
        {
            throw new InvalidOperationException($"Inode {number} is reserved and cannot be freed.");
        }

        bool isDir = inode.Type == UnixFileType.Directory;
        inode.LinksCount = 0;
        inode.DeletionTime = (uint)Math.Clamp(Now().Seconds, 1, uint.MaxValue);
        WriteInode(inode);
        uint g = (number - 1) / _sb.InodesPerGroup;
        int bit = (int)((number - 1) % _sb.InodesPerGroup);
        byte[] bitmap = InodeBitmap(g);
        if (!TestBit(bitmap, bit))
        {
            FormatError.Throw("ext4 inode bitmap", -1, $"inode {number} is already free (the file system is corrupt).");
        }

        SetBits(bitmap, bit, 1, false);
        _inodeBitmapDirty[g] = true;
        SetDescriptorCount(g, 0x0E, 0x2E, GroupFreeInodes(g) + 1);
        if (isDir)
        {
            uint dirs = GroupUsedDirs(g);
            SetDescriptorCount(g, 0x10, 0x30, dirs == 0 ? 0 : dirs - 1);
        }

        _inodeCache.Remove(number);
    }

    // ---- flush ----------------------------------------------------------------------------------

    /// <summary>Puts dirty inodes, bitmaps (with their checksums), descriptors and the superblock counters into the running transaction.</summary>
    private void FlushMetadata()
    {
        if (!_writable)
        {
            return;
        }

        int unlinked = 0;
        foreach (Ext4Inode inode in _dirtyInodes)
        {
            // An unlinked inode still open keeps its on-disk state until its last stream closes and releases it.
            if (inode.LinksCount == 0 && _pendingRelease.Contains(inode.Number))
            {
                unlinked++;
                continue;
            }

            WriteInodeNow(inode);
        }

        if (unlinked == 0)
        {
            _dirtyInodes.Clear();
        }
        else
        {
            _dirtyInodes.RemoveWhere(i => !(i.LinksCount == 0 && _pendingRelease.Contains(i.Number)));
        }

        if (!_metadataDirty)
        {
            return;
        }

        int bs = _sb.BlockSize;
        int descSize = _sb.DescriptorSize;
        int perBlock = bs / descSize;
        for (uint g = 0; g < _sb.GroupCount; g++)
        {
            if (_blockBitmapDirty[g] && _blockBitmaps[g] is { } bb)
            {
                long at = GroupBlockBitmap(g);
                _device.Write(at * bs, bb);
                if (_sb.HasMetadataChecksum)
                {
                    uint c = Ext4Checksum.Crc32C(_sb.ChecksumSeed, bb.AsSpan(0, (int)(_sb.BlocksPerGroup / 8)));
                    SetBitmapChecksum(g, 0x18, 0x38, c);
                }

                _blockBitmapDirty[g] = false;
                _descriptorDirty[g] = true;
            }

            if (_inodeBitmapDirty[g] && _inodeBitmaps[g] is { } ib)
            {
                long at = GroupInodeBitmap(g);
                _device.Write(at * bs, ib);
                if (_sb.HasMetadataChecksum)
                {
                    uint c = Ext4Checksum.Crc32C(_sb.ChecksumSeed, ib.AsSpan(0, (int)(_sb.InodesPerGroup / 8)));
                    SetBitmapChecksum(g, 0x1A, 0x3A, c);
                }

                _inodeBitmapDirty[g] = false;
                _descriptorDirty[g] = true;
            }

            if (_descriptorDirty[g])
            {
                Span<byte> d = Descriptor(g);
                if (HasUninitGroups)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(d[0x1E..], DescriptorChecksum(_sb, g, d));
                }

                _descriptorDirty[g] = false;
                _dirtyDescriptorBlocks.Add(g / perBlock);
            }
        }

        foreach (long i in _dirtyDescriptorBlocks)
        {
            _device.Write(DescriptorBlockNumber(_sb, i) * bs, _descriptors.AsSpan((int)(i * bs), bs));
        }

        _dirtyDescriptorBlocks.Clear();
        long freeBlocks = 0;
        long freeInodes = 0;
        for (uint g = 0; g < _sb.GroupCount; g++)
        {
            freeBlocks += GroupFreeBlocks(g);
            freeInodes += GroupFreeInodes(g);
        }

        Span<byte> s = _sbRaw;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x0C..], (uint)freeBlocks);
        if (_sb.Is64Bit)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(s[0x158..], (uint)(freeBlocks >> 32));
        }

        BinaryPrimitives.WriteUInt32LittleEndian(s[0x10..], (uint)freeInodes);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x30..], (uint)Math.Clamp(Now().Seconds, 0, uint.MaxValue));
        ulong kib = BinaryPrimitives.ReadUInt64LittleEndian(s[0x178..]);
        BinaryPrimitives.WriteUInt64LittleEndian(s[0x178..], kib + (ulong)(_bytesWritten >> 10));
        _bytesWritten &= 1023;
        WriteSuperblockToTransaction();
        _metadataDirty = false;
    }

    private void SetValidState(byte[] sb, bool valid)
    {
        Span<byte> s = sb;
        ushort state = BinaryPrimitives.ReadUInt16LittleEndian(s[0x3A..]);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x3A..], (ushort)(valid ? state | 0x1 : state & ~0x1));
        if (_sb.HasMetadataChecksum)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(s[0x3FC..], Ext4Checksum.Crc32C(~0u, s[..0x3FC]));
        }
    }

    private void SetBitmapChecksum(uint group, int lo, int hi, uint c)
    {
        Span<byte> d = Descriptor(group);
        BinaryPrimitives.WriteUInt16LittleEndian(d[lo..], (ushort)c);
        if (HasHighDescriptorFields)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(d[hi..], (ushort)(c >> 16));
        }
    }

    /// <summary>Sets a read-only-compatible feature in the superblock (e.g. large_file once a file reaches 2 GiB).</summary>
    private void SetReadOnlyCompatibleFeature(Ext4ReadOnlyCompatibleFeatures feature)
    {
        uint v = BinaryPrimitives.ReadUInt32LittleEndian(_sbRaw.AsSpan(0x64));
        if ((v & (uint)feature) == 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_sbRaw.AsSpan(0x64), v | (uint)feature);
            _metadataDirty = true;
        }
    }

    private bool HasReadOnlyCompatibleFeature(Ext4ReadOnlyCompatibleFeatures feature) =>
        (BinaryPrimitives.ReadUInt32LittleEndian(_sbRaw.AsSpan(0x64)) & (uint)feature) != 0;

    private void EnsureWritable()
    {
        if (!_writable)
        {
            PathResolver.ThrowReadOnly();
        }
    }
}
