using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>Lays out and writes an empty ext4 file system (the work behind <see cref="Ext4FileSystem.Format"/>).</summary>
internal sealed class Ext4Formatter
{
    internal const int FlexGroupSize = 16;
    internal const uint FirstInode = 11;
    internal const uint RootInode = 2;
    internal const uint JournalInode = 8;
    internal const uint ResizeInodeNumber = 7;
    internal const uint OrphanBlockMagic = 0x0B10CA04;
    internal const ushort BgInodeUninit = 0x1;
    internal const ushort BgBlockUninit = 0x2;
    internal const ushort BgInodeZeroed = 0x4;

    internal readonly BlockDevice? _device;
    internal readonly long _size;
    internal readonly Ext4FormatOptions _o;
    internal readonly int _bs;
    internal readonly int _inodeSize;
    internal readonly int _bytesPerInode;
    internal readonly bool _metadataCsum;
    internal readonly bool _is64;
    internal readonly bool _csumSeedFeature;
    private readonly bool _orphanFile;
    internal readonly int _descSize;
    internal readonly uint _firstData;
    internal long _bpg;
    internal readonly List<(long Start, long Count)> _tables = [];
    private readonly List<(long Start, long Count)> _skip = [];
    internal readonly List<(long Start, long Count)> _data = [];
    internal readonly List<(long Start, long Count)> _journalExtents = [];
    internal List<(long Start, long Count)> _orphanExtents = [];
    internal readonly byte[] _uuidBytes = new byte[16];
    internal long _blocks;
    internal uint _groups;
    internal uint _ipg;
    internal long _itb;
    internal long _gdtBlocks;
    internal long _rsvGdt;
    internal bool _resizeInode;
    internal long _resizeDind;
    private long _cursor;
    internal long[] _blockBitmap = [];
    internal long[] _inodeBitmap = [];
    internal long[] _inodeTable = [];
    internal uint _checksumSeed;
    private int _skipIndex;
    internal uint[] _inodesUsed = [];
    internal uint[] _dirsUsed = [];
    internal byte[]? _itBuffer;
    private uint _itGroup;
    private int _itHigh;
    internal long _journalBlocks;
    internal long _journalLeaf;
    internal long _seconds;
    internal uint _nanos;
    internal Guid _hashSeed;
    internal uint _orphanIno;
    private Ext4FormatInodeWriter? _inodes;
    private Ext4FormatSuperblockWriter? _superblocks;
    private Ext4FormatSpecialBlocks? _specialBlocks;
    private Ext4FormatGeometry? _geometry;
    private Ext4FormatMetadataWriter? _metadata;

    /// <summary>Fills and seals raw inodes and metadata blocks.</summary>
    public Ext4FormatInodeWriter Inodes => _inodes ??= new Ext4FormatInodeWriter(this);

    /// <summary>Fills and seals the superblock copies.</summary>
    public Ext4FormatSuperblockWriter Superblocks => _superblocks ??= new Ext4FormatSuperblockWriter(this);

    /// <summary>Writes the content of the special inodes.</summary>
    public Ext4FormatSpecialBlocks SpecialBlocks => _specialBlocks ??= new Ext4FormatSpecialBlocks(this);

    /// <summary>Computes the geometry.</summary>
    public Ext4FormatGeometry Geometry => _geometry ??= new Ext4FormatGeometry(this);

    /// <summary>Writes the closing metadata (bitmaps, descriptors, superblocks).</summary>
    public Ext4FormatMetadataWriter Metadata => _metadata ??= new Ext4FormatMetadataWriter(this);

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
    internal long BackupBlocks => 1 + _gdtBlocks + _rsvGdt;

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
        Inodes.InitInode(raw, 0x41ED, 0, 0, 3, _bs, now, now, now, now);
        Ext4FormatInodeWriter.SetExtents(raw, [(rootBlock, 1)], 0);
        Inodes.SetBlockCount(raw, 1);
        StoreInode(RootInode, raw);

        Array.Clear(raw);
        Inodes.InitInode(raw, 0x41C0, 0, 0, 2, (long)LostAndFoundBlocks * _bs, now, now, now, now);
        Ext4FormatInodeWriter.SetExtents(raw, lpf, 0);
        Inodes.SetBlockCount(raw, LostAndFoundBlocks);
        StoreInode(FirstInode, raw);

        byte[] block = new byte[_bs];
        int tail = _metadataCsum ? 12 : 0;
        int off = Ext4FormatInodeWriter.WriteDirEntry(block, 0, RootInode, 12, ".");
        off = Ext4FormatInodeWriter.WriteDirEntry(block, off, RootInode, 12, "..");
        Ext4FormatInodeWriter.WriteDirEntry(block, off, FirstInode, _bs - tail - off, "lost+found");
        Inodes.SealDirBlock(RootInode, block);
        _device!.Write(rootBlock * _bs, block);
        WriteEmptyLostAndFound(lpf, RootInode);
        Metadata.Finish();
    }

    /// <summary>Computes the geometry, places every group's tables and checks the journal size; writes nothing.</summary>
    /// <exception cref="ArgumentException">The size is too small for the metadata, or an option is out of range.</exception>
    public void Layout()
    {
        Geometry.ComputeGeometry();
        _journalBlocks = _o.JournalBlocks ?? Ext4FormatGeometry.DefaultJournalBlocks(_blocks);
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
        Inodes.SealInode(ino, raw);
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

    internal void FlushInodes()
    {
        if (_itBuffer is null || _itHigh == 0)
        {
            return;
        }

        int bytes = (int)Math.Min((((long)_itHigh * _inodeSize) + _bs - 1) / _bs * _bs, _itBuffer.Length);
        _device!.Write(_inodeTable[_itGroup] * _bs, _itBuffer.AsSpan(0, bytes));
        _itHigh = 0;
    }

    /// <summary>Writes the blocks of an empty <c>lost+found</c> ("." and ".." in the first, empty entries after).</summary>
    public void WriteEmptyLostAndFound(List<(long Start, long Count)> extents, uint parent)
    {
        byte[] block = new byte[_bs];
        int tail = _metadataCsum ? 12 : 0;
        int off = Ext4FormatInodeWriter.WriteDirEntry(block, 0, FirstInode, 12, ".");
        Ext4FormatInodeWriter.WriteDirEntry(block, off, parent, _bs - tail - off, "..");
        Inodes.SealDirBlock(FirstInode, block);
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
                    Inodes.SealDirBlock(FirstInode, block);
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

    internal long GroupStart(uint g) => _firstData + (g * _bpg);

    internal bool HasBackup(uint g) =>
        g <= 1 || (g % 2 == 1 && (Ext4FormatGeometry.IsPowerOf(g, 3) || Ext4FormatGeometry.IsPowerOf(g, 5) || Ext4FormatGeometry.IsPowerOf(g, 7)));

    internal static void SetBits(byte[] bitmap, long first, long count)
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

    internal void WriteSplit(Span<byte> d, int lo, int hi, ulong value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d[lo..], (uint)value);
        if (_descSize >= 64)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(d[hi..], (uint)(value >> 32));
        }
    }

    internal void WriteSplit16(Span<byte> d, int lo, int hi, uint value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(d[lo..], (ushort)value);
        if (_descSize >= 64)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(d[hi..], (ushort)(value >> 16));
        }
    }
}
