using System.Buffers.Binary;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Converts ext4's compact on-disk POSIX ACL encoding (version 1: 4-byte entries for the owner, group,
/// mask and other tags, 8-byte entries for named users and groups) to the encoding the
/// <c>system.posix_acl_access</c>/<c>_default</c> xattrs carry everywhere else (version 2: 8-byte
/// entries, id 0xFFFFFFFF where none applies).
/// </summary>
internal static class Ext4PosixAcl
{
    private const uint DiskVersion = 1;
    private const uint XattrVersion = 2;
    private const ushort UserObj = 0x01;
    private const ushort User = 0x02;
    private const ushort GroupObj = 0x04;
    private const ushort Group = 0x08;
    private const ushort Mask = 0x10;
    private const ushort Other = 0x20;

    public static byte[] ToXattr(ReadOnlySpan<byte> disk, uint inode)
    {
        const string S = "ext4 POSIX ACL";
        if (disk.Length < 4 || BinaryPrimitives.ReadUInt32LittleEndian(disk) != DiskVersion)
        {
            FormatError.Throw(S, -1, $"inode {inode}: unknown ACL version.");
        }

        // Every on-disk entry is at least 4 bytes, so the xattr form is at most twice as long.
        var result = new List<byte>(4 + ((disk.Length - 4) * 2));
        Span<byte> entry = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(entry, XattrVersion);
        result.AddRange(entry[..4]);
        int off = 4;
        while (off < disk.Length)
        {
            if (disk.Length - off < 4)
            {
                FormatError.Throw(S, -1, $"inode {inode}: truncated ACL entry.");
            }

            ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(disk[off..]);
            ushort perm = BinaryPrimitives.ReadUInt16LittleEndian(disk[(off + 2)..]);
            uint id;
            switch (tag)
            {
                case UserObj or GroupObj or Mask or Other:
                    id = uint.MaxValue;
                    off += 4;
                    break;
                case User or Group:
                    if (disk.Length - off < 8)
                    {
                        FormatError.Throw(S, -1, $"inode {inode}: truncated ACL entry.");
                    }

                    id = BinaryPrimitives.ReadUInt32LittleEndian(disk[(off + 4)..]);
                    off += 8;
                    break;
                default:
                    throw FormatError.Create(S, -1, $"inode {inode}: unknown ACL tag 0x{tag:X}.");
            }

            BinaryPrimitives.WriteUInt16LittleEndian(entry, tag);
            BinaryPrimitives.WriteUInt16LittleEndian(entry[2..], perm);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[4..], id);
            result.AddRange(entry);
        }

        return [.. result];
    }
}
