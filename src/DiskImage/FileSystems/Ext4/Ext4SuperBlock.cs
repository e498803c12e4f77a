using System.Buffers.Binary;

namespace DiskImage.FileSystems.Ext4;

/// <summary>The fields of <c>struct ext4_super_block</c> (1024 bytes at byte 1024) that reading needs, validated.</summary>
internal sealed class Ext4SuperBlock
{
    public const int Offset = 1024;
    public const int Size = 1024;
    public const ushort Magic = 0xEF53;

    private Ext4SuperBlock()
    {
    }

    public uint InodesCount { get; private init; }

    public long BlocksCount { get; private init; }

    public uint FirstDataBlock { get; private init; }

    public int BlockSize { get; private init; }

    public uint BlocksPerGroup { get; private init; }

    public uint InodesPerGroup { get; private init; }

    public uint RevisionLevel { get; private init; }

    public uint FirstInode { get; private init; }

    public int InodeSize { get; private init; }

    public Ext4CompatibleFeatures Compatible { get; private init; }

    public Ext4IncompatibleFeatures Incompatible { get; private init; }

    public Ext4ReadOnlyCompatibleFeatures ReadOnlyCompatible { get; private init; }

    public Guid Uuid { get; private init; }

    public byte[] UuidBytes { get; private init; } = [];

    public string VolumeName { get; private init; } = string.Empty;

    public int DescriptorSize { get; private init; }

    public uint FirstMetaBlockGroup { get; private init; }

    public uint BackupGroup0 { get; private init; }

    public uint BackupGroup1 { get; private init; }

    public uint ChecksumSeed { get; private init; }

    public uint GroupCount { get; private init; }

    public ushort State { get; private init; }

    public bool HasMetadataChecksum => (ReadOnlyCompatible & Ext4ReadOnlyCompatibleFeatures.MetadataChecksum) != 0;

    public bool HasGroupDescriptorChecksum => (ReadOnlyCompatible & Ext4ReadOnlyCompatibleFeatures.GroupDescriptorChecksum) != 0;

    public bool Is64Bit => (Incompatible & Ext4IncompatibleFeatures.SixtyFourBit) != 0;

    public bool HasFileType => (Incompatible & Ext4IncompatibleFeatures.FileType) != 0;

