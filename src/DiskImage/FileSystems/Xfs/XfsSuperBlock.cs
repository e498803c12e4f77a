using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// The primary XFS superblock (<c>struct xfs_dsb</c>, big-endian, sector 0 of AG 0): geometry, features
/// and the address arithmetic derived from them. <see cref="Parse"/> validates every field a reader
/// relies on, so later address computations cannot overflow or leave the device.
/// </summary>
internal sealed class XfsSuperBlock
{
    /// <summary>'XFSB'.</summary>
    public const uint Magic = 0x58465342;

    /// <summary>Bytes of the superblock that carry fields (version 5).</summary>
    public const int Size = 0x108;

    private const int CrcOffset = 0xE0;
    private const ushort VersionNumberMask = 0x000F;
    private const ushort VersionDirV2 = 0x2000;
    private const ushort VersionMoreBits = 0x8000;
    private const uint Features2FileType = 0x200;
    private const uint Features2Crc = 0x100;

    /// <summary>The incompatible features this reader understands.</summary>
    public const XfsIncompatibleFeatures ReadableIncompatible = XfsIncompatibleFeatures.FileType | XfsIncompatibleFeatures.SparseInodes |
        XfsIncompatibleFeatures.MetaUuid | XfsIncompatibleFeatures.BigTime | XfsIncompatibleFeatures.NeedsRepair |
        XfsIncompatibleFeatures.LargeExtentCounts | XfsIncompatibleFeatures.ExchangeRange | XfsIncompatibleFeatures.ParentPointers;

    private XfsSuperBlock()
    {
    }

    /// <summary><c>sb_blocksize</c>.</summary>
    public int BlockSize { get; private init; }

    /// <summary>log2 of <see cref="BlockSize"/> (<c>sb_blocklog</c>).</summary>
    public int BlockLog { get; private init; }

    /// <summary>Data blocks in the file system (<c>sb_dblocks</c>).</summary>
    public long DataBlocks { get; private init; }

    /// <summary>The user-visible UUID (<c>sb_uuid</c>).</summary>
    public Guid Uuid { get; private init; }

    /// <summary>The UUID stamped into metadata: <c>sb_meta_uuid</c> with META_UUID, else <see cref="Uuid"/>.</summary>
    public Guid MetaUuid { get; private init; }

    /// <summary>The root directory inode (<c>sb_rootino</c>).</summary>
    public ulong RootInode { get; private init; }

    /// <summary>Blocks per allocation group (<c>sb_agblocks</c>).</summary>
    public uint AgBlocks { get; private init; }

    /// <summary>Number of allocation groups (<c>sb_agcount</c>).</summary>
    public uint AgCount { get; private init; }

    /// <summary>log2 of <see cref="AgBlocks"/> rounded up (<c>sb_agblklog</c>).</summary>
    public int AgBlockLog { get; private init; }

    /// <summary>1..5 from <c>sb_versionnum</c>.</summary>
    public int Version { get; private init; }

    /// <summary><c>sb_sectsize</c>.</summary>
    public int SectorSize { get; private init; }

    /// <summary><c>sb_inodesize</c>.</summary>
    public int InodeSize { get; private init; }

    /// <summary>log2 of inodes per block (<c>sb_inopblog</c>).</summary>
    public int InodesPerBlockLog { get; private init; }

    /// <summary>The volume label (<c>sb_fname</c>).</summary>
    public string Label { get; private init; } = string.Empty;

    /// <summary>Directory block size in bytes (<c>blocksize &lt;&lt; sb_dirblklog</c>).</summary>
    public int DirectoryBlockSize { get; private init; }

    /// <summary>Whether metadata carries CRCs, owners and UUIDs (version 5).</summary>
    public bool HasCrc => Version == 5;

    /// <summary>Whether directory entries carry the file type.</summary>
    public bool HasFileType { get; private init; }

    /// <summary>Incompatible features (version 5; none on version 4).</summary>
    public XfsIncompatibleFeatures Incompatible { get; private init; }

    /// <summary>Read-only compatible features (version 5; none on version 4).</summary>
    public XfsReadOnlyCompatibleFeatures ReadOnlyCompatible { get; private init; }

