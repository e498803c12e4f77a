using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// POSIX ACLs as XFS stores them (<c>struct xfs_acl</c>: be32 count, then 12-byte entries of be32 tag,
/// be32 id, be16 perm, pad) converted to the Linux xattr format (<c>posix_acl_xattr</c>: le32 version 2,
/// then 8-byte entries of le16 tag, le16 perm, le32 id).
/// </summary>
internal static class XfsPosixAcl
{
    /// <summary>The Linux name of the access ACL.</summary>
    public const string AccessName = "system.posix_acl_access";

    /// <summary>The Linux name of the default ACL.</summary>
    public const string DefaultName = "system.posix_acl_default";

    private const int DiskEntry = 12;
    private const int XattrEntry = 8;
    private const uint XattrVersion = 2;

    /// <summary>Converts an on-disk XFS ACL to the xattr form.</summary>
    public static byte[] ToXattr(ReadOnlySpan<byte> disk, string what)
    {
        if (disk.Length < 4)
        {
            FormatError.Throw(what, -1, "an ACL is shorter than its count.");
        }

        uint count = BinaryPrimitives.ReadUInt32BigEndian(disk);
        if (count > (uint)((disk.Length - 4) / DiskEntry))
        {
            FormatError.Throw(what, -1, $"an ACL of {count} entries does not fit in {disk.Length} bytes.");
        }

        byte[] xattr = new byte[4 + ((int)count * XattrEntry)];
        BinaryPrimitives.WriteUInt32LittleEndian(xattr, XattrVersion);
        for (int i = 0; i < (int)count; i++)
        {
            ReadOnlySpan<byte> e = disk.Slice(4 + (i * DiskEntry), DiskEntry);
            Span<byte> x = xattr.AsSpan(4 + (i * XattrEntry), XattrEntry);
            BinaryPrimitives.WriteUInt16LittleEndian(x, (ushort)BinaryPrimitives.ReadUInt32BigEndian(e));
            BinaryPrimitives.WriteUInt16LittleEndian(x[2..], BinaryPrimitives.ReadUInt16BigEndian(e[8..]));
            BinaryPrimitives.WriteUInt32LittleEndian(x[4..], BinaryPrimitives.ReadUInt32BigEndian(e[4..]));
        }

        return xattr;
    }

    /// <summary>Converts the Linux xattr form (version 2) to the on-disk XFS ACL.</summary>
    /// <exception cref="ArgumentException">The value is not a version 2 POSIX ACL of whole entries.</exception>
    public static byte[] ToDisk(ReadOnlySpan<byte> xattr)
    {
        if (xattr.Length < 4 || BinaryPrimitives.ReadUInt32LittleEndian(xattr) != XattrVersion || (xattr.Length - 4) % XattrEntry != 0)
        {
            throw new ArgumentException("not a version 2 POSIX ACL.");
        }

        int count = (xattr.Length - 4) / XattrEntry;
        byte[] disk = new byte[4 + (count * DiskEntry)];
        BinaryPrimitives.WriteUInt32BigEndian(disk, (uint)count);
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> x = xattr.Slice(4 + (i * XattrEntry), XattrEntry);
            Span<byte> e = disk.AsSpan(4 + (i * DiskEntry), DiskEntry);
            BinaryPrimitives.WriteUInt32BigEndian(e, BinaryPrimitives.ReadUInt16LittleEndian(x));
            BinaryPrimitives.WriteUInt32BigEndian(e[4..], BinaryPrimitives.ReadUInt32LittleEndian(x[4..]));
            BinaryPrimitives.WriteUInt16BigEndian(e[8..], BinaryPrimitives.ReadUInt16LittleEndian(x[2..]));
        }

        return disk;
    }
}
