using System.Buffers.Binary;
using System.Text;

namespace DiskImage.FileSystems.Ext4;

// Extended attributes: the in-inode area after i_extra_isize and the external block at i_file_acl.
public sealed partial class Ext4FileSystem
{
    private const string BlockStructure = "ext4 xattr block";

    /// <summary>The metadata_csum seed xattr block checksums start from (for tests).</summary>
    internal uint XattrChecksumSeed => _sb.ChecksumSeed;

    /// <summary>All attributes of an inode, in-inode ones first.</summary>
    internal List<Ext4Xattr> ReadXattrs(Ext4Inode inode)
    {
        var raw = new List<Ext4XattrEntry>();
        ParseInodeXattrs(inode, raw);
        if (inode.FileAcl != 0)
        {
            byte[] block = new byte[_sb.BlockSize];
            ReadXattrBlock(inode, block, forWrite: false);
            ParseXattrEntries(inode, block.AsSpan(Ext4XattrLayout.BlockHeaderSize), Ext4XattrLayout.BlockHeaderSize, block, raw, BlockStructure);
        }

        return ToXattrs(raw);
    }

    internal List<Ext4Xattr> ReadInodeXattrs(Ext4Inode inode)
    {
        var raw = new List<Ext4XattrEntry>();
        ParseInodeXattrs(inode, raw);
        return ToXattrs(raw);
    }

    private static List<Ext4Xattr> ToXattrs(List<Ext4XattrEntry> raw)
    {
        var list = new List<Ext4Xattr>(raw.Count);
        foreach (Ext4XattrEntry e in raw)
        {
            list.Add(new Ext4Xattr(e.Index, Encoding.UTF8.GetString(e.Name), e.Value));
        }

        return list;
    }

    /// <summary>Parses the in-inode area (after <c>i_extra_isize</c>) when it starts with the magic.</summary>
    private static void ParseInodeXattrs(Ext4Inode inode, List<Ext4XattrEntry> list)
    {
        int start = 128 + inode.ExtraSize;
        if (inode.Raw.Length <= 128 || start + 4 > inode.Raw.Length)
        {
            return;
        }

        ReadOnlySpan<byte> raw = inode.Raw;
        if (BinaryPrimitives.ReadUInt32LittleEndian(raw[start..]) != Ext4XattrLayout.Magic)
        {
            return;
        }

        // Value offsets are relative to the first entry.
        ReadOnlySpan<byte> region = raw[(start + 4)..];
        ParseXattrEntries(inode, region, 0, region, list, "ext4 in-inode xattrs");
    }

    /// <summary>
    /// Reads and validates the attribute block of an inode: block number in range, magic, <c>h_blocks</c> = 1,
    /// the checksum (metadata_csum, when verified) and, for writing, a non-zero reference count.
    /// </summary>
    private void ReadXattrBlock(Ext4Inode inode, Span<byte> block, bool forWrite)
    {
        long number = inode.FileAcl;
        int bs = _sb.BlockSize;
        if (number < _sb.FirstDataBlock || number >= _sb.BlocksCount)
        {
            FormatError.Throw(BlockStructure, -1, $"inode {inode.Number}: xattr block {number} lies outside the file system.");
        }

        _device.ReadExactly(number * bs, block);
        if (BinaryPrimitives.ReadUInt32LittleEndian(block) != Ext4XattrLayout.Magic ||
            BinaryPrimitives.ReadUInt32LittleEndian(block[8..]) != 1 ||
            (forWrite && BinaryPrimitives.ReadUInt32LittleEndian(block[4..]) == 0))
        {
            FormatError.Throw(BlockStructure, number * bs, $"inode {inode.Number}: bad xattr block header.");
        }

        if (_sb.HasMetadataChecksum && VerifyChecksums &&
            Ext4XattrLayout.BlockChecksum(block, number, _sb.ChecksumSeed) != BinaryPrimitives.ReadUInt32LittleEndian(block[0x10..]))
        {
            FormatError.Throw(BlockStructure, number * bs, $"inode {inode.Number}: checksum mismatch.");
        }
    }

    private static void ParseXattrEntries(Ext4Inode inode, ReadOnlySpan<byte> entries, int entriesOffsetInValues, ReadOnlySpan<byte> values, List<Ext4XattrEntry> list, string structure)
    {
        // First find the terminating zero word: values must lie after it (as the kernel checks).
        int off = 0;
        int count = 0;
        while (true)
        {
            if (entries.Length - off < 4)
            {
                FormatError.Throw(structure, -1, $"inode {inode.Number}: the entry list is not terminated.");
            }

            if (BinaryPrimitives.ReadUInt32LittleEndian(entries[off..]) == 0)
            {
                break;
            }

            // POSIX ACL entries (index 2 and 3) have empty names; the list ends at a zero word.
            int nameLen = entries[off];
            if (entries.Length - off < 16 + nameLen)
            {
                FormatError.Throw(structure, -1, $"inode {inode.Number}: entry at offset {off} has a bad name length {nameLen}.");
            }

            if (entries.Slice(off + 16, nameLen).Contains((byte)0))
            {
                FormatError.Throw(structure, -1, $"inode {inode.Number}: entry at offset {off} has a NUL in its name.");
            }

            off += (16 + nameLen + 3) & ~3;
            count++;
        }

        int valuesStart = entriesOffsetInValues + off + 4;
        off = 0;
        for (int i = 0; i < count; i++)
        {
            int nameLen = entries[off];
            int index = entries[off + 1];
            int valueOffs = BinaryPrimitives.ReadUInt16LittleEndian(entries[(off + 2)..]);
            uint valueInum = BinaryPrimitives.ReadUInt32LittleEndian(entries[(off + 4)..]);
            uint valueSize = BinaryPrimitives.ReadUInt32LittleEndian(entries[(off + 8)..]);
            byte[] name = entries.Slice(off + 16, nameLen).ToArray();
            if (valueInum != 0)
            {
                FormatError.Unsupported($"Inode {inode.Number}: the value of xattr '{Encoding.UTF8.GetString(name)}' is stored in inode {valueInum} (ea_inode), which is not supported yet.");
            }

            if (valueSize != 0 && (valueSize > (uint)values.Length || valueOffs < valuesStart || valueOffs > values.Length - (int)valueSize))
            {
                FormatError.Throw(structure, -1, $"inode {inode.Number}: value of '{Encoding.UTF8.GetString(name)}' (offset {valueOffs}, size {valueSize}) lies outside the attribute area.");
            }

            list.Add(new Ext4XattrEntry((byte)index, name, valueSize == 0 ? [] : values.Slice(valueOffs, (int)valueSize).ToArray()));
            off += (16 + nameLen + 3) & ~3;
        }
    }
}
