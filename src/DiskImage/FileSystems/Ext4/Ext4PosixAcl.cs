using System.Buffers.Binary;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Converts between ext4's compact on-disk POSIX ACL encoding (version 1: 4-byte entries for the owner,
/// group, mask and other tags, 8-byte entries for named users and groups) and the encoding the
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
    private const uint UndefinedId = uint.MaxValue;

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

    /// <summary>
    /// Converts a standard (version 2) ACL xattr value to ext4's on-disk encoding. The ACL must be valid as
    /// the Linux kernel defines it: entries in the order owner, named users, owning group, named groups, mask,
    /// other; a mask when named entries exist; permissions within rwx; id 0xFFFFFFFF for the owner, owning
    /// group, mask and other entries.
    /// </summary>
    /// <exception cref="ArgumentException">The value is not a valid ACL.</exception>
    public static byte[] ToDisk(ReadOnlySpan<byte> xattr)
    {
        if (xattr.Length < 4 || (xattr.Length - 4) % 8 != 0)
        {
            throw Invalid($"its length {xattr.Length} is not 4 + 8 * entries");
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(xattr) != XattrVersion)
        {
            throw Invalid($"its version is {BinaryPrimitives.ReadUInt32LittleEndian(xattr)}, not {XattrVersion}");
        }

        int count = (xattr.Length - 4) / 8;
        int size = 4;

        // Validation follows the kernel's rules: a state machine over the tag order.
        const int ExpectUserObj = 0, InUsers = 1, InGroups = 2, AfterMask = 3, Done = 4;
        int state = ExpectUserObj;
        bool needsMask = false;
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> e = xattr.Slice(4 + (i * 8), 8);
            ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(e);
            ushort perm = BinaryPrimitives.ReadUInt16LittleEndian(e[2..]);
            uint id = BinaryPrimitives.ReadUInt32LittleEndian(e[4..]);
            if ((perm & ~7) != 0)
            {
                throw Invalid($"entry {i} has permission bits 0x{perm:X}");
            }

            bool named = tag is User or Group;
            if (!named && tag is UserObj or GroupObj or Mask or Other && id != UndefinedId)
            {
                throw Invalid($"entry {i} (tag 0x{tag:X}) has id {id} instead of 0xFFFFFFFF");
            }

            state = (tag, state) switch
            {
                (UserObj, ExpectUserObj) => InUsers,
                (User, InUsers) => InUsers,
                (GroupObj, InUsers) => InGroups,
                (Group, InGroups) => InGroups,
                (Mask, InGroups) => AfterMask,
                (Other, AfterMask) => Done,
                (Other, InGroups) when !needsMask => Done,
                _ => throw Invalid(tag is UserObj or User or GroupObj or Group or Mask or Other
                    ? $"entry {i} (tag 0x{tag:X}) is out of order, repeated or needs a mask entry before it"
                    : $"entry {i} has the unknown tag 0x{tag:X}"),
            };

            needsMask |= named;
            size += named ? 8 : 4;
        }

        if (state != Done)
        {
            throw Invalid("it lacks the owner, owning group or other entry");
        }

        byte[] disk = new byte[size];
        Span<byte> d = disk;
        BinaryPrimitives.WriteUInt32LittleEndian(d, DiskVersion);
        int off = 4;
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> e = xattr.Slice(4 + (i * 8), 8);
            ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(e);
            e[..4].CopyTo(d[off..]);
            if (tag is User or Group)
            {
                e[4..].CopyTo(d[(off + 4)..]);
                off += 8;
            }
            else
            {
                off += 4;
            }
        }

        return disk;
    }

    private static ArgumentException Invalid(string reason) =>
        new($"The value is not a valid POSIX ACL: {reason}.", "value");
}
