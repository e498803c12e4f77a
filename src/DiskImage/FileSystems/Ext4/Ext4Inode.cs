using System.Buffers.Binary;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// A <c>struct ext4_inode</c> held as its <c>s_inode_size</c> raw bytes (<see cref="Raw"/>); every property
/// reads and writes through to them, so writing the inode back is a copy of <see cref="Raw"/>.
/// </summary>
internal sealed class Ext4Inode
{
    public const uint ExtentsFlag = 0x80000;
    public const uint IndexFlag = 0x1000;
    public const uint InlineDataFlag = 0x10000000;
    public const uint EncryptFlag = 0x800;

    /// <summary><c>EXT4_CASEFOLD_FL</c>: a directory whose names are looked up case-insensitively.</summary>
    public const uint CaseFoldFlag = 0x40000000;
    public const uint VerityFlag = 0x100000;
    public const uint HugeFileFlag = 0x40000;

    public Ext4Inode(uint number, byte[] raw)
    {
        Number = number;
        Raw = raw;
    }

    public uint Number { get; }

    public byte[] Raw { get; }

    public ushort Mode
    {
        get => BinaryPrimitives.ReadUInt16LittleEndian(Raw);
        set => BinaryPrimitives.WriteUInt16LittleEndian(Raw, value);
    }

    public uint Flags
    {
        get => BinaryPrimitives.ReadUInt32LittleEndian(Raw.AsSpan(0x20));
        set => BinaryPrimitives.WriteUInt32LittleEndian(Raw.AsSpan(0x20), value);
    }

    public uint Generation
    {
        get => BinaryPrimitives.ReadUInt32LittleEndian(Raw.AsSpan(0x64));
        set => BinaryPrimitives.WriteUInt32LittleEndian(Raw.AsSpan(0x64), value);
    }

