using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Fills the self-describing fields of version 5 metadata blocks (uuid, owner, disk address) and their CRC, for the
/// three header layouts a writer produces: directory data/free blocks (<c>xfs_dir3_blk_hdr</c>), dabtree blocks
/// (<c>xfs_da3_blkinfo</c>: leaf, node, attr leaf) and remote blocks (<c>xfs_attr3_rmt_hdr</c>, <c>xfs_dsymlink_hdr</c>).
/// </summary>
internal static class XfsMetadataStamp
{
    /// <summary>A directory data, block or free-index block: crc 4, blkno 8, uuid 24, owner 40.</summary>
    public static void DirectoryBlock(Span<byte> block, ulong daddr, ReadOnlySpan<byte> uuid, ulong owner)
    {
        BinaryPrimitives.WriteUInt64BigEndian(block[8..], daddr);
        uuid.CopyTo(block[24..]);
        BinaryPrimitives.WriteUInt64BigEndian(block[40..], owner);
        XfsChecksum.Update(block, 4);
    }

    /// <summary>A dabtree block (directory leaf/node, attribute leaf): crc 12, blkno 16, uuid 32, owner 48.</summary>
    public static void DaBlock(Span<byte> block, ulong daddr, ReadOnlySpan<byte> uuid, ulong owner)
    {
        BinaryPrimitives.WriteUInt64BigEndian(block[16..], daddr);
        uuid.CopyTo(block[32..]);
        BinaryPrimitives.WriteUInt64BigEndian(block[48..], owner);
        XfsChecksum.Update(block, 12);
    }

    /// <summary>A remote attribute value or symlink block: crc 12, uuid 16, owner 32, blkno 40.</summary>
    public static void RemoteBlock(Span<byte> block, ulong daddr, ReadOnlySpan<byte> uuid, ulong owner)
    {
        uuid.CopyTo(block[16..]);
        BinaryPrimitives.WriteUInt64BigEndian(block[32..], owner);
        BinaryPrimitives.WriteUInt64BigEndian(block[40..], daddr);
        XfsChecksum.Update(block, 12);
    }
}
