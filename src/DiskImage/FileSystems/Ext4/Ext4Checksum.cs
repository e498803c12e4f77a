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

    /// <summary>The per-inode seed: the register continued over the inode number and generation (little-endian).</summary>
    public static uint InodeSeed(uint fsSeed, uint number, uint generation) =>
        Crc32C(Crc32C(fsSeed, number), generation);

    /// <summary>
    /// The inode checksum over all <c>s_inode_size</c> bytes of <paramref name="raw"/> with <c>i_checksum_lo</c>
    /// (0x7C) and, when <paramref name="hasHi"/> (<c>i_extra_isize</c> ≥ 4), <c>i_checksum_hi</c> (0x82) read as
    /// zero. Only the low 16 bits are stored when there is no high field.
    /// </summary>
    public static uint Inode(uint inodeSeed, ReadOnlySpan<byte> raw, bool hasHi)
    {
        uint c = Crc32C(inodeSeed, raw[..0x7C]);
        c = Crc32CZeros(c, 2);
        c = Crc32C(c, raw[0x7E..0x80]);
        if (raw.Length > 128)
        {
            if (hasHi)
            {
                c = Crc32C(c, raw[0x80..0x82]);
                c = Crc32CZeros(c, 2);
                c = Crc32C(c, raw[0x84..]);
            }
            else
            {
                c = Crc32C(c, raw[0x80..]);
            }
        }

        return c;
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
