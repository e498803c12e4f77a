using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// One on-disk inode (<c>struct xfs_dinode</c>, versions 1–3): the core fields, and the raw data and
/// attribute forks. <see cref="Parse"/> checks magic, version, checksum, inode number and fork geometry.
/// </summary>
internal sealed class XfsInode
{
    /// <summary>'IN'.</summary>
    public const ushort Magic = 0x494E;

    private const int CrcOffset = 100;
    private const ulong Flags2BigTime = 0x8;
    private const ulong Flags2LargeExtentCounts = 0x10;

    /// <summary>Seconds between 1901-12-13T20:45:52Z (bigtime zero) and the Unix epoch (<c>XFS_BIGTIME_EPOCH_OFFSET</c>).</summary>
    private const long BigTimeEpochOffset = 1L << 31;

    private byte[] _raw = [];
    private int _dataForkOffset;
    private int _dataForkSize;
    private int _attrForkOffset;
    private int _attrForkSize;

    private XfsInode()
    {
    }

    /// <summary>The inode number.</summary>
    public ulong Number { get; private init; }

    /// <summary>The full <c>di_mode</c> (type and permission bits).</summary>
    public int RawMode { get; private init; }

    /// <summary>The entry type from the mode.</summary>
    public UnixFileType Type { get; private init; }

    /// <summary>Format of the data fork.</summary>
    public XfsForkFormat Format { get; private init; }

    /// <summary>Format of the attribute fork (meaningful when <see cref="HasAttributeFork"/>).</summary>
    public XfsForkFormat AttributeFormat { get; private init; }

    /// <summary>Owner user id.</summary>
    public uint UserId { get; private init; }

    /// <summary>Owner group id.</summary>
    public uint GroupId { get; private init; }

    /// <summary>Link count.</summary>
    public uint LinkCount { get; private init; }

    /// <summary>Size in bytes (<c>di_size</c>).</summary>
    public long Size { get; private init; }

    /// <summary>Data fork extent count.</summary>
    public ulong DataExtentCount { get; private init; }

    /// <summary>Attribute fork extent count.</summary>
    public uint AttributeExtentCount { get; private init; }

    /// <summary>Access time.</summary>
    public UnixTime AccessTime { get; private init; }

    /// <summary>Modification time.</summary>
    public UnixTime ModificationTime { get; private init; }

    /// <summary>Status change time.</summary>
    public UnixTime ChangeTime { get; private init; }

    /// <summary>Creation time (version 3 inodes), else null.</summary>
    public UnixTime? CreationTime { get; private init; }

    /// <summary>Whether the inode has an attribute fork (<c>di_forkoff</c> ≠ 0).</summary>
    public bool HasAttributeFork => _attrForkSize > 0;

    /// <summary>The data fork bytes.</summary>
    public ReadOnlySpan<byte> DataFork => _raw.AsSpan(_dataForkOffset, _dataForkSize);

    /// <summary>The attribute fork bytes (empty without an attribute fork).</summary>
    public ReadOnlySpan<byte> AttributeFork => _raw.AsSpan(_attrForkOffset, _attrForkSize);

