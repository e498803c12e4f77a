using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Fills the superblock of a new file system from the formatter's geometry and seals each copy (primary
/// and sparse_super backups) with its group number and checksum.
/// </summary>
internal sealed class Ext4FormatSuperblockWriter(Ext4Formatter owner)
{
    private readonly Ext4Formatter _formatter = owner;

    internal void BuildSuperblock(byte[] sb, long freeBlocks, long freeInodes)
    {
        byte[] uuidBytes = _formatter._uuidBytes;
        Guid hashSeed = _formatter._hashSeed;
        long seconds = _formatter._seconds;
        long journalBlocks = _formatter._journalBlocks;
        List<(long Start, long Count)> journalExtents = _formatter._journalExtents;
        long journalLeaf = _formatter._journalLeaf;
        Span<byte> s = sb;
        long reserved = _formatter._blocks * _formatter._o.ReservedBlocksPercent / 100;
        uint inodes = _formatter._ipg * _formatter._groups;
        int log = BitOperations.Log2((uint)_formatter._bs) - 10;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x00..], inodes);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x04..], (uint)_formatter._blocks);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x08..], (uint)reserved);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x0C..], (uint)freeBlocks);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x10..], (uint)freeInodes);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x14..], _formatter._firstData);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x18..], (uint)log);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x1C..], (uint)log);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x20..], (uint)_formatter._bpg);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x24..], (uint)_formatter._bpg);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x28..], _formatter._ipg);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x30..], (uint)seconds);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x36..], 0xFFFF);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x38..], Ext4SuperBlock.Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x3A..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x3C..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x40..], (uint)seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x4C..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x54..], Ext4Formatter.FirstInode);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x58..], (ushort)_formatter._inodeSize);

        var compat = Ext4CompatibleFeatures.ExtendedAttributes | Ext4CompatibleFeatures.DirIndex;
        if (journalBlocks > 0)
        {
            compat |= Ext4CompatibleFeatures.HasJournal;
        }

        if (_formatter._resizeInode)
        {
            compat |= Ext4CompatibleFeatures.ResizeInode;
            BinaryPrimitives.WriteUInt16LittleEndian(s[0xCE..], (ushort)_formatter._rsvGdt);
        }

        if (_formatter._orphanIno != 0)
        {
            compat |= Ext4CompatibleFeatures.OrphanFile;
            BinaryPrimitives.WriteUInt32LittleEndian(s[0x280..], _formatter._orphanIno);
        }

        var incompat = Ext4IncompatibleFeatures.FileType | Ext4IncompatibleFeatures.Extents | Ext4IncompatibleFeatures.FlexBlockGroups;
        if (_formatter._is64)
        {
            incompat |= Ext4IncompatibleFeatures.SixtyFourBit;
        }

        if (_formatter._csumSeedFeature)
        {
            incompat |= Ext4IncompatibleFeatures.ChecksumSeed;
            BinaryPrimitives.WriteUInt32LittleEndian(s[0x270..], _formatter._checksumSeed);
        }

        var ro = Ext4ReadOnlyCompatibleFeatures.SparseSuper | Ext4ReadOnlyCompatibleFeatures.LargeFile |
            Ext4ReadOnlyCompatibleFeatures.HugeFile | Ext4ReadOnlyCompatibleFeatures.DirNLink;
        if (_formatter.HasExtra)
        {
            ro |= Ext4ReadOnlyCompatibleFeatures.ExtraInodeSize;
        }

        ro |= _formatter._metadataCsum ? Ext4ReadOnlyCompatibleFeatures.MetadataChecksum : Ext4ReadOnlyCompatibleFeatures.GroupDescriptorChecksum;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x5C..], (uint)compat);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x60..], (uint)incompat);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x64..], (uint)ro);
        uuidBytes.CopyTo(s[0x68..]);
        Encoding.UTF8.GetBytes(_formatter._o.Label, s.Slice(0x78, 16));
        if (journalBlocks > 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(s[0xE0..], Ext4Formatter.JournalInode);
        }

        hashSeed.TryWriteBytes(s.Slice(0xEC, 16), bigEndian: true, out _);
        s[0xFC] = 1; // half_md4
        s[0xFD] = journalBlocks > 0 ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt16LittleEndian(s[0xFE..], _formatter._is64 ? (ushort)_formatter._descSize : (ushort)0);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x100..], 0x000C); // user_xattr, acl
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x108..], (uint)seconds);
        if (journalBlocks > 0)
        {
            Span<byte> iblock = stackalloc byte[60];
            iblock.Clear();
            if (journalLeaf != 0)
            {
                Ext4FormatInodeWriter.WriteIndexRoot(iblock, journalLeaf);
            }
            else
            {
                Ext4FormatInodeWriter.WriteExtents(iblock, journalExtents, 4);
            }
            iblock.CopyTo(s[0x10C..]);
            long size = journalBlocks * _formatter._bs;
            BinaryPrimitives.WriteUInt32LittleEndian(s[(0x10C + 60)..], (uint)(size >> 32));
            BinaryPrimitives.WriteUInt32LittleEndian(s[(0x10C + 64)..], (uint)size);
        }

        if (_formatter._is64)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(s[0x150..], (uint)(_formatter._blocks >> 32));
            BinaryPrimitives.WriteUInt32LittleEndian(s[0x154..], (uint)(reserved >> 32));
            BinaryPrimitives.WriteUInt32LittleEndian(s[0x158..], (uint)(freeBlocks >> 32));
        }

        if (_formatter.HasExtra)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(s[0x15C..], 32);
            BinaryPrimitives.WriteUInt16LittleEndian(s[0x15E..], 32);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(s[0x160..], 1); // signed directory hash
        s[0x174] = (byte)BitOperations.Log2(Ext4Formatter.FlexGroupSize);
        if (_formatter._metadataCsum)
        {
            s[0x175] = 1; // crc32c
        }
    }

    internal void SealSuperblock(byte[] sb, uint group)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(sb.AsSpan(0x5A), (ushort)group);
        if (_formatter._metadataCsum)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(sb.AsSpan(0x3FC), Ext4Checksum.Crc32C(~0u, sb.AsSpan(0, 0x3FC)));
        }
    }
}
