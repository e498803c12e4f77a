using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

public sealed partial class Ext4FileSystem
{
    /// <summary>
    /// Writes an empty ext4 file system over the whole of <paramref name="device"/> (like <c>mke2fs -t ext4</c>):
    /// superblock and sparse_super backups, group descriptors, bitmaps with uninit flags, root directory,
    /// <c>lost+found</c> and an empty journal. Only metadata is written; inode tables and the journal are
    /// zeroed with <see cref="BlockDevice.WriteZeroes(long, long)"/> (holes on sparse files).
    /// </summary>
    /// <param name="device">A writable device; its length is the file-system size (rounded down to whole blocks).</param>
    /// <param name="options">Profile, geometry and the identifiers that make the result reproducible.</param>
    /// <exception cref="ArgumentException">The device is too small, or an option is out of range.</exception>
    /// <exception cref="NotSupportedException">The device is not writable, or the size needs what the profile lacks (e.g. more than 2^32 blocks without 64bit).</exception>
    public static void Format(BlockDevice device, Ext4FormatOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (!device.CanWrite)
        {
            throw new NotSupportedException("The device is not writable.");
        }

        new Ext4Formatter(device, options ?? new Ext4FormatOptions()).Run();
    }
}

/// <summary>Lays out and writes an empty ext4 file system (the work behind <see cref="Ext4FileSystem.Format"/>).</summary>
internal sealed class Ext4Formatter
{
    private const int FlexGroupSize = 16;
    private const uint FirstInode = 11;
    private const uint RootInode = 2;
    private const uint JournalInode = 8;
    private const uint ResizeInodeNumber = 7;
    private const uint OrphanBlockMagic = 0x0B10CA04;
    private const ushort BgInodeUninit = 0x1;
    private const ushort BgBlockUninit = 0x2;
    private const ushort BgInodeZeroed = 0x4;

    private readonly BlockDevice? _device;
    private readonly long _size;
    private readonly Ext4FormatOptions _o;
    private readonly int _bs;
    private readonly int _inodeSize;
    private readonly int _bytesPerInode;
    private readonly bool _metadataCsum;
    private readonly bool _is64;
    private readonly bool _csumSeedFeature;
    private readonly bool _orphanFile;
    private readonly int _descSize;
    private readonly uint _firstData;
    private long _bpg;
    private readonly List<(long Start, long Count)> _tables = [];
    private readonly List<(long Start, long Count)> _skip = [];
    private readonly List<(long Start, long Count)> _data = [];
    private readonly List<(long Start, long Count)> _journalExtents = [];
    private List<(long Start, long Count)> _orphanExtents = [];
    private readonly byte[] _uuidBytes = new byte[16];
    private long _blocks;
    private uint _groups;
    private uint _ipg;
    private long _itb;
    private long _gdtBlocks;
    private long _rsvGdt;
    private bool _resizeInode;
    private long _resizeDind;
    private long _cursor;
    private long[] _blockBitmap = [];
    private long[] _inodeBitmap = [];
    private long[] _inodeTable = [];
    private uint _checksumSeed;
    private int _skipIndex;
    private uint[] _inodesUsed = [];
    private uint[] _dirsUsed = [];
    private byte[]? _itBuffer;
    private uint _itGroup;
    private int _itHigh;
    private long _journalBlocks;
    private long _journalLeaf;
    private long _seconds;
    private uint _nanos;
    private Guid _hashSeed;
    private uint _orphanIno;

    public Ext4Formatter(BlockDevice device, Ext4FormatOptions options)
        : this(device, device.Length, options)
    {
    }

    /// <summary>A formatter for a file system of <paramref name="size"/> bytes; without a device only the layout can be planned.</summary>
    public Ext4Formatter(BlockDevice? device, long size, Ext4FormatOptions options)
    {
        _device = device;
        _size = size;
        _o = options;
        _bs = options.BlockSize ?? (size < 512L << 20 ? 1024 : 4096);
        _bytesPerInode = options.BytesPerInode ?? size switch
        {
            < 3L << 20 => 8192,
            < 512L << 20 => 4096,
            < 4L << 40 => 16384,
            < 16L << 40 => 32768,
            _ => 65536,
        };
        if (_bs is not (1024 or 2048 or 4096))
        {
            throw new ArgumentException($"Block size {_bs} is not 1024, 2048 or 4096.", nameof(options));
        }

        _inodeSize = options.InodeSize;
        if (_inodeSize is not (128 or 256))
        {
            throw new ArgumentException($"Inode size {_inodeSize} is not 128 or 256.", nameof(options));
        }

        if (_bytesPerInode < 1024 || _bytesPerInode > 64 * 1024 * 1024)
        {
            throw new ArgumentException("BytesPerInode must be between 1024 and 64 MiB.", nameof(options));
        }

        if (options.ReservedBlocksPercent is < 0 or > 50)
        {
            throw new ArgumentException("ReservedBlocksPercent must be between 0 and 50.", nameof(options));
        }

        if (Encoding.UTF8.GetByteCount(options.Label) > 16)
        {
            throw new ArgumentException("The label is longer than 16 bytes.", nameof(options));
        }

        if (options.Profile is not (Ext4FormatProfile.Debian12 or Ext4FormatProfile.Rhel7 or Ext4FormatProfile.Rhel8 or Ext4FormatProfile.Rhel9 or Ext4FormatProfile.Upstream))
        {
            throw new ArgumentException($"Unknown profile {options.Profile}.", nameof(options));
        }

        _metadataCsum = options.Profile != Ext4FormatProfile.Rhel7;
        _is64 = options.Profile != Ext4FormatProfile.Rhel7;
        _csumSeedFeature = options.Profile == Ext4FormatProfile.Upstream;
        _orphanFile = options.Profile == Ext4FormatProfile.Upstream;
        _descSize = _is64 ? 64 : 32;
        _firstData = _bs == 1024 ? 1u : 0u;
        _bpg = _bs * 8L;
    }

    /// <summary>Whether inodes have the extra part (nanoseconds, crtime, in-inode xattrs).</summary>
    public bool HasExtra => _inodeSize > 128;

    /// <summary>Block size in bytes.</summary>
    public int BlockSize => _bs;

    /// <summary>Inode size in bytes.</summary>
    public int InodeSize => _inodeSize;

    /// <summary>Whether the profile has metadata_csum (directory, extent and xattr checksum tails).</summary>
    public bool MetadataChecksum => _metadataCsum;