    /// <summary><c>sb_features_log_incompat</c>.</summary>
    public uint LogIncompatible { get; private init; }

    /// <summary>Size of the fixed inode core: 176 bytes for version 3 inodes, 100 before.</summary>
    public int InodeCoreSize => HasCrc ? 176 : 100;

    /// <summary>Parses and validates the primary superblock against the device length.</summary>
    /// <exception cref="InvalidDataException">A field is out of range or the checksum does not match.</exception>
    /// <exception cref="NotSupportedException">A feature this reader does not know is set.</exception>
    public static XfsSuperBlock Parse(ReadOnlySpan<byte> sector, long deviceLength, bool verifyChecksum)
    {
        if (sector.Length < Size || BinaryPrimitives.ReadUInt32BigEndian(sector) != Magic)
        {
            Fail("bad magic: not an XFS file system.");
        }

        ushort versionNum = Be16(sector, 0x64);
        int version = versionNum & VersionNumberMask;
        if (version is not (4 or 5))
        {
            FormatError.Unsupported($"XFS superblock version {version} is not supported (only 4 and 5).");
        }

        if ((versionNum & VersionDirV2) == 0)
        {
            FormatError.Unsupported("XFS version 1 directories (no dirv2 bit) are not supported.");
        }

        int blockSize = (int)Math.Min(Be32(sector, 0x04), int.MaxValue);
        int blockLog = sector[0x78];
        int sectorSize = Be16(sector, 0x66);
        int sectorLog = sector[0x79];
        int inodeSize = Be16(sector, 0x68);
        int inodeLog = sector[0x7A];
        int inodesPerBlock = Be16(sector, 0x6A);
        int inopbLog = sector[0x7B];
        int agBlockLog = sector[0x7C];
        uint agBlocks = Be32(sector, 0x54);
        uint agCount = Be32(sector, 0x58);
        long dataBlocks = (long)Math.Min(Be64(sector, 0x08), long.MaxValue);
        int dirBlockLog = sector[0xC0];
        Require(blockLog is >= 9 and <= 16 && blockSize == 1 << blockLog, "block size");
        Require(sectorLog is >= 9 and <= 15 && sectorSize == 1 << sectorLog && sectorSize <= blockSize, "sector size");
        Require(inodeLog is >= 8 and <= 11 && inodeSize == 1 << inodeLog && inodeSize <= blockSize, "inode size");
        Require(inopbLog == blockLog - inodeLog && inodesPerBlock == 1 << inopbLog, "inodes per block");
        Require(agBlocks >= 64 && agBlockLog == BitOperations.Log2(agBlocks - 1) + 1 && agBlockLog + inopbLog <= 32, "AG size");
        Require(agCount >= 1 && ((ulong)agCount << agBlockLog) <= 1UL << (62 - blockLog), "AG count");
        Require(dataBlocks > (long)(agCount - 1) * agBlocks && dataBlocks <= (long)agCount * agBlocks, "data block count");
        Require(dirBlockLog <= 16 - blockLog, "directory block size");
        if (dataBlocks > deviceLength >> blockLog)
        {
            Fail($"the file system has {dataBlocks} blocks of {blockSize} bytes but the device holds only {deviceLength} bytes.");
        }

        if (verifyChecksum && version == 5 && !XfsChecksum.IsValid(sector[..sectorSize], CrcOffset))
        {
            Fail("checksum mismatch.");
        }

        uint features2 = (versionNum & VersionMoreBits) != 0 ? Be32(sector, 0xC8) : 0;
        var incompat = XfsIncompatibleFeatures.None;
        var roCompat = XfsReadOnlyCompatibleFeatures.None;
        uint logIncompat = 0;
        if (version == 5)
        {
            Require(sector.Length >= sectorSize, "sector");
            Require((features2 & Features2Crc) != 0, "features2 (CRC bit missing on a version 5 superblock)");
            incompat = (XfsIncompatibleFeatures)Be32(sector, 0xD8);
            roCompat = (XfsReadOnlyCompatibleFeatures)Be32(sector, 0xD4);
            logIncompat = Be32(sector, 0xDC);
            XfsIncompatibleFeatures unknown = incompat & ~ReadableIncompatible;
            if (unknown != 0)
            {
                FormatError.Unsupported($"XFS incompatible feature bits 0x{(uint)unknown:x} are not supported.");
            }
        }

        var uuid = new Guid(sector.Slice(0x20, 16), bigEndian: true);
        ulong root = Be64(sector, 0x38);
        var sb = new XfsSuperBlock
        {
            BlockSize = blockSize,
            BlockLog = blockLog,
            DataBlocks = dataBlocks,
            Uuid = uuid,
            MetaUuid = (incompat & XfsIncompatibleFeatures.MetaUuid) != 0 ? new Guid(sector.Slice(0xF8, 16), bigEndian: true) : uuid,
            RootInode = root,
            AgBlocks = agBlocks,
            AgCount = agCount,
            AgBlockLog = agBlockLog,
            Version = version,
            SectorSize = sectorSize,
            InodeSize = inodeSize,
            InodesPerBlockLog = inopbLog,
            Label = Encoding.UTF8.GetString(sector.Slice(0x6C, 12)).TrimEnd('\0'),
            DirectoryBlockSize = blockSize << dirBlockLog,
            HasFileType = version == 5 ? (incompat & XfsIncompatibleFeatures.FileType) != 0 : (features2 & Features2FileType) != 0,
            Incompatible = incompat,
            ReadOnlyCompatible = roCompat,
            LogIncompatible = logIncompat,
        };
        if (!sb.IsValidInode(root))
        {
            Fail($"root inode {root} is outside the file system.");
        }

        return sb;
    }