    /// <summary>Parses and validates the superblock against a device of <paramref name="deviceLength"/> bytes.</summary>
    public static Ext4SuperBlock Parse(ReadOnlySpan<byte> sb, long deviceLength, Ext4OpenOptions options)
    {
        const string S = "ext4 superblock";
        if (BinaryPrimitives.ReadUInt16LittleEndian(sb[0x38..]) != Magic)
        {
            FormatError.Throw(S, Offset, "bad magic (not an ext2/ext3/ext4 file system).");
        }

        uint rev = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x4C..]);
        if (rev > 1)
        {
            FormatError.Unsupported($"ext4 revision level {rev} is not supported.");
        }

        var compat = (Ext4CompatibleFeatures)(rev == 0 ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(sb[0x5C..]));
        var incompat = (Ext4IncompatibleFeatures)(rev == 0 ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(sb[0x60..]));
        var rocompat = (Ext4ReadOnlyCompatibleFeatures)(rev == 0 ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(sb[0x64..]));
        bool metadataCsum = (rocompat & Ext4ReadOnlyCompatibleFeatures.MetadataChecksum) != 0;
        if (metadataCsum)
        {
            if (sb[0x175] != 1)
            {
                FormatError.Throw(S, Offset, $"unknown checksum type {sb[0x175]}.");
            }

            uint stored = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x3FC..]);
            if ((options.VerifyChecksums || options.Writable) && Ext4Checksum.Crc32C(~0u, sb[..0x3FC]) != stored)
            {
                FormatError.Throw(S, Offset, "checksum mismatch.");
            }
        }

        const Ext4IncompatibleFeatures readable = Ext4IncompatibleFeatures.FileType | Ext4IncompatibleFeatures.Recover |
            Ext4IncompatibleFeatures.MetaBlockGroups | Ext4IncompatibleFeatures.Extents | Ext4IncompatibleFeatures.SixtyFourBit |
            Ext4IncompatibleFeatures.MultipleMountProtection | Ext4IncompatibleFeatures.FlexBlockGroups |
            Ext4IncompatibleFeatures.ExtendedAttributeInodes | Ext4IncompatibleFeatures.ChecksumSeed |
            Ext4IncompatibleFeatures.LargeDirectories | Ext4IncompatibleFeatures.InlineData |
            Ext4IncompatibleFeatures.Encrypt | Ext4IncompatibleFeatures.CaseFold;
        if ((incompat & Ext4IncompatibleFeatures.JournalDevice) != 0)
        {
            FormatError.Unsupported("This is an external ext4 journal device, not a file system.");
        }

        // encrypt and casefold only change the directories and files that carry ENCRYPT_FL or CASEFOLD_FL: those are
        // refused by name when used; the rest of the file system reads (and writes) as usual.
        if ((incompat & Ext4IncompatibleFeatures.CaseFold) != 0)
        {
            // s_encoding: 1 = UTF-8 12.1, the only encoding the kernel knows; it refuses to mount others.
            ushort encoding = BinaryPrimitives.ReadUInt16LittleEndian(sb[0x27C..]);
            if (encoding != 1)
            {
                FormatError.Unsupported($"ext4 'casefold' file system with unknown filename encoding {encoding} (s_encoding).");
            }
        }

        if ((incompat & ~readable) != 0)
        {
            FormatError.Unsupported($"Unsupported ext4 incompatible feature flags 0x{(uint)(incompat & ~readable):X}.");
        }

        if ((incompat & Ext4IncompatibleFeatures.Recover) != 0 && !options.AllowJournalRecoveryNeeded)
        {
            FormatError.Unsupported("The ext4 journal needs recovery (the file system was not cleanly unmounted); set Ext4OpenOptions.AllowJournalRecoveryNeeded to read it as it is.");
        }

        uint logBlock = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x18..]);
        if (logBlock > 6)
        {
            FormatError.Throw(S, Offset, $"block size 2^{logBlock} KiB is out of range.");
        }

        int blockSize = 1024 << (int)logBlock;
        uint firstData = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x14..]);
        bool bigalloc = (rocompat & Ext4ReadOnlyCompatibleFeatures.BigAlloc) != 0;
        if (firstData != (blockSize == 1024 && !bigalloc ? 1u : 0u))
        {
            FormatError.Throw(S, Offset, $"first data block {firstData} does not match block size {blockSize}.");
        }

        bool is64 = (incompat & Ext4IncompatibleFeatures.SixtyFourBit) != 0;
        long blocks = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x04..]);
        if (is64)
        {
            blocks |= (long)BinaryPrimitives.ReadUInt32LittleEndian(sb[0x150..]) << 32;
        }

        if (blocks <= firstData || blocks > long.MaxValue / blockSize)
        {
            FormatError.Throw(S, Offset, $"block count {blocks} is out of range.");
        }

        if (blocks * blockSize > deviceLength)
        {
            FormatError.Throw(S, Offset, $"the file system ({blocks} blocks of {blockSize} bytes) is larger than the device ({deviceLength} bytes); the image may be truncated.");
        }

        uint bpg = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x20..]);
        uint ipg = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x28..]);
        if (bpg == 0 || (!bigalloc && bpg > 8u * (uint)blockSize) || bpg % 8 != 0)
        {
            FormatError.Throw(S, Offset, $"blocks per group {bpg} is out of range.");
        }

        if (ipg == 0 || ipg > 8u * (uint)blockSize)
        {
            FormatError.Throw(S, Offset, $"inodes per group {ipg} is out of range.");
        }

        long groups = ((blocks - firstData) + bpg - 1) / bpg;
        if (groups > uint.MaxValue)
        {
            FormatError.Throw(S, Offset, "too many block groups.");
        }

        uint inodes = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x00..]);
        if ((ulong)inodes != (ulong)groups * ipg)
        {
            FormatError.Throw(S, Offset, $"inode count {inodes} is not {groups} groups × {ipg} inodes.");
        }

        int inodeSize = rev == 0 ? 128 : BinaryPrimitives.ReadUInt16LittleEndian(sb[0x58..]);
        if (inodeSize < 128 || inodeSize > blockSize || !ulong.IsPow2((ulong)inodeSize))
        {
            FormatError.Throw(S, Offset, $"inode size {inodeSize} is out of range.");
        }

        uint firstIno = rev == 0 ? 11 : BinaryPrimitives.ReadUInt32LittleEndian(sb[0x54..]);
        if (firstIno < 11 || firstIno > inodes)
        {
            FormatError.Throw(S, Offset, $"first inode {firstIno} is out of range.");
        }

        int descSize = 32;
        if (is64)
        {
            descSize = BinaryPrimitives.ReadUInt16LittleEndian(sb[0xFE..]);
            if (descSize < 64 || descSize > 1024 || !ulong.IsPow2((ulong)descSize))
            {
                FormatError.Throw(S, Offset, $"group descriptor size {descSize} is out of range.");
            }
        }

        byte[] uuid = sb.Slice(0x68, 16).ToArray();
        uint seed = 0;
        if (metadataCsum)
        {
            seed = (incompat & Ext4IncompatibleFeatures.ChecksumSeed) != 0
                ? BinaryPrimitives.ReadUInt32LittleEndian(sb[0x270..])
                : Ext4Checksum.Crc32C(~0u, uuid);
        }

        ReadOnlySpan<byte> label = sb.Slice(0x78, 16);
        int nul = label.IndexOf((byte)0);
        return new Ext4SuperBlock
        {
            InodesCount = inodes,
            BlocksCount = blocks,
            FirstDataBlock = firstData,
            BlockSize = blockSize,
            BlocksPerGroup = bpg,
            InodesPerGroup = ipg,
            RevisionLevel = rev,
            FirstInode = firstIno,
            InodeSize = inodeSize,
            Compatible = compat,
            Incompatible = incompat,
            ReadOnlyCompatible = rocompat,
            UuidBytes = uuid,
            Uuid = new Guid(uuid, bigEndian: true),
            VolumeName = System.Text.Encoding.UTF8.GetString(nul >= 0 ? label[..nul] : label),
            DescriptorSize = descSize,
            FirstMetaBlockGroup = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x104..]),
            BackupGroup0 = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x24C..]),
            BackupGroup1 = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x250..]),
            ChecksumSeed = seed,
            GroupCount = (uint)groups,
            State = BinaryPrimitives.ReadUInt16LittleEndian(sb[0x3A..]),
        };
    }

    /// <summary>Whether block group <paramref name="group"/> holds a superblock backup (and descriptor copy).</summary>
    public bool GroupHasSuperblock(uint group)
    {
        if (group == 0)
        {
            return true;
        }

        if ((Compatible & Ext4CompatibleFeatures.SparseSuper2) != 0)
        {
            return group == BackupGroup0 || group == BackupGroup1;
        }

        if (group == 1 || (ReadOnlyCompatible & Ext4ReadOnlyCompatibleFeatures.SparseSuper) == 0)
        {
            return group == 1 || (ReadOnlyCompatible & Ext4ReadOnlyCompatibleFeatures.SparseSuper) == 0;
        }

        return IsPowerOf(group, 3) || IsPowerOf(group, 5) || IsPowerOf(group, 7);
    }

    private static bool IsPowerOf(uint value, uint b)
    {
        ulong p = b;
        while (p < value)
        {
            p *= b;
        }

        return p == value;
    }
}