    /// <summary>The crc32c seed of the file system (from the UUID).</summary>
    public uint ChecksumSeed => _checksumSeed;

    /// <summary>Total number of inodes.</summary>
    public uint InodeCount => _ipg * _groups;

    /// <summary>Number of blocks in the file system.</summary>
    public long BlockCount => _blocks;

    /// <summary>The mkfs time (seconds since 1970).</summary>
    public long Seconds => _seconds;

    /// <summary>Descriptor blocks reserved after the descriptor table for growth (s_reserved_gdt_blocks; 0 without a resize inode, and possibly 0 with one).</summary>
    public long ReservedGdtBlocks => _rsvGdt;

    /// <summary>Blocks at the start of every group with a superblock backup: superblock, descriptors, reserved descriptors.</summary>
    private long BackupBlocks => 1 + _gdtBlocks + _rsvGdt;

    /// <summary>Blocks <c>lost+found</c> gets when the formatter creates it (16 KiB, 2 to 12 blocks, like mke2fs).</summary>
    public int LostAndFoundBlocks => Math.Min(12, Math.Max(2, 16384 / _bs));

    public void Run()
    {
        Layout();
        long rootBlock = AllocateRun(1).Start;
        List<(long Start, long Count)> lpf = AllocateExtents(LostAndFoundBlocks, 4);
        AllocateJournal();
        MarkInodeUsed(FirstInode, directory: true);
        BeginWriting();

        byte[] raw = new byte[_inodeSize];
        UnixTime now = new(_seconds, (int)_nanos);
        InitInode(raw, 0x41ED, 0, 0, 3, _bs, now, now, now, now);
        SetExtents(raw, [(rootBlock, 1)], 0);
        SetBlockCount(raw, 1);
        StoreInode(RootInode, raw);

        Array.Clear(raw);
        InitInode(raw, 0x41C0, 0, 0, 2, (long)LostAndFoundBlocks * _bs, now, now, now, now);
        SetExtents(raw, lpf, 0);
        SetBlockCount(raw, LostAndFoundBlocks);
        StoreInode(FirstInode, raw);

        byte[] block = new byte[_bs];
        int tail = _metadataCsum ? 12 : 0;
        int off = WriteDirEntry(block, 0, RootInode, 12, ".");
        off = WriteDirEntry(block, off, RootInode, 12, "..");
        WriteDirEntry(block, off, FirstInode, _bs - tail - off, "lost+found");
        SealDirBlock(RootInode, block);
        _device!.Write(rootBlock * _bs, block);
        WriteEmptyLostAndFound(lpf, RootInode);
        Finish();
    }

    /// <summary>Computes the geometry, places every group's tables and checks the journal size; writes nothing.</summary>
    /// <exception cref="ArgumentException">The size is too small for the metadata, or an option is out of range.</exception>
    public void Layout()
    {
        ComputeGeometry();
        _journalBlocks = _o.JournalBlocks ?? DefaultJournalBlocks(_blocks);
        if (_journalBlocks < 0 || (_journalBlocks > 0 && _journalBlocks < 1024))
        {
            throw new ArgumentException("JournalBlocks must be 0 or at least 1024.", nameof(_o));
        }

        DateTimeOffset ts = _o.Timestamp ?? DateTimeOffset.UtcNow;
        _seconds = ts.ToUnixTimeSeconds();
        if (_seconds is < 0 or > uint.MaxValue)
        {
            throw new ArgumentException("Timestamp must lie between 1970 and 2106 (the superblock's 32-bit time fields).", nameof(_o));
        }

        _nanos = (uint)((ts.UtcTicks % TimeSpan.TicksPerSecond) * 100);
        Guid uuid = _o.Uuid ?? Guid.NewGuid();
        _hashSeed = _o.HashSeed ?? Guid.NewGuid();
        uuid.TryWriteBytes(_uuidBytes, bigEndian: true, out _);
        _checksumSeed = Ext4Checksum.Crc32C(~0u, _uuidBytes);

        // Group tables: flex_bg packs the bitmaps and inode tables of 16 groups into the first group of each
        // flex group, after its backup region. Data goes everywhere else.
        _blockBitmap = new long[_groups];
        _inodeBitmap = new long[_groups];
        _inodeTable = new long[_groups];
        _inodesUsed = new uint[_groups];
        _dirsUsed = new uint[_groups];
        _inodesUsed[0] = FirstInode;
        _dirsUsed[0] = 1; // the root; inode 11 (lost+found) is counted by whoever fills it
        for (uint f = 0; f < _groups; f += FlexGroupSize)
        {
            PlaceFlexGroup(f);
        }

        for (uint g = 0; g < _groups; g++)
        {
            if (HasBackup(g))
            {
                _skip.Add((GroupStart(g), BackupBlocks));
            }
        }

        _skip.AddRange(_tables);
        _skip.Sort((a, b) => a.Start.CompareTo(b.Start));
        _cursor = _firstData;
    }

    /// <summary>
    /// Allocates the journal's blocks (at the cursor, in extents of at most 32768 blocks) and its extent leaf when it
    /// needs one, then the resize inode's double-indirect block and the orphan file's blocks when the options have them.
    /// </summary>
    public void AllocateJournal()
    {
        long remaining = _journalBlocks;
        while (remaining > 0)
        {
            (long s, long c) = AllocateRun(Math.Min(remaining, 32768));
            if (_journalExtents.Count > 0 && _journalExtents[^1].Start + _journalExtents[^1].Count == s && _journalExtents[^1].Count + c <= 32768)
            {
                _journalExtents[^1] = (_journalExtents[^1].Start, _journalExtents[^1].Count + c);
            }
            else
            {
                _journalExtents.Add((s, c));
            }

            remaining -= c;
        }

        // More than four extents do not fit in the inode: one leaf block under an index root (depth 1).
        if (_journalExtents.Count > 4)
        {
            if (_journalExtents.Count > (_bs - 12) / 12)
            {
                throw new NotSupportedException($"A journal of {_journalBlocks} blocks needs {_journalExtents.Count} extents, more than one extent leaf block holds. Set a smaller JournalBlocks.");
            }

            _journalLeaf = AllocateRun(1).Start;
        }

        if (_resizeInode)
        {
            _resizeDind = AllocateRun(1).Start;
        }

        if (_orphanFile && _journalBlocks > 0)
        {
            // Like mke2fs: one block per 4096 file-system blocks, at least 32 and at most 512. Without a journal
            // there is no orphan file (e2fsck rejects one).
            _orphanExtents = AllocateExtents(Math.Clamp(_blocks / 4096, 32, 512), 4);
        }
    }

