using System.Buffers.Binary;
using System.Numerics;

namespace DiskImage.FileSystems.Ext4;

/// <summary>The checksum functions of ext4: raw CRC-32C (no final inversion) and the crc16 of <c>gdt_csum</c>.</summary>
internal static class Ext4Checksum
{
    /// <summary>Continues a raw CRC-32C register over <paramref name="data"/> (ext4 <c>ext4_chksum</c>).</summary>
    public static uint Crc32C(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (byte b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return crc;
    }

    /// <summary>Continues a raw CRC-32C register over a little-endian 32-bit value.</summary>
    public static uint Crc32C(uint crc, uint value) => BitOperations.Crc32C(crc, value);

    /// <summary>Continues a raw CRC-32C register over <paramref name="count"/> zero bytes.</summary>
    public static uint Crc32CZeros(uint crc, int count)
    {
        for (int i = 0; i < count; i++)
        {
            crc = BitOperations.Crc32C(crc, (byte)0);
        }

        return crc;
    }

    /// <summary>CRC-16 (polynomial 0x8005, reflected) as used for <c>bg_checksum</c> without metadata_csum.</summary>
    public static ushort Crc16(ushort crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
        {
            crc ^= b;
            for (int i = 0; i < 8; i++)
            {
                crc = (crc & 1) != 0 ? (ushort)((crc >> 1) ^ 0xA001) : (ushort)(crc >> 1);
            }
        }

        return crc;
    }
}
