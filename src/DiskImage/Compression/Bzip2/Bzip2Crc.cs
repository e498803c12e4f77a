namespace DiskImage.Compression.Bzip2;

/// <summary>
/// The CRC-32 that bzip2 stores per block and per stream: polynomial 0x04C11DB7 in normal (not reflected) bit order,
/// initial value 0xFFFFFFFF, final inversion (the CRC-32/BZIP2 of the CRC catalogues).
/// </summary>
internal static class Bzip2Crc
{
    private static readonly uint[] Table = BuildTable();

    /// <summary>The value a CRC starts from before any byte.</summary>
    public const uint Initial = 0xFFFFFFFF;

    /// <summary>Adds <paramref name="data"/> to a running (not yet inverted) CRC.</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        uint[] table = Table;
        foreach (byte b in data)
        {
            crc = (crc << 8) ^ table[(crc >> 24) ^ b];
        }

        return crc;
    }

    /// <summary>Adds <paramref name="count"/> copies of <paramref name="value"/> to a running CRC.</summary>
    public static uint UpdateRun(uint crc, byte value, int count)
    {
        uint[] table = Table;
        for (int i = 0; i < count; i++)
        {
            crc = (crc << 8) ^ table[(crc >> 24) ^ value];
        }

        return crc;
    }

    /// <summary>
    /// The block CRC of the bytes that a block's first run-length stage (RLE1) came from, computed from the RLE1
    /// output: after four equal bytes the next byte is a count of further copies of that byte (0–251).
    /// </summary>
    public static uint OfRle1Block(ReadOnlySpan<byte> rle1)
    {
        uint[] table = Table;
        uint crc = Initial;
        int last = -1;
        int same = 0;
        for (int i = 0; i < rle1.Length; i++)
        {
            byte b = rle1[i];
            if (same == 4)
            {
                crc = UpdateRun(crc, (byte)last, b);
                same = 0;
                last = -1;
                continue;
            }

            crc = (crc << 8) ^ table[(crc >> 24) ^ b];
            if (b == last)
            {
                same++;
            }
            else
            {
                last = b;
                same = 1;
            }
        }

        return ~crc;
    }

    /// <summary>The stream CRC after one more block: rotate left by one, then xor the block's CRC.</summary>
    public static uint CombineStream(uint streamCrc, uint blockCrc) => ((streamCrc << 1) | (streamCrc >> 31)) ^ blockCrc;

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i << 24;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 0x80000000) != 0 ? (c << 1) ^ 0x04C11DB7 : c << 1;
            }

            table[i] = c;
        }

        return table;
    }
}