    /// <summary>
    /// Allocates up to <paramref name="max"/> contiguous free blocks at the cursor (the cursor only moves forward),
    /// stopping before the next group table or backup region.
    /// </summary>
    /// <exception cref="Ext4NoSpaceException">No block is left.</exception>
    public (long Start, long Count) AllocateRun(long max)
    {
        while (true)
        {
            if (_cursor >= _blocks)
            {
                throw new Ext4NoSpaceException();
            }

            while (_skipIndex < _skip.Count && _skip[_skipIndex].Start + _skip[_skipIndex].Count <= _cursor)
            {
                _skipIndex++;
            }

            if (_skipIndex < _skip.Count && _skip[_skipIndex].Start <= _cursor)
            {
                _cursor = _skip[_skipIndex].Start + _skip[_skipIndex].Count;
                continue;
            }

            long limit = _skipIndex < _skip.Count ? Math.Min(_skip[_skipIndex].Start, _blocks) : _blocks;
            long count = Math.Min(max, limit - _cursor);
            long start = _cursor;
            if (_data.Count > 0 && _data[^1].Start + _data[^1].Count == start)
            {
                _data[^1] = (_data[^1].Start, _data[^1].Count + count);
            }
            else
            {
                _data.Add((start, count));
            }

            _cursor += count;
            return (start, count);
        }
    }

    /// <summary>Allocates <paramref name="count"/> blocks in at most <paramref name="maxExtents"/> runs.</summary>
    public List<(long Start, long Count)> AllocateExtents(long count, int maxExtents)
    {
        var list = new List<(long Start, long Count)>();
        while (count > 0)
        {
            if (list.Count == maxExtents)
            {
                throw new Ext4NoSpaceException();
            }

            (long s, long c) = AllocateRun(count);
            list.Add((s, c));
            count -= c;
        }

        return list;
    }

    /// <summary>Marks inode <paramref name="ino"/> in use (inodes are handed out in ascending order from 12).</summary>
    /// <exception cref="Ext4NoSpaceException">The number exceeds the inode count.</exception>
    public void MarkInodeUsed(uint ino, bool directory)
    {
        if (ino == 0 || ino > InodeCount)
        {
            throw new Ext4NoSpaceException();
        }

        uint g = (ino - 1) / _ipg;
        uint index = (ino - 1) % _ipg;
        _inodesUsed[g] = Math.Max(_inodesUsed[g], index + 1);

        // The root is counted from the start.
        if (directory && ino != RootInode)
        {
            _dirsUsed[g]++;
        }
    }

    /// <summary>Zeroes the inode tables; called once before the first <see cref="StoreInode"/>.</summary>
    public void BeginWriting()
    {
        for (uint g = 0; g < _groups; g++)
        {
            _device!.WriteZeroes(_inodeTable[g] * _bs, _itb * _bs);
        }
    }

    /// <summary>Seals the inode checksum and stores the inode (buffered per group; ascending order is cheapest).</summary>
    public void StoreInode(uint ino, Span<byte> raw)
    {
        SealInode(ino, raw);
        uint g = (ino - 1) / _ipg;
        int index = (int)((ino - 1) % _ipg);
        if (_itBuffer is null || g != _itGroup)
        {
            if (_itBuffer is not null && g < _itGroup)
            {
                // An inode of a group already flushed: write it alone.
                _device!.Write((_inodeTable[g] * _bs) + ((long)index * _inodeSize), raw);
                return;
            }

            FlushInodes();
            _itBuffer = new byte[(long)_ipg * _inodeSize];
            _itGroup = g;
            _itHigh = 0;
        }

        raw.CopyTo(_itBuffer.AsSpan(index * _inodeSize, _inodeSize));
        _itHigh = Math.Max(_itHigh, index + 1);
    }

    private void FlushInodes()
    {
        if (_itBuffer is null || _itHigh == 0)
        {
            return;
        }

        int bytes = (int)Math.Min((((long)_itHigh * _inodeSize) + _bs - 1) / _bs * _bs, _itBuffer.Length);
        _device!.Write(_inodeTable[_itGroup] * _bs, _itBuffer.AsSpan(0, bytes));
        _itHigh = 0;
    }