    /// <summary><c>i_size_lo</c> | <c>i_size_high</c> &lt;&lt; 32 (negative when the high bit is set: corrupt).</summary>
    public long Size
    {
        get => (long)(BinaryPrimitives.ReadUInt32LittleEndian(Raw.AsSpan(0x04)) | ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(Raw.AsSpan(0x6C)) << 32));
        set
        {
            BinaryPrimitives.WriteUInt32LittleEndian(Raw.AsSpan(0x04), (uint)value);
            BinaryPrimitives.WriteUInt32LittleEndian(Raw.AsSpan(0x6C), (uint)((ulong)value >> 32));
        }
    }

    public ushort LinksCount
    {
        get => BinaryPrimitives.ReadUInt16LittleEndian(Raw.AsSpan(0x1A));
        set => BinaryPrimitives.WriteUInt16LittleEndian(Raw.AsSpan(0x1A), value);
    }

    /// <summary>Extended-attribute block (<c>i_file_acl</c>), 0 when none.</summary>
    public long FileAcl
    {
        get => BinaryPrimitives.ReadUInt32LittleEndian(Raw.AsSpan(0x68)) | ((long)BinaryPrimitives.ReadUInt16LittleEndian(Raw.AsSpan(0x76)) << 32);
        set
        {
            BinaryPrimitives.WriteUInt32LittleEndian(Raw.AsSpan(0x68), (uint)value);
            BinaryPrimitives.WriteUInt16LittleEndian(Raw.AsSpan(0x76), (ushort)(value >> 32));
        }
    }

    /// <summary><c>i_blocks</c> as stored (512-byte units unless <c>HUGE_FILE_FL</c>, then file-system blocks).</summary>
    public long BlocksLow => BinaryPrimitives.ReadUInt32LittleEndian(Raw.AsSpan(0x1C)) | ((long)BinaryPrimitives.ReadUInt16LittleEndian(Raw.AsSpan(0x74)) << 32);

    /// <summary><c>i_dtime</c> (deletion time; the orphan-list link while orphaned).</summary>
    public uint DeletionTime
    {
        get => BinaryPrimitives.ReadUInt32LittleEndian(Raw.AsSpan(0x14));
        set => BinaryPrimitives.WriteUInt32LittleEndian(Raw.AsSpan(0x14), value);
    }

    /// <summary><c>i_extra_isize</c>.</summary>
    public int ExtraSize => Raw.Length > 128 ? BinaryPrimitives.ReadUInt16LittleEndian(Raw.AsSpan(0x80)) : 0;

    public UnixFileType Type => (UnixFileType)(Mode & 0xF000);

    public ReadOnlySpan<byte> BlockArea => Raw.AsSpan(0x28, 60);

    /// <summary>The 60 bytes of <c>i_block</c> (extent root, block map, fast symlink target or device number).</summary>
    public Span<byte> BlockAreaWritable => Raw.AsSpan(0x28, 60);

    public bool HasExtents => (Flags & ExtentsFlag) != 0;

    public bool HasInlineData => (Flags & InlineDataFlag) != 0;

    public uint UserId
    {
        get => BinaryPrimitives.ReadUInt16LittleEndian(Raw.AsSpan(0x02)) | ((uint)BinaryPrimitives.ReadUInt16LittleEndian(Raw.AsSpan(0x78)) << 16);
        set
        {
            BinaryPrimitives.WriteUInt16LittleEndian(Raw.AsSpan(0x02), (ushort)value);
            BinaryPrimitives.WriteUInt16LittleEndian(Raw.AsSpan(0x78), (ushort)(value >> 16));
        }
    }

    public uint GroupId
    {
        get => BinaryPrimitives.ReadUInt16LittleEndian(Raw.AsSpan(0x18)) | ((uint)BinaryPrimitives.ReadUInt16LittleEndian(Raw.AsSpan(0x7A)) << 16);
        set
        {
            BinaryPrimitives.WriteUInt16LittleEndian(Raw.AsSpan(0x18), (ushort)value);
            BinaryPrimitives.WriteUInt16LittleEndian(Raw.AsSpan(0x7A), (ushort)(value >> 16));
        }
    }

    /// <summary>Whether <paramref name="offset"/>+4 lies inside the extra part actually in use.</summary>
    public bool HasExtraField(int offset) => 128 + ExtraSize >= offset + 4 && Raw.Length >= offset + 4;

    /// <summary>Decodes a timestamp: a signed 32-bit seconds field plus the optional extra word (2 epoch bits, 30 bits of ns).</summary>
    public UnixTime Time(int secondsOffset, int extraOffset)
    {
        long seconds = BinaryPrimitives.ReadInt32LittleEndian(Raw.AsSpan(secondsOffset));
        int ns = 0;
        if (extraOffset != 0 && HasExtraField(extraOffset))
        {
            uint extra = BinaryPrimitives.ReadUInt32LittleEndian(Raw.AsSpan(extraOffset));
            seconds += (long)(extra & 3) << 32;
            ns = (int)(extra >> 2);
            if (ns > 999_999_999)
            {
                ns = 999_999_999;
            }
        }

        return new UnixTime(seconds, ns);
    }

    /// <summary>
    /// Encodes a timestamp: the low 32 bits of the seconds (signed) and, when the extra field is in use, the
    /// epoch bits and nanoseconds. Without the extra field, times outside 1901–2038 are clamped.
    /// </summary>
    public void SetTime(int secondsOffset, int extraOffset, UnixTime t)
    {
        bool extra = extraOffset != 0 && HasExtraField(extraOffset);
        long seconds = t.Seconds;
        if (extra)
        {
            // Representable: -2^31 .. 2^34 - 2^31 - 1 (years 1901–2446).
            seconds = Math.Clamp(seconds, int.MinValue, (3L << 32) + int.MaxValue);
            long epoch = (seconds - (int)seconds) >> 32;
            BinaryPrimitives.WriteInt32LittleEndian(Raw.AsSpan(secondsOffset), (int)seconds);
            BinaryPrimitives.WriteUInt32LittleEndian(Raw.AsSpan(extraOffset), (uint)(epoch & 3) | ((uint)t.Nanoseconds << 2));
        }
        else
        {
            BinaryPrimitives.WriteInt32LittleEndian(Raw.AsSpan(secondsOffset), (int)Math.Clamp(seconds, int.MinValue, int.MaxValue));
        }
    }

    /// <summary>Sets the access time (<c>i_atime</c>).</summary>
    public void SetAccessTime(UnixTime t) => SetTime(0x08, 0x8C, t);

    /// <summary>Sets the change time (<c>i_ctime</c>).</summary>
    public void SetChangeTime(UnixTime t) => SetTime(0x0C, 0x84, t);

    /// <summary>Sets the modification time (<c>i_mtime</c>).</summary>
    public void SetModificationTime(UnixTime t) => SetTime(0x10, 0x88, t);

    /// <summary>
    /// Adds <paramref name="deltaFsBlocks"/> (may be negative) file-system blocks to <c>i_blocks</c>, kept in
    /// 512-byte units, or in file-system blocks when the inode has <c>HUGE_FILE_FL</c>.
    /// </summary>
    /// <exception cref="IOException">The count leaves the 48-bit range.</exception>
    public void AddBlocks(long deltaFsBlocks, int blockSize)
    {
        long current = BlocksLow;
        long units = (Flags & HugeFileFlag) != 0 ? deltaFsBlocks : deltaFsBlocks * (blockSize / 512);
        long value = current + units;
        if (value < 0)
        {
            value = 0;
        }

        if (value >= 1L << 48)
        {
            throw new IOException($"Inode {Number}: the block count exceeds what i_blocks can hold.");
        }

        BinaryPrimitives.WriteUInt32LittleEndian(Raw.AsSpan(0x1C), (uint)value);
        BinaryPrimitives.WriteUInt16LittleEndian(Raw.AsSpan(0x74), (ushort)(value >> 32));
    }

    /// <summary>Decodes the device number of a character or block device from <c>i_block</c>.</summary>
    public (int Major, int Minor) Device
    {
        get
        {
            uint old = BinaryPrimitives.ReadUInt32LittleEndian(BlockArea);
            if (old != 0)
            {
                return ((int)((old >> 8) & 0xFF), (int)(old & 0xFF));
            }

            uint dev = BinaryPrimitives.ReadUInt32LittleEndian(BlockArea[4..]);
            return ((int)((dev & 0xFFF00) >> 8), (int)((dev & 0xFF) | ((dev >> 12) & 0xFFF00)));
        }
    }

    /// <summary>
    /// Encodes a device number as the kernel does: the old 16-bit form in <c>i_block[0]</c> when major and minor
    /// are below 256, else the new form in <c>i_block[1]</c> with <c>i_block[0]</c> zero.
    /// </summary>
    public void SetDevice(int major, int minor)
    {
        Span<byte> area = BlockAreaWritable;
        area.Clear();
        if (major < 256 && minor < 256)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(area, (uint)((major << 8) | minor));
        }
        else
        {
            uint dev = (uint)(minor & 0xFF) | ((uint)major << 8) | ((uint)(minor & ~0xFF) << 12);
            BinaryPrimitives.WriteUInt32LittleEndian(area[4..], dev);
        }
    }
}
