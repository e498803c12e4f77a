using System.Buffers.Binary;

namespace DiskImage.Compression;

/// <summary>CRC-32 (IEEE 802.3, reflected 0xEDB88320) as gzip and GPT use it; slicing-by-8.</summary>
internal static class Crc32
{
    private const uint Polynomial = 0xEDB88320;
    private const uint One = 0x80000000; // the polynomial 1 in reflected bit order (bit 31 is x^0)
    private static readonly uint[] Table = BuildTable();

    /// <summary>
    /// The CRC of A followed by B from <paramref name="crcA"/>, <paramref name="crcB"/> and B's length:
    /// CRC(A‖B) = CRC(A)·x^(8·|B|) mod P ⊕ CRC(B) (the pre- and post-inversions cancel out).
    /// </summary>
    public static uint Combine(uint crcA, uint crcB, long lengthB)
    {
        if (lengthB <= 0)
        {
            return lengthB == 0 ? crcA : throw new ArgumentOutOfRangeException(nameof(lengthB));
        }

        // x^(8·n) mod P by square-and-multiply over the bits of n, starting from x^8.
        uint power = One >> 8;
        uint shift = One;
        for (ulong n = (ulong)lengthB; n != 0; n >>= 1)
        {
            if ((n & 1) != 0)
            {
                shift = MultiplyModP(shift, power);
            }

            power = MultiplyModP(power, power);
        }

        return MultiplyModP(shift, crcA) ^ crcB;
    }

    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        uint[] t = Table;
        crc = ~crc;
        while (data.Length >= 8)
        {
            uint one = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ crc;
            uint two = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            crc = t[(7 * 256) + (one & 0xFF)] ^ t[(6 * 256) + ((one >> 8) & 0xFF)] ^ t[(5 * 256) + ((one >> 16) & 0xFF)] ^ t[(4 * 256) + (one >> 24)]
                ^ t[(3 * 256) + (two & 0xFF)] ^ t[(2 * 256) + ((two >> 8) & 0xFF)] ^ t[256 + ((two >> 16) & 0xFF)] ^ t[two >> 24];
            data = data[8..];
        }

        foreach (byte b in data)
        {
            crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    /// <summary>a·b mod P, both in reflected bit order.</summary>
    private static uint MultiplyModP(uint a, uint b)
    {
        uint product = 0;
        for (uint bit = One; bit != 0; bit >>= 1)
        {
            if ((a & bit) != 0)
            {
                product ^= b;
            }

            b = (b & 1) != 0 ? (b >> 1) ^ Polynomial : b >> 1;
        }

        return product;
    }

    private static uint[] BuildTable()
    {
        var t = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }

            t[i] = c;
        }

        for (int s = 1; s < 8; s++)
        {
            for (int i = 0; i < 256; i++)
            {
                uint prev = t[((s - 1) * 256) + i];
                t[(s * 256) + i] = t[prev & 0xFF] ^ (prev >> 8);
            }
        }

        return t;
    }
}
