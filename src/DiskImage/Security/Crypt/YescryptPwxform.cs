using System.Runtime.CompilerServices;
namespace DiskImage.Security.Crypt;

/// <summary>
/// The pwxform S-boxes of one yescrypt lane and the block mixing that uses them, for the only
/// parameter set yescrypt defines: PWXsimple = 2, PWXgather = 4, PWXrounds = 6, Swidth = 8
/// (12 KiB of S-boxes, <c>YESCRYPT_ROUNDS_6 | GATHER_4 | SIMPLE_2 | SBOX_12K</c>).
/// </summary>
/// <remarks>
/// The S memory holds three boxes of 2^Swidth × PWXsimple 64-bit words (stored as two 32-bit words, low first):
/// S2 at the start, S1 after it, S0 after that; the roles rotate after every pwxform call.
/// Facts: the yescrypt specification and reference (<c>pwxform</c>, <c>blockmix_pwxform</c>).
/// </remarks>
internal sealed class YescryptPwxform
{
    /// <summary>Words of S-box memory per lane (Sbytes / 4).</summary>
    public const int SWords = 3 * (1 << 8) * 2 * 2;

    private const int Rounds = 6;
    private const int Gather = 4;
    private const int Simple = 2;
    private const int BoxWords = (1 << 8) * Simple * 2;
    private const uint Mask = ((1 << 8) - 1) * Simple * 8; // Smask: byte offset of a row within a box
    private const int WriteMask = ((1 << 8) * Simple) - 1;

    private readonly uint[] _s;
    private int _s0;
    private int _s1;
    private int _s2;
    private int _w;

    /// <summary>Creates the lane's S-box memory; <see cref="Reset"/> must run after it is filled.</summary>
    public YescryptPwxform()
    {
        _s = new uint[SWords];
    }

    /// <summary>The S memory, filled by SMix1 with r = 1 before use.</summary>
    public Span<uint> Memory => _s;

    /// <summary>Sets S2, S1, S0 to the three thirds of the memory, in that order, and the write index to 0.</summary>
    public void Reset()
    {
        _s2 = 0;
        _s1 = BoxWords;
        _s0 = 2 * BoxWords;
        _w = 0;
    }

    /// <summary>Clears the S-boxes.</summary>
    public void Clear() => Array.Clear(_s);

    /// <summary>
    /// yescrypt's BlockMix_pwxform over <paramref name="b"/> (2r blocks of 16 words): each 64-byte
    /// block is XORed with the previous result, put through pwxform and stored; the last block then
    /// gets Salsa20/2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void BlockMix(Span<uint> b, int r)
    {
        int blocks = 2 * r; // r1 = 128r / PWXbytes with PWXbytes = 64
        Span<uint> x = stackalloc uint[16];
        b.Slice((blocks - 1) * 16, 16).CopyTo(x);
        for (int i = 0; i < blocks; i++)
        {
            Span<uint> bi = b.Slice(i * 16, 16);
            if (blocks > 1)
            {
                YescryptSalsa.Xor(x, bi);
            }

            Transform(x);
            x.CopyTo(bi);
        }

        YescryptSalsa.Core(b.Slice((blocks - 1) * 16, 16), 2);
    }

    /// <summary>pwxform: PWXrounds rounds of multiply, add and XOR with two S-box rows chosen by each lane's first word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Transform(Span<uint> x)
    {
        uint[] s = _s;
        int s0 = _s0, s1 = _s1, s2 = _s2, w = _w;
        for (int round = 0; round < Rounds; round++)
        {
            bool write = round != 0 && round != Rounds - 1;
            for (int j = 0; j < Gather; j++)
            {
                int lane = j * Simple * 2;
                int p0 = s0 + (int)((x[lane] & Mask) / 4);
                int p1 = s1 + (int)((x[lane + 1] & Mask) / 4);
                for (int k = 0; k < Simple; k++)
                {
                    int at = lane + (2 * k);
                    ulong box0 = ((ulong)s[p0 + (2 * k) + 1] << 32) | s[p0 + (2 * k)];
                    ulong box1 = ((ulong)s[p1 + (2 * k) + 1] << 32) | s[p1 + (2 * k)];
                    ulong v = ((ulong)x[at + 1] * x[at]) + box0;
                    v ^= box1;
                    x[at] = (uint)v;
                    x[at + 1] = (uint)(v >> 32);
                    if (write)
                    {
                        s[s2 + (2 * w)] = (uint)v;
                        s[s2 + (2 * w) + 1] = (uint)(v >> 32);
                        w++;
                    }
                }
            }
        }

        // (S0, S1, S2) <- (S2, S0, S1)
        _s0 = s2;
        _s1 = s0;
        _s2 = s1;
        _w = w & WriteMask;
    }
}
