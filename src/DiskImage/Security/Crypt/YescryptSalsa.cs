using System.Numerics;
using System.Runtime.CompilerServices;

namespace DiskImage.Security.Crypt;

/// <summary>
/// The Salsa20 core and scrypt's BlockMix over yescrypt's working layout, in which every 16-word
/// block is kept "SIMD-shuffled": word <c>i</c> of the stored block is word <c>i * 5 mod 16</c> of the
/// Salsa20 state. The layout matters because pwxform and Integerify read the stored words directly.
/// </summary>
/// <remarks>Facts: the yescrypt specification and reference (<c>salsa20</c>, <c>blockmix_salsa8</c>).</remarks>
internal static class YescryptSalsa
{
    /// <summary>Applies the Salsa20 core with <paramref name="rounds"/> rounds (8 or 2) in place, feeding the input forward.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Core(Span<uint> b, int rounds)
    {
        // Stored word i is state word i*5 mod 16.
        uint x0 = b[0], x5 = b[1], x10 = b[2], x15 = b[3];
        uint x4 = b[4], x9 = b[5], x14 = b[6], x3 = b[7];
        uint x8 = b[8], x13 = b[9], x2 = b[10], x7 = b[11];
        uint x12 = b[12], x1 = b[13], x6 = b[14], x11 = b[15];

        for (int i = 0; i < rounds; i += 2)
        {
            // Columns.
            x4 ^= BitOperations.RotateLeft(x0 + x12, 7);
            x8 ^= BitOperations.RotateLeft(x4 + x0, 9);
            x12 ^= BitOperations.RotateLeft(x8 + x4, 13);
            x0 ^= BitOperations.RotateLeft(x12 + x8, 18);
            x9 ^= BitOperations.RotateLeft(x5 + x1, 7);
            x13 ^= BitOperations.RotateLeft(x9 + x5, 9);
            x1 ^= BitOperations.RotateLeft(x13 + x9, 13);
            x5 ^= BitOperations.RotateLeft(x1 + x13, 18);
            x14 ^= BitOperations.RotateLeft(x10 + x6, 7);
            x2 ^= BitOperations.RotateLeft(x14 + x10, 9);
            x6 ^= BitOperations.RotateLeft(x2 + x14, 13);
            x10 ^= BitOperations.RotateLeft(x6 + x2, 18);
            x3 ^= BitOperations.RotateLeft(x15 + x11, 7);
            x7 ^= BitOperations.RotateLeft(x3 + x15, 9);
            x11 ^= BitOperations.RotateLeft(x7 + x3, 13);
            x15 ^= BitOperations.RotateLeft(x11 + x7, 18);

            // Rows.
            x1 ^= BitOperations.RotateLeft(x0 + x3, 7);
            x2 ^= BitOperations.RotateLeft(x1 + x0, 9);
            x3 ^= BitOperations.RotateLeft(x2 + x1, 13);
            x0 ^= BitOperations.RotateLeft(x3 + x2, 18);
            x6 ^= BitOperations.RotateLeft(x5 + x4, 7);
            x7 ^= BitOperations.RotateLeft(x6 + x5, 9);
            x4 ^= BitOperations.RotateLeft(x7 + x6, 13);
            x5 ^= BitOperations.RotateLeft(x4 + x7, 18);
            x11 ^= BitOperations.RotateLeft(x10 + x9, 7);
            x8 ^= BitOperations.RotateLeft(x11 + x10, 9);
            x9 ^= BitOperations.RotateLeft(x8 + x11, 13);
            x10 ^= BitOperations.RotateLeft(x9 + x8, 18);
            x12 ^= BitOperations.RotateLeft(x15 + x14, 7);
            x13 ^= BitOperations.RotateLeft(x12 + x15, 9);
            x14 ^= BitOperations.RotateLeft(x13 + x12, 13);
            x15 ^= BitOperations.RotateLeft(x14 + x13, 18);
        }

        b[0] += x0; b[1] += x5; b[2] += x10; b[3] += x15;
        b[4] += x4; b[5] += x9; b[6] += x14; b[7] += x3;
        b[8] += x8; b[9] += x13; b[10] += x2; b[11] += x7;
        b[12] += x12; b[13] += x1; b[14] += x6; b[15] += x11;
    }

    /// <summary>
    /// scrypt's BlockMix with Salsa20/8 over <paramref name="b"/> (2r blocks of 16 words), using
    /// <paramref name="y"/> (the same size) as scratch; the output blocks are the even results, then the odd ones.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BlockMix(Span<uint> b, Span<uint> y, int r)
    {
        Span<uint> x = stackalloc uint[16];
        b.Slice((2 * r - 1) * 16, 16).CopyTo(x);
        for (int i = 0; i < 2 * r; i++)
        {
            Xor(x, b.Slice(i * 16, 16));
            Core(x, 8);
            x.CopyTo(y.Slice(i * 16, 16));
        }

        for (int i = 0; i < r; i++)
        {
            y.Slice(i * 2 * 16, 16).CopyTo(b.Slice(i * 16, 16));
            y.Slice(((i * 2) + 1) * 16, 16).CopyTo(b.Slice((i + r) * 16, 16));
        }
    }

    /// <summary><paramref name="destination"/> ^= <paramref name="source"/> (same length).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Xor(Span<uint> destination, ReadOnlySpan<uint> source)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int width = Vector<uint>.Count;
            for (; i + width <= destination.Length; i += width)
            {
                var d = new Vector<uint>(destination.Slice(i, width));
                var s = new Vector<uint>(source.Slice(i, width));
                (d ^ s).CopyTo(destination.Slice(i, width));
            }
        }

        for (; i < destination.Length; i++)
        {
            destination[i] ^= source[i];
        }
    }
}
