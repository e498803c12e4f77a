using System.Buffers.Binary;
using DiskImage.FileSystems.Ext4;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// The XFS metadata checksum: standard CRC-32C (seed ~0, inverted result) over a whole structure with
/// its own checksum field counted as zero, stored little-endian (<c>xfs_cksum.h</c>).
/// </summary>
internal static class XfsChecksum
{
    /// <summary>The checksum of <paramref name="data"/> with the 4 bytes at <paramref name="crcOffset"/> taken as zero.</summary>
    public static uint Compute(ReadOnlySpan<byte> data, int crcOffset)
    {
        uint crc = Ext4Checksum.Crc32C(uint.MaxValue, data[..crcOffset]);
        crc = Ext4Checksum.Crc32C(crc, 0u);
        crc = Ext4Checksum.Crc32C(crc, data[(crcOffset + 4)..]);
        return ~crc;
    }

    /// <summary>Whether the checksum stored at <paramref name="crcOffset"/> matches the data.</summary>
    public static bool IsValid(ReadOnlySpan<byte> data, int crcOffset) =>
        BinaryPrimitives.ReadUInt32LittleEndian(data[crcOffset..]) == Compute(data, crcOffset);

    /// <summary>Stores the checksum of <paramref name="data"/> at <paramref name="crcOffset"/>.</summary>
    public static void Update(Span<byte> data, int crcOffset) =>
        BinaryPrimitives.WriteUInt32LittleEndian(data[crcOffset..], Compute(data, crcOffset));
}