    /// <summary>Parses an inode read from the device at <paramref name="offset"/>.</summary>
    /// <exception cref="InvalidDataException">The inode is not valid for <paramref name="number"/>.</exception>
    public static XfsInode Parse(XfsSuperBlock sb, ulong number, byte[] raw, long offset, bool verifyChecksum)
    {
        ReadOnlySpan<byte> s = raw;
        if (BinaryPrimitives.ReadUInt16BigEndian(s) != Magic)
        {
            Fail(number, offset, "bad magic.");
        }

        int version = s[4];
        if (sb.HasCrc ? version != 3 : version is not (1 or 2))
        {
            Fail(number, offset, $"version {version} does not match the superblock.");
        }

        if (version == 3)
        {
            if (verifyChecksum && !XfsChecksum.IsValid(s[..sb.InodeSize], CrcOffset))
            {
                Fail(number, offset, "checksum mismatch.");
            }

            if (BinaryPrimitives.ReadUInt64BigEndian(s[152..]) != number)
            {
                Fail(number, offset, "records another inode number.");
            }

            if (new Guid(s.Slice(160, 16), bigEndian: true) != sb.MetaUuid)
            {
                Fail(number, offset, "belongs to another file system (uuid).");
            }
        }

        int mode = BinaryPrimitives.ReadUInt16BigEndian(s[2..]);
        UnixFileType type = (mode & 0xF000) switch
        {
            0x8000 => UnixFileType.RegularFile,
            0x4000 => UnixFileType.Directory,
            0xA000 => UnixFileType.SymbolicLink,
            0x2000 => UnixFileType.CharacterDevice,
            0x6000 => UnixFileType.BlockDevice,
            0x1000 => UnixFileType.Fifo,
            0xC000 => UnixFileType.Socket,
            _ => FormatError.Throw<UnixFileType>($"XFS inode {number}", offset, $"mode 0x{mode:x} has no valid file type (a free inode?)."),
        };

        var format = (XfsForkFormat)s[5];
        bool formatOk = type switch
        {
            UnixFileType.RegularFile => format is XfsForkFormat.Extents or XfsForkFormat.Btree,
            UnixFileType.Directory or UnixFileType.SymbolicLink => format is XfsForkFormat.Local or XfsForkFormat.Extents or XfsForkFormat.Btree,
            _ => format == XfsForkFormat.Device,
        };
        if (!formatOk)
        {
            Fail(number, offset, $"data fork format {(int)format} is not valid for a {type}.");
        }

        ulong flags2 = version == 3 ? BinaryPrimitives.ReadUInt64BigEndian(s[120..]) : 0;
        bool bigTime = (flags2 & Flags2BigTime) != 0;
        bool largeCounts = (flags2 & Flags2LargeExtentCounts) != 0;
        long size = BinaryPrimitives.ReadInt64BigEndian(s[56..]);
        if (size < 0)
        {
            Fail(number, offset, $"size {size} is negative.");
        }

        int core = sb.InodeCoreSize;
        int literal = sb.InodeSize - core;
        int forkOff = s[82] * 8;
        if (forkOff > literal)
        {
            Fail(number, offset, $"attribute fork offset {forkOff} is past the literal area ({literal} bytes).");
        }

        var attrFormat = (XfsForkFormat)s[83];
        if (forkOff != 0 && attrFormat is not (XfsForkFormat.Local or XfsForkFormat.Extents or XfsForkFormat.Btree))
        {
            Fail(number, offset, $"attribute fork format {(int)attrFormat} is not valid.");
        }

        return new XfsInode
        {
            _raw = raw,
            _dataForkOffset = core,
            _dataForkSize = forkOff != 0 ? forkOff : literal,
            _attrForkOffset = forkOff != 0 ? core + forkOff : core + literal,
            _attrForkSize = forkOff != 0 ? literal - forkOff : 0,
            Number = number,
            RawMode = mode,
            Type = type,
            Format = format,
            AttributeFormat = attrFormat,
            UserId = BinaryPrimitives.ReadUInt32BigEndian(s[8..]),
            GroupId = BinaryPrimitives.ReadUInt32BigEndian(s[12..]),
            LinkCount = version == 1 ? BinaryPrimitives.ReadUInt16BigEndian(s[6..]) : BinaryPrimitives.ReadUInt32BigEndian(s[16..]),
            Size = size,
            DataExtentCount = largeCounts ? BinaryPrimitives.ReadUInt64BigEndian(s[24..]) : BinaryPrimitives.ReadUInt32BigEndian(s[76..]),
            AttributeExtentCount = largeCounts ? BinaryPrimitives.ReadUInt32BigEndian(s[76..]) : BinaryPrimitives.ReadUInt16BigEndian(s[80..]),
            AccessTime = Time(s[32..], bigTime),
            ModificationTime = Time(s[40..], bigTime),
            ChangeTime = Time(s[48..], bigTime),
            CreationTime = version == 3 ? Time(s[144..], bigTime) : null,
        };
    }

    private static UnixTime Time(ReadOnlySpan<byte> s, bool bigTime)
    {
        if (bigTime)
        {
            ulong ns = BinaryPrimitives.ReadUInt64BigEndian(s);
            return new UnixTime((long)(ns / 1_000_000_000) - BigTimeEpochOffset, (int)(ns % 1_000_000_000));
        }

        int seconds = BinaryPrimitives.ReadInt32BigEndian(s);
        uint nanoseconds = BinaryPrimitives.ReadUInt32BigEndian(s[4..]);
        return new UnixTime(seconds, (int)Math.Min(nanoseconds, 999_999_999u));
    }

    private static void Fail(ulong number, long offset, string message) => FormatError.Throw($"XFS inode {number}", offset, message);
}
