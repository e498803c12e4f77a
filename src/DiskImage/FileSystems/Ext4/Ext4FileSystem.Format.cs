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
    private const ushort BgInodeUninit = 0x1;
    private const ushort BgBlockUninit = 0x2;
    private const ushort BgInodeZeroed = 0x4;

    private readonly BlockDevice _device;
    private readonly Ext4FormatOptions _o;
    private readonly int _bs;
    private readonly int _inodeSize;
    private readonly int _bytesPerInode;
    private readonly bool _metadataCsum;
    private readonly bool _is64;
    private readonly int _descSize;
    private readonly uint _firstData;
    private readonly long _bpg;
    private readonly List<(long Start, long Count)> _ranges = [];
    private long _blocks;
    private uint _groups;
    private uint _ipg;
    private long _itb;
    private long _gdtBlocks;
    private long _cursor;
    private long[] _blockBitmap = [];
    private long[] _inodeBitmap = [];
    private long[] _inodeTable = [];
    private uint _checksumSeed;

    public Ext4Formatter(BlockDevice device, Ext4FormatOptions options)
    {
        _device = device;
        _o = options;
        long size = device.Length;
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

        _metadataCsum = options.Profile == Ext4FormatProfile.Debian12;
        _is64 = options.Profile == Ext4FormatProfile.Debian12;
        _descSize = _is64 ? 64 : 32;
        _firstData = _bs == 1024 ? 1u : 0u;
        _bpg = _bs * 8L;
    }

    private bool HasExtra => _inodeSize > 128;

    public void Run()
    {
        ComputeGeometry();
        long journalBlocks = _o.JournalBlocks ?? DefaultJournalBlocks(_blocks);
        if (journalBlocks < 0 || (journalBlocks > 0 && journalBlocks < 1024))
        {
            throw new ArgumentException("JournalBlocks must be 0 or at least 1024.", nameof(_o));
        }

        // Group tables: flex_bg packs the bitmaps and inode tables of 16 groups into the first group of each
        // flex group. The data of the initial inodes follows the tables of flex group 0; allocation only moves
        // forward, so the ranges stay sorted.
        _blockBitmap = new long[_groups];
        _inodeBitmap = new long[_groups];
        _inodeTable = new long[_groups];
        AllocateFlexGroup(0);
        long rootBlock = Allocate(1);
        int lpfBlocks = Math.Min(12, Math.Max(2, 16384 / _bs));
        long lpfStart = Allocate(lpfBlocks);
        var journalExtents = new List<(long Start, long Count)>();
        long remaining = journalBlocks;
        while (remaining > 0)
        {
            (long s, long c) = AllocateUpTo(Math.Min(remaining, 32768));
            journalExtents.Add((s, c));
            remaining -= c;
        }

        for (uint f = FlexGroupSize; f < _groups; f += FlexGroupSize)
        {
            AllocateFlexGroup(f);
        }

        // More than four extents do not fit in the inode: one leaf block under an index root (depth 1).
        long journalLeaf = 0;
        if (journalExtents.Count > 4)
        {
            if (journalExtents.Count > (_bs - 12) / 12)
            {
                throw new NotSupportedException($"A journal of {journalBlocks} blocks needs {journalExtents.Count} extents, more than one extent leaf block holds. Set a smaller JournalBlocks.");
            }

            journalLeaf = Allocate(1);
        }

        DateTimeOffset ts = _o.Timestamp ?? DateTimeOffset.UtcNow;
        long seconds = ts.ToUnixTimeSeconds();
        if (seconds is < 0 or > uint.MaxValue)
        {
            throw new ArgumentException("Timestamp must lie between 1970 and 2106 (the superblock's 32-bit time fields).", nameof(_o));
        }
        uint nanos = (uint)((ts.UtcTicks % TimeSpan.TicksPerSecond) * 100);
        Guid uuid = _o.Uuid ?? Guid.NewGuid();
        Guid hashSeed = _o.HashSeed ?? Guid.NewGuid();
        byte[] uuidBytes = new byte[16];
        uuid.TryWriteBytes(uuidBytes, bigEndian: true, out _);
        _checksumSeed = Ext4Checksum.Crc32C(~0u, uuidBytes);

        // Bitmaps and per-group counts.
        byte[] descriptors = new byte[_gdtBlocks * _bs];
        byte[] bitmap = new byte[_bs];
        long freeBlocksTotal = 0;
        int rangeIndex = 0;
        for (uint g = 0; g < _groups; g++)
        {
            long gs = GroupStart(g);
            long ge = Math.Min(gs + _bpg, _blocks);
            Array.Clear(bitmap);
            long used = 0;
            if (HasBackup(g))
            {
                SetBits(bitmap, 0, 1 + _gdtBlocks);
                used += 1 + _gdtBlocks;
            }

            bool anyRange = false;
            while (rangeIndex < _ranges.Count && _ranges[rangeIndex].Start + _ranges[rangeIndex].Count <= gs)
            {
                rangeIndex++;
            }

            for (int r = rangeIndex; r < _ranges.Count && _ranges[r].Start < ge; r++)
            {
                long s = Math.Max(_ranges[r].Start, gs);
                long e = Math.Min(_ranges[r].Start + _ranges[r].Count, ge);
                if (e > s)
                {
                    SetBits(bitmap, s - gs, e - s);
                    used += e - s;
                    anyRange = true;
                }
            }

            if (ge - gs < _bpg)
            {
                SetBits(bitmap, ge - gs, _bpg - (ge - gs));
            }

            long freeBlocks = ge - gs - used;
            freeBlocksTotal += freeBlocks;
            _device.Write(_blockBitmap[g] * _bs, bitmap);
            uint blockBitmapCsum = Ext4Checksum.Crc32C(_checksumSeed, bitmap.AsSpan(0, (int)(_bpg / 8)));

            Array.Clear(bitmap);
            if (g == 0)
            {
                SetBits(bitmap, 0, FirstInode);
            }

            SetBits(bitmap, _ipg, (_bs * 8L) - _ipg);
            _device.Write(_inodeBitmap[g] * _bs, bitmap);
            uint inodeBitmapCsum = Ext4Checksum.Crc32C(_checksumSeed, bitmap.AsSpan(0, (int)(_ipg / 8)));

            ushort flags = BgInodeZeroed;
            if (g != 0)
            {
                flags |= BgInodeUninit;
                if (!anyRange && g != _groups - 1)
                {
                    flags |= BgBlockUninit;
                }
            }

            uint freeInodes = g == 0 ? _ipg - FirstInode : _ipg;
            Span<byte> d = descriptors.AsSpan((int)(g * _descSize), _descSize);
            WriteSplit(d, 0x00, 0x20, (ulong)_blockBitmap[g]);
            WriteSplit(d, 0x04, 0x24, (ulong)_inodeBitmap[g]);
            WriteSplit(d, 0x08, 0x28, (ulong)_inodeTable[g]);
            WriteSplit16(d, 0x0C, 0x2C, (uint)freeBlocks);
            WriteSplit16(d, 0x0E, 0x2E, freeInodes);
            WriteSplit16(d, 0x10, 0x30, g == 0 ? 2u : 0u);
            BinaryPrimitives.WriteUInt16LittleEndian(d[0x12..], flags);
            if (_metadataCsum)
            {
                WriteSplit16(d, 0x18, 0x38, blockBitmapCsum);
                WriteSplit16(d, 0x1A, 0x3A, inodeBitmapCsum);
            }

            WriteSplit16(d, 0x1C, 0x32, freeInodes);
            _device.WriteZeroes(_inodeTable[g] * _bs, _itb * _bs);
        }

        // Superblock.
        byte[] sb = new byte[Ext4SuperBlock.Size];
        BuildSuperblock(sb, uuidBytes, hashSeed, seconds, freeBlocksTotal, journalBlocks, journalExtents, journalLeaf);
        byte[] groupZeroSuper = (byte[])sb.Clone();
        SealSuperblock(groupZeroSuper, 0);
        Ext4SuperBlock parsed = Ext4SuperBlock.Parse(groupZeroSuper, _device.Length, new Ext4OpenOptions());
        for (uint g = 0; g < _groups; g++)
        {
            Span<byte> d = descriptors.AsSpan((int)(g * _descSize), _descSize);
            BinaryPrimitives.WriteUInt16LittleEndian(d[0x1E..], Ext4FileSystem.DescriptorChecksum(parsed, g, d));
        }

        // Inodes of group 0 (1..11) and the initial directories and journal.
        int inodeBlocks = (int)(((FirstInode * _inodeSize) + _bs - 1) / _bs);
        byte[] table = new byte[inodeBlocks * _bs];
        for (uint ino = 1; ino <= FirstInode; ino++)
        {
            Span<byte> raw = table.AsSpan((int)((ino - 1) * _inodeSize), _inodeSize);
            switch (ino)
            {
                case RootInode:
                    WriteInode(raw, 0x41ED, 3, _bs, [(rootBlock, 1)], seconds, nanos);
                    break;
                case FirstInode:
                    WriteInode(raw, 0x41C0, 2, (long)lpfBlocks * _bs, [(lpfStart, lpfBlocks)], seconds, nanos);
                    break;
                case JournalInode when journalBlocks > 0:
                    WriteInode(raw, 0x8180, 1, journalBlocks * _bs, journalExtents, seconds, nanos, journalLeaf);
                    break;
                default:
                    // Reserved inodes: times only, as mke2fs writes them.
                    BinaryPrimitives.WriteUInt32LittleEndian(raw[0x08..], (uint)seconds);
                    BinaryPrimitives.WriteUInt32LittleEndian(raw[0x0C..], (uint)seconds);
                    BinaryPrimitives.WriteUInt32LittleEndian(raw[0x10..], (uint)seconds);
                    break;
            }

            SealInode(ino, raw);
        }

        _device.Write(_inodeTable[0] * _bs, table);

        byte[] block = new byte[_bs];
        int tail = _metadataCsum ? 12 : 0;
        int off = WriteDirEntry(block, 0, RootInode, 12, ".");
        off = WriteDirEntry(block, off, RootInode, 12, "..");
        WriteDirEntry(block, off, FirstInode, _bs - tail - off, "lost+found");
        SealDirBlock(RootInode, block);
        _device.Write(rootBlock * _bs, block);

        Array.Clear(block);
        off = WriteDirEntry(block, 0, FirstInode, 12, ".");
        WriteDirEntry(block, off, RootInode, _bs - tail - off, "..");
        SealDirBlock(FirstInode, block);
        _device.Write(lpfStart * _bs, block);
        Array.Clear(block);
        BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(4), (ushort)(_bs - tail));
        SealDirBlock(FirstInode, block);
        for (int i = 1; i < lpfBlocks; i++)
        {
            _device.Write((lpfStart + i) * _bs, block);
        }

        if (journalBlocks > 0)
        {
            WriteJournal(journalExtents, uuidBytes, journalBlocks);
            if (journalLeaf != 0)
            {
                Array.Clear(block);
                int max = (_bs - 12) / 12;
                WriteExtents(block, journalExtents, max);
                if (_metadataCsum)
                {
                    int tailOffset = 12 + (max * 12);
                    BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(tailOffset), Ext4Checksum.Crc32C(InodeSeed(JournalInode), block.AsSpan(0, tailOffset)));
                }

                _device.Write(journalLeaf * _bs, block);
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

    private void AllocateFlexGroup(uint f)
    {
        uint n = Math.Min(FlexGroupSize, _groups - f);
        _cursor = Math.Max(_cursor, GroupStart(f));
        for (uint i = 0; i < n; i++)
        {
            _blockBitmap[f + i] = Allocate(1);
        }

        for (uint i = 0; i < n; i++)
        {
            _inodeBitmap[f + i] = Allocate(1);
        }

        for (uint i = 0; i < n; i++)
        {
            _inodeTable[f + i] = Allocate(_itb);
        }
    }

    private void ComputeGeometry()
    {
        long blocks = _device.Length / _bs;
        if (!_is64 && blocks > uint.MaxValue)
        {
            blocks = uint.MaxValue;
        }

        if (blocks < 64 + _firstData)
        {
            throw new ArgumentException($"The device is too small for an ext4 file system ({_device.Length} bytes).");
        }

        int inodesPerBlock = _bs / _inodeSize;
        while (true)
        {
            long groups = (blocks - _firstData + _bpg - 1) / _bpg;
            long inodes = Math.Max(blocks * _bs / _bytesPerInode, 16);
            long ipg = (inodes + groups - 1) / groups;
            int align = Math.Max(8, inodesPerBlock);
            ipg = (ipg + align - 1) / align * align;
            ipg = Math.Clamp(ipg, 16, _bpg);
            ipg = Math.Max(ipg, align);
            if (ipg * groups > uint.MaxValue)
            {
                ipg = uint.MaxValue / groups / align * align;
            }

            long itb = ipg * _inodeSize / _bs;
            long gdtBlocks = ((groups * _descSize) + _bs - 1) / _bs;
            long lastSize = blocks - _firstData - ((groups - 1) * _bpg);
            _groups = (uint)groups;
            long overhead = (HasBackup(_groups - 1) ? 1 + gdtBlocks : 0) + 2 + itb;
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
            return;
        }
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

    /// <summary>Moves the cursor past a backup superblock/descriptor region it stands in.</summary>
    private void SkipBackup()
    {
        while (true)
        {
            if (_cursor < _firstData)
            {
                _cursor = _firstData;
            }

            uint g = (uint)((_cursor - _firstData) / _bpg);
            long gs = GroupStart(g);
            if (HasBackup(g) && _cursor < gs + 1 + _gdtBlocks)
            {
                _cursor = gs + 1 + _gdtBlocks;
                continue;
            }

            return;
        }
    }

    /// <summary>Allocates <paramref name="count"/> contiguous blocks that hold no backup region.</summary>
    private long Allocate(long count)
    {
        while (true)
        {
            SkipBackup();
            long end = _cursor + count;
            uint g = (uint)((_cursor - _firstData) / _bpg);
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
                throw new ArgumentException($"The device ({_device.Length} bytes) is too small for the file-system metadata.");
            }

            AddRange(_cursor, count);
            _cursor = end;
            return end - count;
        }
    }

    /// <summary>Allocates up to <paramref name="max"/> contiguous blocks, stopping before the next backup region.</summary>
    private (long Start, long Count) AllocateUpTo(long max)
    {
        SkipBackup();
        long end = Math.Min(_cursor + max, _blocks);
        uint g = (uint)((_cursor - _firstData) / _bpg);
        for (uint h = g + 1; h < _groups && GroupStart(h) < end; h++)
        {
            if (HasBackup(h))
            {
                end = GroupStart(h);
                break;
            }
        }

        if (end <= _cursor)
        {
            throw new ArgumentException($"The device ({_device.Length} bytes) is too small for the journal.");
        }

        long start = _cursor;
        AddRange(start, end - start);
        _cursor = end;
        return (start, end - start);
    }

    private void AddRange(long start, long count)
    {
        if (_ranges.Count > 0 && _ranges[^1].Start + _ranges[^1].Count == start)
        {
            _ranges[^1] = (_ranges[^1].Start, _ranges[^1].Count + count);
        }
        else
        {
            _ranges.Add((start, count));
        }
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

    private void BuildSuperblock(byte[] sb, byte[] uuidBytes, Guid hashSeed, long seconds, long freeBlocks, long journalBlocks, List<(long Start, long Count)> journalExtents, long journalLeaf)
    {
        Span<byte> s = sb;
        long reserved = _blocks * _o.ReservedBlocksPercent / 100;
        uint inodes = _ipg * _groups;
        int log = BitOperations.Log2((uint)_bs) - 10;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x00..], inodes);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x04..], (uint)_blocks);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x08..], (uint)reserved);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x0C..], (uint)freeBlocks);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x10..], inodes - FirstInode);
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

        var incompat = Ext4IncompatibleFeatures.FileType | Ext4IncompatibleFeatures.Extents | Ext4IncompatibleFeatures.FlexBlockGroups;
        if (_is64)
        {
            incompat |= Ext4IncompatibleFeatures.SixtyFourBit;
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

    private void WriteInode(Span<byte> raw, ushort mode, ushort links, long size, List<(long Start, long Count)> extents, long seconds, uint nanos, long leafBlock = 0)
    {
        long blocks = leafBlock != 0 ? 1 : 0;
        foreach ((long _, long c) in extents)
        {
            blocks += c;
        }

        BinaryPrimitives.WriteUInt16LittleEndian(raw, mode);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x04..], (uint)size);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x08..], (uint)seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x0C..], (uint)seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x10..], (uint)seconds);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x1A..], links);
        long sectors = blocks * (_bs / 512);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x1C..], (uint)sectors);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x20..], Ext4Inode.ExtentsFlag);
        if (leafBlock != 0)
        {
            WriteIndexRoot(raw.Slice(0x28, 60), leafBlock);
        }
        else
        {
            WriteExtents(raw.Slice(0x28, 60), extents, 4);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x6C..], (uint)(size >> 32));
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x74..], (ushort)(sectors >> 32));
        if (HasExtra)
        {
            uint extra = (uint)((seconds - (int)seconds) >> 32) & 3 | (nanos << 2);
            BinaryPrimitives.WriteUInt16LittleEndian(raw[0x80..], 32);
            BinaryPrimitives.WriteUInt32LittleEndian(raw[0x84..], extra);
            BinaryPrimitives.WriteUInt32LittleEndian(raw[0x88..], extra);
            BinaryPrimitives.WriteUInt32LittleEndian(raw[0x8C..], extra);
            BinaryPrimitives.WriteUInt32LittleEndian(raw[0x90..], (uint)seconds);
            BinaryPrimitives.WriteUInt32LittleEndian(raw[0x94..], extra);
        }
    }

    private uint InodeSeed(uint ino) => Ext4Checksum.InodeSeed(_checksumSeed, ino, 0);

    private void SealInode(uint ino, Span<byte> raw)
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

    private static int WriteDirEntry(byte[] block, int off, uint ino, int recLen, string name)
    {
        Span<byte> e = block.AsSpan(off);
        BinaryPrimitives.WriteUInt32LittleEndian(e, ino);
        BinaryPrimitives.WriteUInt16LittleEndian(e[4..], (ushort)recLen);
        e[6] = (byte)name.Length;
        e[7] = 2; // directory
        Encoding.ASCII.GetBytes(name, e[8..]);
        return off + recLen;
    }

    private void SealDirBlock(uint ino, byte[] block)
    {
        if (!_metadataCsum)
        {
            return;
        }

        Span<byte> t = block.AsSpan(_bs - 12);
        t.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(t[4..], 12);
        t[7] = 0xDE;
        BinaryPrimitives.WriteUInt32LittleEndian(t[8..], Ext4Checksum.Crc32C(InodeSeed(ino), block.AsSpan(0, _bs - 12)));
    }

    private void WriteJournal(List<(long Start, long Count)> extents, byte[] uuidBytes, long journalBlocks)
    {
        foreach ((long start, long count) in extents)
        {
            _device.WriteZeroes(start * _bs, count * _bs);
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
        _device.Write(extents[0].Start * _bs, j);
    }
}