    /// <summary>
    /// Writes the reserved inodes, the journal, bitmaps, descriptors and superblocks (backups first, the primary
    /// last) from what was allocated and marked; the caller has stored inodes 2 and 11 and all of its own.
    /// </summary>
    public void Finish()
    {
        // Reserved inodes: times only, as mke2fs writes them; the journal inode.
        byte[] raw = new byte[_inodeSize];
        for (uint ino = 1; ino < FirstInode; ino++)
        {
            if (ino == RootInode)
            {
                continue;
            }

            Array.Clear(raw);
            if (ino == JournalInode && _journalBlocks > 0)
            {
                UnixTime now = new(_seconds, (int)_nanos);
                InitInode(raw, 0x8180, 0, 0, 1, _journalBlocks * _bs, now, now, now, now);
                SetExtents(raw, _journalExtents, _journalLeaf);
                SetBlockCount(raw, _journalBlocks + (_journalLeaf != 0 ? 1 : 0));
            }
            else if (ino == ResizeInodeNumber && _resizeInode)
            {
                FillResizeInode(raw);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(0x08), (uint)_seconds);
                BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(0x0C), (uint)_seconds);
                BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(0x10), (uint)_seconds);
            }

            StoreInode(ino, raw);
        }

        if (_orphanExtents.Count > 0)
        {
            _orphanIno = NextFreeInode();
            MarkInodeUsed(_orphanIno, directory: false);
            Array.Clear(raw);
            UnixTime now = new(_seconds, (int)_nanos);
            long orphanBlocks = 0;
            foreach ((long _, long count) in _orphanExtents)
            {
                orphanBlocks += count;
            }

            InitInode(raw, 0x8180, 0, 0, 1, orphanBlocks * _bs, now, now, now, now);
            SetExtents(raw, _orphanExtents, 0);
            SetBlockCount(raw, orphanBlocks);
            StoreInode(_orphanIno, raw);
        }

        FlushInodes();
        _itBuffer = null;
        WriteResizeBlocks();
        WriteOrphanBlocks();

        // Every used range in block order: group tables and allocations (backup regions are added per group).
        var ranges = new List<(long Start, long Count)>(_tables.Count + _data.Count);
        int ti = 0;
        int di = 0;
        while (ti < _tables.Count || di < _data.Count)
        {
            ranges.Add(di >= _data.Count || (ti < _tables.Count && _tables[ti].Start < _data[di].Start) ? _tables[ti++] : _data[di++]);
        }

        byte[] descriptors = new byte[_gdtBlocks * _bs];
        byte[] bitmap = new byte[_bs];
        long freeBlocksTotal = 0;
        long freeInodesTotal = 0;
        int rangeIndex = 0;
        for (uint g = 0; g < _groups; g++)
        {
            long gs = GroupStart(g);
            long ge = Math.Min(gs + _bpg, _blocks);
            Array.Clear(bitmap);
            long used = 0;
            if (HasBackup(g))
            {
                SetBits(bitmap, 0, BackupBlocks);
                used += BackupBlocks;
            }

            bool anyRange = false;
            while (rangeIndex < ranges.Count && ranges[rangeIndex].Start + ranges[rangeIndex].Count <= gs)
            {
                rangeIndex++;
            }

            for (int r = rangeIndex; r < ranges.Count && ranges[r].Start < ge; r++)
            {
                long s = Math.Max(ranges[r].Start, gs);
                long e = Math.Min(ranges[r].Start + ranges[r].Count, ge);
                if (e > s)
                {
                    SetBits(bitmap, s - gs, e - s);
                    used += e - s;
                    anyRange = true;
                }
            }

            if (ge - gs < _bs * 8L)
            {
                // Bits past the group's end (a short last group, or groups shrunk below 8 x block size) stay set.
                SetBits(bitmap, ge - gs, (_bs * 8L) - (ge - gs));
            }

            uint inodesUsed = _inodesUsed[g];
            ushort flags = BgInodeZeroed;
            if (g != 0)
            {
                if (inodesUsed == 0)
                {
                    flags |= BgInodeUninit;
                }

                if (!anyRange && g != _groups - 1)
                {
                    flags |= BgBlockUninit;
                }
            }

            // Bitmaps of uninitialised groups are computed by their readers: holes on sparse devices, so that
            // multi-TiB file systems cost only their used metadata.
            long freeBlocks = ge - gs - used;
            freeBlocksTotal += freeBlocks;
            WriteBitmap(_blockBitmap[g], bitmap, (flags & BgBlockUninit) != 0);
            uint blockBitmapCsum = Ext4Checksum.Crc32C(_checksumSeed, bitmap.AsSpan(0, (int)(_bpg / 8)));

            Array.Clear(bitmap);
            SetBits(bitmap, 0, inodesUsed);
            SetBits(bitmap, _ipg, (_bs * 8L) - _ipg);
            WriteBitmap(_inodeBitmap[g], bitmap, (flags & BgInodeUninit) != 0);
            uint inodeBitmapCsum = Ext4Checksum.Crc32C(_checksumSeed, bitmap.AsSpan(0, (int)(_ipg / 8)));

            uint freeInodes = _ipg - inodesUsed;
            freeInodesTotal += freeInodes;
            Span<byte> d = descriptors.AsSpan((int)(g * _descSize), _descSize);
            WriteSplit(d, 0x00, 0x20, (ulong)_blockBitmap[g]);
            WriteSplit(d, 0x04, 0x24, (ulong)_inodeBitmap[g]);
            WriteSplit(d, 0x08, 0x28, (ulong)_inodeTable[g]);
            WriteSplit16(d, 0x0C, 0x2C, (uint)freeBlocks);
            WriteSplit16(d, 0x0E, 0x2E, freeInodes);
            WriteSplit16(d, 0x10, 0x30, _dirsUsed[g]);
            BinaryPrimitives.WriteUInt16LittleEndian(d[0x12..], flags);
            if (_metadataCsum)
            {
                WriteSplit16(d, 0x18, 0x38, blockBitmapCsum);
                WriteSplit16(d, 0x1A, 0x3A, inodeBitmapCsum);
            }

            WriteSplit16(d, 0x1C, 0x32, freeInodes);
        }

        // Superblock.
        byte[] sb = new byte[Ext4SuperBlock.Size];
        BuildSuperblock(sb, freeBlocksTotal, freeInodesTotal);
        byte[] groupZeroSuper = (byte[])sb.Clone();
        SealSuperblock(groupZeroSuper, 0);
        Ext4SuperBlock parsed = Ext4SuperBlock.Parse(groupZeroSuper, _device!.Length, new Ext4OpenOptions());
        for (uint g = 0; g < _groups; g++)
        {
            Span<byte> d = descriptors.AsSpan((int)(g * _descSize), _descSize);
            BinaryPrimitives.WriteUInt16LittleEndian(d[0x1E..], Ext4FileSystem.DescriptorChecksum(parsed, g, d));
        }

        byte[] block = new byte[_bs];
        if (_journalBlocks > 0)
        {
            WriteJournal();
            if (_journalLeaf != 0)
            {
                int max = (_bs - 12) / 12;
                WriteExtents(block, _journalExtents, max);
                SealExtentBlock(JournalInode, block);
                _device.Write(_journalLeaf * _bs, block);
            }
        }

        // Backups first, the primary superblock last.
        for (uint g = _groups - 1; g > 0; g--)
        {
            if (HasBackup(g))
            {
                byte[] backup = (byte[])sb.Clone();
                SealSuperblock(backup, g);
                long gs = GroupStart(g);
                _device.Write(gs * _bs, backup);
                _device.Write((gs + 1) * _bs, descriptors);
            }
        }

        _device.Write((_firstData + 1) * _bs, descriptors);
        _device.Write(Ext4SuperBlock.Offset, groupZeroSuper);
        _device.Flush();
    }

    private void WriteBitmap(long block, byte[] bitmap, bool uninit)
    {
        if (uninit)
        {
            _device!.WriteZeroes(block * _bs, _bs);
        }
        else
        {
            _device!.Write(block * _bs, bitmap);
        }
    }

    /// <summary>The inode after the highest one in use (the orphan file's: 12 after a plain format).</summary>
    private uint NextFreeInode()
    {
        for (long g = _groups - 1; g >= 0; g--)
        {
            if (_inodesUsed[g] > 0)
            {
                long ino = (g * _ipg) + _inodesUsed[g] + 1;
                if (ino > InodeCount)
                {
                    throw new Ext4NoSpaceException();
                }

                return (uint)ino;
            }
        }

        return FirstInode;
    }

    /// <summary>
    /// Inode 7 as e2fsck expects it: a regular file (0600, one link, no extents) whose double-indirect block lists
    /// the reserved descriptor blocks of group 0, each serving as an indirect block that lists its copies in the
    /// backup groups; i_size spans the whole double-indirect range.
    /// </summary>
    private void FillResizeInode(Span<byte> raw)
    {
        long perBlock = _bs / 4;
        long size = (12 + perBlock + (perBlock * perBlock)) * _bs;
        UnixTime now = new(_seconds, 0);
        InitInode(raw, 0x8180, 0, 0, 1, size, now, now, now, now);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[(0x28 + (13 * 4))..], (uint)_resizeDind);
        SetBlockCount(raw, 1 + (_rsvGdt * (1 + BackupGroupCount())));
    }

    private int BackupGroupCount()
    {
        int n = 0;
        for (uint g = 1; g < _groups; g++)
        {
            if (HasBackup(g))
            {
                n++;
            }
        }

        return n;
    }

    /// <summary>Writes the resize inode's double-indirect block and group 0's reserved descriptor blocks; zeroes the backups' copies.</summary>
    private void WriteResizeBlocks()
    {
        if (!_resizeInode)
        {
            return;
        }

        long perBlock = _bs / 4;
        long first = _firstData + 1 + _gdtBlocks;
        byte[] dind = new byte[_bs];
        byte[] reserved = new byte[_rsvGdt * _bs];
        for (long i = 0; i < _rsvGdt; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(dind.AsSpan((int)(((_gdtBlocks + i) % perBlock) * 4)), (uint)(first + i));
            Span<byte> ind = reserved.AsSpan((int)(i * _bs), _bs);
            int j = 0;
            for (uint g = 1; g < _groups; g++)
            {
                if (HasBackup(g))
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(ind[(j * 4)..], (uint)(GroupStart(g) + 1 + _gdtBlocks + i));
                    j++;
                }
            }
        }

        _device!.Write(_resizeDind * _bs, dind);
        _device.Write(first * _bs, reserved);
        for (uint g = 1; g < _groups; g++)
        {
            if (HasBackup(g))
            {
                _device.WriteZeroes((GroupStart(g) + 1 + _gdtBlocks) * _bs, _rsvGdt * _bs);
            }
        }
    }

    /// <summary>Writes the orphan file's blocks: no entries, a tail with the magic and the block's crc32c.</summary>
    private void WriteOrphanBlocks()
    {
        if (_orphanIno == 0)
        {
            return;
        }

        uint seed = InodeSeed(_orphanIno);
        byte[] block = new byte[_bs];
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(_bs - 8), OrphanBlockMagic);
        foreach ((long start, long count) in _orphanExtents)
        {
            byte[] run = new byte[count * _bs];
            for (long b = 0; b < count; b++)
            {
                long phys = start + b;
                uint c = Ext4Checksum.Crc32C(Ext4Checksum.Crc32C(seed, (uint)phys), (uint)(phys >> 32));
                c = Ext4Checksum.Crc32C(c, block.AsSpan(0, _bs - 8));
                BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(_bs - 4), c);
                block.CopyTo(run, b * _bs);
            }

            _device!.Write(start * _bs, run);
        }
    }

    /// <summary>Writes the blocks of an empty <c>lost+found</c> ("." and ".." in the first, empty entries after).</summary>
    public void WriteEmptyLostAndFound(List<(long Start, long Count)> extents, uint parent)
    {
        byte[] block = new byte[_bs];
        int tail = _metadataCsum ? 12 : 0;
        int off = WriteDirEntry(block, 0, FirstInode, 12, ".");
        WriteDirEntry(block, off, parent, _bs - tail - off, "..");
        SealDirBlock(FirstInode, block);
        bool first = true;
        foreach ((long start, long count) in extents)
        {
            for (long i = 0; i < count; i++)
            {
                _device!.Write((start + i) * _bs, block);
                if (first)
                {
                    first = false;
                    Array.Clear(block);
                    BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(4), (ushort)(_bs - tail));
                    SealDirBlock(FirstInode, block);
                }
            }
        }
    }

    private void PlaceFlexGroup(uint f)
    {
        uint n = Math.Min(FlexGroupSize, _groups - f);
        _cursor = Math.Max(_cursor, GroupStart(f));
        for (uint i = 0; i < n; i++)
        {
            _blockBitmap[f + i] = PlaceTable(1);
        }

        for (uint i = 0; i < n; i++)
        {
            _inodeBitmap[f + i] = PlaceTable(1);
        }

        for (uint i = 0; i < n; i++)
        {
            _inodeTable[f + i] = PlaceTable(_itb);
        }
    }

    /// <summary>Places <paramref name="count"/> contiguous table blocks at the table cursor, past any backup region.</summary>
    private long PlaceTable(long count)
    {
        while (true)
        {
            uint g = (uint)((_cursor - _firstData) / _bpg);
            long gs = GroupStart(g);
            if (HasBackup(g) && _cursor < gs + BackupBlocks)
            {
                _cursor = gs + BackupBlocks;
                continue;
            }

            long end = _cursor + count;
            bool moved = false;
            for (uint h = g + 1; h < _groups && GroupStart(h) < end; h++)
            {
                if (HasBackup(h))
                {
                    _cursor = GroupStart(h);
                    moved = true;
                    break;
                }
            }

            if (moved)
            {
                continue;
            }

            if (end > _blocks)
            {
                throw new ArgumentException($"The size ({_size} bytes) is too small for the file-system metadata.");
            }

            if (_tables.Count > 0 && _tables[^1].Start + _tables[^1].Count == _cursor)
            {
                _tables[^1] = (_tables[^1].Start, _tables[^1].Count + count);
            }
            else
            {
                _tables.Add((_cursor, count));
            }

            _cursor = end;
            return end - count;
        }
    }

    private void ComputeGeometry()
    {
        long blocks = _size / _bs;
        if (!_is64 && blocks > uint.MaxValue)
        {
            blocks = uint.MaxValue;
        }

        if (blocks < 64 + _firstData)
        {
            throw new ArgumentException($"The device is too small for an ext4 file system ({_size} bytes).");
        }

        int inodesPerBlock = _bs / _inodeSize;

        // Like mke2fs: with blocks smaller than a 4 KiB page, the count is rounded down to whole pages.
        if (_bs < 4096)
        {
            blocks &= ~((4096L / _bs) - 1);
        }

        // Like mke2fs: the inode count comes from the size asked for, once; dropping a too-small last
        // group below does not lower it (those inodes spread over the other groups).
        long requestedBlocks = blocks;
        long inodes = Math.Max(blocks * _bs / _bytesPerInode, 12);
        while (true)
        {
            long groups = (blocks - _firstData + _bpg - 1) / _bpg;
            long ipg = (inodes + groups - 1) / groups;
            if (ipg > _bs * 8L)
            {
                // More inodes than an inode bitmap holds: mke2fs shrinks the groups by 8 blocks and retries.
                if (_bpg < 256)
                {
                    throw new ArgumentException("Too many inodes for this size and block size.");
                }

                _bpg -= 8;
                blocks = requestedBlocks;
                continue;
            }

            ipg = Math.Min(ipg, 65536 - inodesPerBlock);

            // Fill whole inode-table blocks, then keep a multiple of 8 (the bitmap code needs it).
            ipg = (ipg * _inodeSize + _bs - 1) / _bs * _bs / _inodeSize;
            ipg = Math.Max(ipg, 8) & ~7L;
            if (ipg * groups > uint.MaxValue)
            {
                ipg = (uint.MaxValue / groups) & ~7L;
            }

            long itb = ((ipg * _inodeSize) + _bs - 1) / _bs;
            long gdtBlocks = ((groups * _descSize) + _bs - 1) / _bs;
            long rsv = ReservedGdtFor(blocks, gdtBlocks);
            if (1 + gdtBlocks + rsv + 2 + itb + 64 > _bpg)
            {
                rsv = Math.Max(0, _bpg - (1 + gdtBlocks + 2 + itb + 64));
            }

            long lastSize = blocks - _firstData - ((groups - 1) * _bpg);
            _groups = (uint)groups;
            long overhead = (HasBackup(_groups - 1) ? 1 + gdtBlocks + rsv : 0) + 2 + itb;
            if (groups > 1 && lastSize < overhead + 50)
            {
                blocks = _firstData + ((groups - 1) * _bpg);
                continue;
            }

            if (1 + gdtBlocks + 2 + itb + 64 > _bpg)
            {
                throw new NotSupportedException($"{groups} block groups need {gdtBlocks} descriptor blocks, more than a group holds; such sizes need meta_bg, which Format does not write. Use a larger block size.");
            }

            _blocks = blocks;
            _ipg = (uint)ipg;
            _itb = itb;
            _gdtBlocks = gdtBlocks;
            _rsvGdt = rsv;

            // Like mke2fs: the resize inode stays (possibly with nothing reserved) below 2^32 blocks.
            _resizeInode = _o.ResizeInode && blocks <= uint.MaxValue;
            return;
        }
    }

    /// <summary>
    /// The descriptor blocks mke2fs reserves for growth: enough for 1024 times the blocks (at most 2^32 - 1 blocks),
    /// less those in use, at most one indirect block's worth; 0 without the resize inode.
    /// </summary>
    private long ReservedGdtFor(long blocks, long gdtBlocks)
    {
        if (!_o.ResizeInode || blocks > uint.MaxValue)
        {
            return 0;
        }

        long maxBlocks = Math.Min(uint.MaxValue, blocks * 1024);
        long groups = (maxBlocks - _firstData + _bpg - 1) / _bpg;
        long perBlock = _bs / _descSize;
        long rsv = ((groups + perBlock - 1) / perBlock) - gdtBlocks;
        return Math.Clamp(rsv, 0, _bs / 4);
    }

    private long GroupStart(uint g) => _firstData + (g * _bpg);

    private bool HasBackup(uint g) =>
        g <= 1 || (g % 2 == 1 && (IsPowerOf(g, 3) || IsPowerOf(g, 5) || IsPowerOf(g, 7)));

    private static bool IsPowerOf(uint value, uint b)
    {
        ulong p = b;
        while (p < value)
        {
            p *= b;
        }

        return p == value;
    }

    private static long DefaultJournalBlocks(long blocks) => blocks switch
    {
        < 2048 => 0,
        < 32768 => 1024,
        < 256 * 1024 => 4096,
        < 512 * 1024 => 8192,
        < 4096 * 1024 => 16384,
        < 8192 * 1024 => 32768,
        < 16384 * 1024 => 65536,
        < 32768 * 1024 => 131072,
        _ => 262144,
    };

    private static void SetBits(byte[] bitmap, long first, long count)
    {
        long i = first;
        long end = first + count;
        while (i < end && (i & 7) != 0)
        {
            bitmap[i >> 3] |= (byte)(1 << (int)(i & 7));
            i++;
        }

        long wholeBytes = (end - i) >> 3;
        if (wholeBytes > 0)
        {
            bitmap.AsSpan((int)(i >> 3), (int)wholeBytes).Fill(0xFF);
            i += wholeBytes << 3;
        }

        while (i < end)
        {
            bitmap[i >> 3] |= (byte)(1 << (int)(i & 7));
            i++;
        }
    }

    private void WriteSplit(Span<byte> d, int lo, int hi, ulong value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d[lo..], (uint)value);
        if (_descSize >= 64)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(d[hi..], (uint)(value >> 32));
        }
    }

    private void WriteSplit16(Span<byte> d, int lo, int hi, uint value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(d[lo..], (ushort)value);
        if (_descSize >= 64)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(d[hi..], (ushort)(value >> 16));
        }
    }

    private void BuildSuperblock(byte[] sb, long freeBlocks, long freeInodes)
    {
        byte[] uuidBytes = _uuidBytes;
        Guid hashSeed = _hashSeed;
        long seconds = _seconds;
        long journalBlocks = _journalBlocks;
        List<(long Start, long Count)> journalExtents = _journalExtents;
        long journalLeaf = _journalLeaf;
        Span<byte> s = sb;
        long reserved = _blocks * _o.ReservedBlocksPercent / 100;
        uint inodes = _ipg * _groups;
        int log = BitOperations.Log2((uint)_bs) - 10;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x00..], inodes);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x04..], (uint)_blocks);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x08..], (uint)reserved);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x0C..], (uint)freeBlocks);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x10..], (uint)freeInodes);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x14..], _firstData);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x18..], (uint)log);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x1C..], (uint)log);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x20..], (uint)_bpg);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x24..], (uint)_bpg);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x28..], _ipg);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x30..], (uint)seconds);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x36..], 0xFFFF);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x38..], Ext4SuperBlock.Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x3A..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x3C..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x40..], (uint)seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x4C..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x54..], FirstInode);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x58..], (ushort)_inodeSize);

        var compat = Ext4CompatibleFeatures.ExtendedAttributes | Ext4CompatibleFeatures.DirIndex;
        if (journalBlocks > 0)
        {
            compat |= Ext4CompatibleFeatures.HasJournal;
        }

        if (_resizeInode)
        {
            compat |= Ext4CompatibleFeatures.ResizeInode;
            BinaryPrimitives.WriteUInt16LittleEndian(s[0xCE..], (ushort)_rsvGdt);
        }

        if (_orphanIno != 0)
        {
            compat |= Ext4CompatibleFeatures.OrphanFile;
            BinaryPrimitives.WriteUInt32LittleEndian(s[0x280..], _orphanIno);
        }

        var incompat = Ext4IncompatibleFeatures.FileType | Ext4IncompatibleFeatures.Extents | Ext4IncompatibleFeatures.FlexBlockGroups;
        if (_is64)
        {
            incompat |= Ext4IncompatibleFeatures.SixtyFourBit;
        }

        if (_csumSeedFeature)
        {
            incompat |= Ext4IncompatibleFeatures.ChecksumSeed;
            BinaryPrimitives.WriteUInt32LittleEndian(s[0x270..], _checksumSeed);
        }

        var ro = Ext4ReadOnlyCompatibleFeatures.SparseSuper | Ext4ReadOnlyCompatibleFeatures.LargeFile |
            Ext4ReadOnlyCompatibleFeatures.HugeFile | Ext4ReadOnlyCompatibleFeatures.DirNLink;
        if (HasExtra)
        {
            ro |= Ext4ReadOnlyCompatibleFeatures.ExtraInodeSize;
        }

        ro |= _metadataCsum ? Ext4ReadOnlyCompatibleFeatures.MetadataChecksum : Ext4ReadOnlyCompatibleFeatures.GroupDescriptorChecksum;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x5C..], (uint)compat);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x60..], (uint)incompat);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x64..], (uint)ro);
        uuidBytes.CopyTo(s[0x68..]);
        Encoding.UTF8.GetBytes(_o.Label, s.Slice(0x78, 16));
        if (journalBlocks > 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(s[0xE0..], JournalInode);
        }

        hashSeed.TryWriteBytes(s.Slice(0xEC, 16), bigEndian: true, out _);
        s[0xFC] = 1; // half_md4
        s[0xFD] = journalBlocks > 0 ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt16LittleEndian(s[0xFE..], _is64 ? (ushort)_descSize : (ushort)0);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x100..], 0x000C); // user_xattr, acl
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x108..], (uint)seconds);
        if (journalBlocks > 0)
        {
            Span<byte> iblock = stackalloc byte[60];
            iblock.Clear();
            if (journalLeaf != 0)
            {
                WriteIndexRoot(iblock, journalLeaf);
            }
            else
            {
                WriteExtents(iblock, journalExtents, 4);
            }
            iblock.CopyTo(s[0x10C..]);
            long size = journalBlocks * _bs;
            BinaryPrimitives.WriteUInt32LittleEndian(s[(0x10C + 60)..], (uint)(size >> 32));
            BinaryPrimitives.WriteUInt32LittleEndian(s[(0x10C + 64)..], (uint)size);
        }

        if (_is64)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(s[0x150..], (uint)(_blocks >> 32));
            BinaryPrimitives.WriteUInt32LittleEndian(s[0x154..], (uint)(reserved >> 32));
            BinaryPrimitives.WriteUInt32LittleEndian(s[0x158..], (uint)(freeBlocks >> 32));
        }

        if (HasExtra)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(s[0x15C..], 32);
            BinaryPrimitives.WriteUInt16LittleEndian(s[0x15E..], 32);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(s[0x160..], 1); // signed directory hash
        s[0x174] = (byte)BitOperations.Log2(FlexGroupSize);
        if (_metadataCsum)
        {
            s[0x175] = 1; // crc32c
        }
    }

    private void SealSuperblock(byte[] sb, uint group)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(sb.AsSpan(0x5A), (ushort)group);
        if (_metadataCsum)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(sb.AsSpan(0x3FC), Ext4Checksum.Crc32C(~0u, sb.AsSpan(0, 0x3FC)));
        }
    }

    private static void WriteIndexRoot(Span<byte> iblock, long leafBlock)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(iblock, 0xF30A);
        BinaryPrimitives.WriteUInt16LittleEndian(iblock[2..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(iblock[4..], 4);
        BinaryPrimitives.WriteUInt16LittleEndian(iblock[6..], 1); // depth
        BinaryPrimitives.WriteUInt32LittleEndian(iblock[12..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(iblock[16..], (uint)leafBlock);
        BinaryPrimitives.WriteUInt16LittleEndian(iblock[20..], (ushort)(leafBlock >> 32));
    }

    private static void WriteExtents(Span<byte> node, List<(long Start, long Count)> extents, int max)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(node, 0xF30A);
        BinaryPrimitives.WriteUInt16LittleEndian(node[2..], (ushort)extents.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(node[4..], (ushort)max);
        uint logical = 0;
        for (int i = 0; i < extents.Count; i++)
        {
            Span<byte> e = node[(12 + (i * 12))..];
            BinaryPrimitives.WriteUInt32LittleEndian(e, logical);
            BinaryPrimitives.WriteUInt16LittleEndian(e[4..], (ushort)extents[i].Count);
            BinaryPrimitives.WriteUInt16LittleEndian(e[6..], (ushort)(extents[i].Start >> 32));
            BinaryPrimitives.WriteUInt32LittleEndian(e[8..], (uint)extents[i].Start);
            logical += (uint)extents[i].Count;
        }
    }

    /// <summary>Fills the common inode fields (the caller sets <c>i_block</c>, flags and the block count).</summary>
    public void InitInode(Span<byte> raw, ushort mode, uint uid, uint gid, ushort links, long size, UnixTime atime, UnixTime ctime, UnixTime mtime, UnixTime crtime)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(raw, mode);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x02..], (ushort)uid);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x04..], (uint)size);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x18..], (ushort)gid);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x1A..], links);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x6C..], (uint)(size >> 32));
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x78..], (ushort)(uid >> 16));
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x7A..], (ushort)(gid >> 16));
        SetTime(raw, 0x08, 0x8C, atime);
        SetTime(raw, 0x0C, 0x84, ctime);
        SetTime(raw, 0x10, 0x88, mtime);
        if (HasExtra)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(raw[0x80..], 32);
            SetTime(raw, 0x90, 0x94, crtime);
        }
    }

    /// <summary>
    /// Stores a time as ext4 does: 32 signed bits of seconds plus, with large inodes, 2 epoch bits and 30 bits of
    /// nanoseconds (1901–2446). Times outside the range are clamped; 128-byte inodes keep whole seconds in 1901–2038.
    /// </summary>
    private void SetTime(Span<byte> raw, int secondsOffset, int extraOffset, UnixTime t)
    {
        long seconds = t.Seconds;
        if (HasExtra)
        {
            seconds = Math.Clamp(seconds, int.MinValue, (3L << 32) + int.MaxValue);
            uint extra = ((uint)((seconds - (int)seconds) >> 32) & 3) | ((uint)t.Nanoseconds << 2);
            BinaryPrimitives.WriteUInt32LittleEndian(raw[extraOffset..], extra);
        }
        else
        {
            seconds = Math.Clamp(seconds, int.MinValue, int.MaxValue);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(raw[secondsOffset..], (uint)seconds);
    }

    /// <summary>Sets <c>i_blocks</c> (512-byte units) from a count of file-system blocks.</summary>
    public void SetBlockCount(Span<byte> raw, long fsBlocks)
    {
        long sectors = fsBlocks * (_bs / 512);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x1C..], (uint)sectors);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x74..], (ushort)(sectors >> 32));
    }

    /// <summary>Sets <c>EXTENTS_FL</c> and an in-inode extent root: up to four extents, or an index to one leaf block.</summary>
    private static void SetExtents(Span<byte> raw, List<(long Start, long Count)> extents, long leafBlock)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x20..], Ext4Inode.ExtentsFlag);
        if (leafBlock != 0)
        {
            WriteIndexRoot(raw.Slice(0x28, 60), leafBlock);
        }
        else
        {
            WriteExtents(raw.Slice(0x28, 60), extents, 4);
        }
    }

    /// <summary>Writes the checksum tail of an extent-tree block (after <c>eh_max</c> entries).</summary>
    public void SealExtentBlock(uint ino, Span<byte> block)
    {
        if (!_metadataCsum)
        {
            return;
        }

        int tailOffset = 12 + (BinaryPrimitives.ReadUInt16LittleEndian(block[4..]) * 12);
        BinaryPrimitives.WriteUInt32LittleEndian(block[tailOffset..], Ext4Checksum.Crc32C(InodeSeed(ino), block[..tailOffset]));
    }

    public uint InodeSeed(uint ino) => Ext4Checksum.InodeSeed(_checksumSeed, ino, 0);

    public void SealInode(uint ino, Span<byte> raw)
    {
        if (!_metadataCsum)
        {
            return;
        }

        bool hasHi = raw.Length > 128 && BinaryPrimitives.ReadUInt16LittleEndian(raw[0x80..]) >= 4;
        uint c = Ext4Checksum.Inode(InodeSeed(ino), raw, hasHi);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x7C..], (ushort)c);
        if (hasHi)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(raw[0x82..], (ushort)(c >> 16));
        }
    }

    public static int WriteDirEntry(byte[] block, int off, uint ino, int recLen, string name)
    {
        Span<byte> e = block.AsSpan(off);
        BinaryPrimitives.WriteUInt32LittleEndian(e, ino);
        BinaryPrimitives.WriteUInt16LittleEndian(e[4..], (ushort)recLen);
        e[6] = (byte)name.Length;
        e[7] = 2; // directory
        Encoding.ASCII.GetBytes(name, e[8..]);
        return off + recLen;
    }

    /// <summary>Writes the checksum tail (the last 12 bytes) of a directory leaf block when metadata_csum is on.</summary>
    public void SealDirBlock(uint ino, Span<byte> block)
    {
        if (!_metadataCsum)
        {
            return;
        }

        Span<byte> t = block[(_bs - 12)..];
        t.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(t[4..], 12);
        t[7] = 0xDE;
        BinaryPrimitives.WriteUInt32LittleEndian(t[8..], Ext4Checksum.Crc32C(InodeSeed(ino), block[..(_bs - 12)]));
    }

    private void WriteJournal()
    {
        List<(long Start, long Count)> extents = _journalExtents;
        byte[] uuidBytes = _uuidBytes;
        long journalBlocks = _journalBlocks;
        foreach ((long start, long count) in extents)
        {
            _device!.WriteZeroes(start * _bs, count * _bs);
        }

        byte[] j = new byte[_bs];
        Span<byte> s = j;
        BinaryPrimitives.WriteUInt32BigEndian(s, 0xC03B3998);
        BinaryPrimitives.WriteUInt32BigEndian(s[0x04..], 4); // superblock v2
        BinaryPrimitives.WriteUInt32BigEndian(s[0x0C..], (uint)_bs);
        BinaryPrimitives.WriteUInt32BigEndian(s[0x10..], (uint)journalBlocks);
        BinaryPrimitives.WriteUInt32BigEndian(s[0x14..], 1); // first log block
        BinaryPrimitives.WriteUInt32BigEndian(s[0x18..], 1); // sequence
        uuidBytes.CopyTo(s[0x30..]);
        BinaryPrimitives.WriteUInt32BigEndian(s[0x40..], 1); // nr_users
        _device!.Write(extents[0].Start * _bs, j);
    }
}

/// <summary>
/// The planned contents do not fit in the file system being laid out. An <see cref="IOException"/>, so
/// that a caller of <c>Build</c> sees the documented exception type even when it escapes the write stage.
/// </summary>
internal sealed class Ext4NoSpaceException : IOException
{
    public Ext4NoSpaceException()
        : base("The file system is full: the tree does not fit in the device.")
    {
    }
}