    /// <summary>Whether <paramref name="inode"/> addresses an inode slot inside the data area.</summary>
    public bool IsValidInode(ulong inode)
    {
        int agShift = AgBlockLog + InodesPerBlockLog;
        ulong ag = inode >> agShift;
        ulong agBlock = (inode >> InodesPerBlockLog) & ((1UL << AgBlockLog) - 1);
        return ag < AgCount && agBlock < AgBlocks && (long)(ag * AgBlocks + agBlock) < DataBlocks;
    }

    /// <summary>Byte offset on the device of an inode (call only with <see cref="IsValidInode"/> numbers).</summary>
    public long InodeOffset(ulong inode)
    {
        int agShift = AgBlockLog + InodesPerBlockLog;
        ulong ag = inode >> agShift;
        ulong agBlock = (inode >> InodesPerBlockLog) & ((1UL << AgBlockLog) - 1);
        ulong slot = inode & ((1UL << InodesPerBlockLog) - 1);
        return (long)(((ag * AgBlocks) + agBlock) << BlockLog) + (long)slot * InodeSize;
    }

    /// <summary>Byte offset of a file-system block number (<c>agno &lt;&lt; agblklog | agbno</c>), or -1 when it is outside the data area.</summary>
    public long BlockOffset(ulong fsBlock)
    {
        ulong ag = fsBlock >> AgBlockLog;
        ulong agBlock = fsBlock & ((1UL << AgBlockLog) - 1);
        if (ag >= AgCount || agBlock >= AgBlocks)
        {
            return -1;
        }

        ulong linear = ag * AgBlocks + agBlock;
        return linear < (ulong)DataBlocks ? (long)(linear << BlockLog) : -1;
    }

    /// <summary>Whether <paramref name="count"/> blocks from <paramref name="fsBlock"/> stay inside one AG and the data area.</summary>
    public bool IsValidExtent(ulong fsBlock, ulong count)
    {
        ulong agBlock = fsBlock & ((1UL << AgBlockLog) - 1);
        return count > 0 && BlockOffset(fsBlock) >= 0 && agBlock + count <= AgBlocks &&
            BlockOffset(fsBlock + count - 1) >= 0;
    }

    private static void Require(bool condition, string field)
    {
        if (!condition)
        {
            Fail($"{field} is out of range.");
        }
    }

    private static void Fail(string message) => FormatError.Throw("XFS superblock", 0, message);

    private static ushort Be16(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt16BigEndian(s[o..]);

    private static uint Be32(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt32BigEndian(s[o..]);

    private static ulong Be64(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt64BigEndian(s[o..]);
}
