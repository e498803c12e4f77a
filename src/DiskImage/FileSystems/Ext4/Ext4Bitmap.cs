using System.Buffers.Binary;
using System.Numerics;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Tests, sets and searches bits of an ext4 block or inode bitmap (bit i of byte i / 8, least significant first).
/// </summary>
internal static class Ext4Bitmap
{
    internal static bool TestBit(ReadOnlySpan<byte> bitmap, int bit) => (bitmap[bit >> 3] & (1 << (bit & 7))) != 0;

    /// <summary>Sets or clears <paramref name="count"/> bits from <paramref name="start"/>.</summary>
    internal static void SetBits(Span<byte> bitmap, int start, int count, bool value)
    {
        int end = start + count;
        int i = start;
        while (i < end && (i & 7) != 0)
        {
            SetBit(bitmap, i++, value);
        }

        int bytes = (end - i) >> 3;
        if (bytes > 0)
        {
            bitmap.Slice(i >> 3, bytes).Fill(value ? (byte)0xFF : (byte)0);
            i += bytes << 3;
        }

        while (i < end)
        {
            SetBit(bitmap, i++, value);
        }

        static void SetBit(Span<byte> bitmap, int bit, bool value)
        {
            if (value)
            {
                bitmap[bit >> 3] |= (byte)(1 << (bit & 7));
            }
            else
            {
                bitmap[bit >> 3] &= (byte)~(1 << (bit & 7));
            }
        }
    }

    /// <summary>The first bit in [<paramref name="from"/>, <paramref name="end"/>) equal to <paramref name="value"/>, or -1.</summary>
    internal static int FindBit(ReadOnlySpan<byte> bitmap, int from, int end, bool value)
    {
        int i = from;
        ulong skip = value ? 0UL : ulong.MaxValue;
        while (i < end)
        {
            if ((i & 63) == 0 && i + 64 <= end)
            {
                ulong w = BinaryPrimitives.ReadUInt64LittleEndian(bitmap[(i >> 3)..]);
                if (w == skip)
                {
                    i += 64;
                    continue;
                }

                return i + BitOperations.TrailingZeroCount(value ? w : ~w);
            }

            if (TestBit(bitmap, i) == value)
            {
                return i;
            }

            i++;
        }

        return -1;
    }
}
