using System.Buffers.Binary;

namespace DiskImage.FileSystems.Ext4;

/// <summary>A parsed <c>struct ext4_inode</c>; <see cref="Raw"/> keeps all <c>s_inode_size</c> bytes.</summary>
internal sealed class Ext4Inode
{
    public const uint ExtentsFlag = 0x80000;
    public const uint IndexFlag = 0x1000;
    public const uint InlineDataFlag = 0x10000000;
    public const uint EncryptFlag = 0x800;
    public const uint VerityFlag = 0x100000;
    public const uint HugeFileFlag = 0x40000;

    public Ext4Inode(uint number, byte[] raw)
    {
        Number = number;
        Raw = raw;
        ReadOnlySpan<byte> r = raw;
        Mode = BinaryPrimitives.ReadUInt16LittleEndian(r);
        Flags = BinaryPrimitives.ReadUInt32LittleEndian(r[0x20..]);
        Generation = BinaryPrimitives.ReadUInt32LittleEndian(r[0x64..]);
        Size = (long)(BinaryPrimitives.ReadUInt32LittleEndian(r[0x04..]) | ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(r[0x6C..]) << 32));
        LinksCount = BinaryPrimitives.ReadUInt16LittleEndian(r[0x1A..]);
        FileAcl = BinaryPrimitives.ReadUInt32LittleEndian(r[0x68..]) | ((long)BinaryPrimitives.ReadUInt16LittleEndian(r[0x76..]) << 32);
        BlocksLow = BinaryPrimitives.ReadUInt32LittleEndian(r[0x1C..]) | ((long)BinaryPrimitives.ReadUInt16LittleEndian(r[0x74..]) << 32);
        ExtraSize = raw.Length > 128 ? BinaryPrimitives.ReadUInt16LittleEndian(r[0x80..]) : 0;
    }

    public uint Number { get; }

    public byte[] Raw { get; }

    public ushort Mode { get; }

    public uint Flags { get; }

    public uint Generation { get; }

    public long Size { get; }

    public ushort LinksCount { get; }

    /// <summary>Extended-attribute block (<c>i_file_acl</c>), 0 when none.</summary>
    public long FileAcl { get; }

    /// <summary><c>i_blocks</c> (512-byte units unless <c>HUGE_FILE_FL</c>).</summary>
    public long BlocksLow { get; }

    /// <summary><c>i_extra_isize</c>.</summary>
    public int ExtraSize { get; }

    public UnixFileType Type => (UnixFileType)(Mode & 0xF000);

    public ReadOnlySpan<byte> BlockArea => Raw.AsSpan(0x28, 60);

    public bool HasExtents => (Flags & ExtentsFlag) != 0;

    public bool HasInlineData => (Flags & InlineDataFlag) != 0;

    public uint UserId => BinaryPrimitives.ReadUInt16LittleEndian(Raw.AsSpan(0x02)) | ((uint)BinaryPrimitives.ReadUInt16LittleEndian(Raw.AsSpan(0x78)) << 16);

    public uint GroupId => BinaryPrimitives.ReadUInt16LittleEndian(Raw.AsSpan(0x18)) | ((uint)BinaryPrimitives.ReadUInt16LittleEndian(Raw.AsSpan(0x7A)) << 16);

    /// <summary>Whether <paramref name="offset"/>+4 lies inside the extra part actually in use.</summary>
    public bool HasExtraField(int offset) => 128 + ExtraSize >= offset + 4;

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
}
