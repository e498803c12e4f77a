using System.Buffers.Binary;
using System.Text;

namespace DiskImage.FileSystems.Ext4;

/// <summary>Extended attributes: the in-inode area after <c>i_extra_isize</c> and the external block at <c>i_file_acl</c>.</summary>
public sealed partial class Ext4FileSystem
{
    private const uint XattrMagic = 0xEA020000;

    /// <summary>All attributes of an inode, in-inode ones first.</summary>
    internal List<Ext4Xattr> ReadXattrs(Ext4Inode inode)
    {
        List<Ext4Xattr> list = ReadInodeXattrs(inode);
        if (inode.FileAcl != 0)
        {
            ReadBlockXattrs(inode, list);
        }

        return list;
    }

    internal List<Ext4Xattr> ReadInodeXattrs(Ext4Inode inode)
    {
        var list = new List<Ext4Xattr>();
        int start = 128 + inode.ExtraSize;
        if (inode.Raw.Length <= 128 || start + 4 > inode.Raw.Length)
        {
            return list;
        }

        ReadOnlySpan<byte> raw = inode.Raw;
        if (BinaryPrimitives.ReadUInt32LittleEndian(raw[start..]) != XattrMagic)
        {
            return list;
        }

        // Value offsets are relative to the first entry.
        ReadOnlySpan<byte> region = raw[(start + 4)..];
        ParseXattrEntries(inode, region, 0, region, list, "ext4 in-inode xattrs");
        return list;
    }

    private void ReadBlockXattrs(Ext4Inode inode, List<Ext4Xattr> list)
    {
        const string S = "ext4 xattr block";
        long block = inode.FileAcl;
        int bs = _sb.BlockSize;
        if (block < _sb.FirstDataBlock || block >= _sb.BlocksCount)
        {
            FormatError.Throw(S, -1, $"inode {inode.Number}: xattr block {block} lies outside the file system.");
        }

        byte[] buffer = new byte[bs];
        _device.ReadExactly(block * bs, buffer);
        ReadOnlySpan<byte> b = buffer;
        if (BinaryPrimitives.ReadUInt32LittleEndian(b) != XattrMagic || BinaryPrimitives.ReadUInt32LittleEndian(b[8..]) != 1)
        {
            FormatError.Throw(S, block * bs, $"inode {inode.Number}: bad xattr block header.");
        }

        if (_sb.HasMetadataChecksum && _options.VerifyChecksums)
        {
            Span<byte> le = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(le, block);
            uint c = Ext4Checksum.Crc32C(_sb.ChecksumSeed, le);
            c = Ext4Checksum.Crc32C(c, b[..0x10]);
            c = Ext4Checksum.Crc32CZeros(c, 4);
            c = Ext4Checksum.Crc32C(c, b[0x14..]);
            if (c != BinaryPrimitives.ReadUInt32LittleEndian(b[0x10..]))
            {
                FormatError.Throw(S, block * bs, $"inode {inode.Number}: checksum mismatch.");
            }
        }

        // Entries start after the 32-byte header; value offsets are relative to the block start.
        ParseXattrEntries(inode, b[32..], 32, b, list, S);
    }

    private static void ParseXattrEntries(Ext4Inode inode, ReadOnlySpan<byte> entries, int entriesOffsetInValues, ReadOnlySpan<byte> values, List<Ext4Xattr> list, string structure)
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
            string name = Encoding.UTF8.GetString(entries.Slice(off + 16, nameLen));
            if (valueInum != 0)
            {
                FormatError.Unsupported($"Inode {inode.Number}: the value of xattr '{name}' is stored in inode {valueInum} (ea_inode), which is not supported yet.");
            }

            if (valueSize != 0 && (valueSize > (uint)values.Length || valueOffs < valuesStart || valueOffs > values.Length - (int)valueSize))
            {
                FormatError.Throw(structure, -1, $"inode {inode.Number}: value of '{name}' (offset {valueOffs}, size {valueSize}) lies outside the attribute area.");
            }

            list.Add(new Ext4Xattr(index, name, valueSize == 0 ? [] : values.Slice(valueOffs, (int)valueSize).ToArray()));
            off += (16 + nameLen + 3) & ~3;
        }
    }
}
