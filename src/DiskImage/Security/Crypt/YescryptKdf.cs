using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace DiskImage.Security.Crypt;

/// <summary>
/// The yescrypt key derivation (and classic scrypt, its flags = 0 case) without a ROM: PBKDF2-SHA256,
/// SMix1/SMix2 over N blocks of 128·r bytes with pwxform block mixing in the read-write mode, and the
/// SCRAM-like ClientKey/StoredKey finish.
/// </summary>
/// <remarks>Facts: the yescrypt specification and reference (<c>smix</c>, <c>smix1</c>, <c>smix2</c>,
/// <c>yescrypt_kdf_body</c>, <c>yescrypt_kdf</c>), as libxcrypt ships them.</remarks>
internal static class YescryptKdf
{
    /// <summary><c>YESCRYPT_WORM</c>: the write-once mode (scrypt plus the t parameter).</summary>
    public const uint Worm = 1;

    /// <summary><c>YESCRYPT_RW</c>: the read-write mode with pwxform.</summary>
    public const uint ReadWrite = 0x002;

    /// <summary>The only read-write flavor defined: <c>YESCRYPT_RW | ROUNDS_6 | GATHER_4 | SIMPLE_2 | SBOX_12K</c> (<c>YESCRYPT_DEFAULTS</c>).</summary>
    public const uint Defaults = ReadWrite | 0x004 | 0x010 | 0x020 | 0x080;

    /// <summary>Largest V this implementation allocates (1 GiB, libxcrypt's largest cost 11 with r = 32).</summary>
    public const long MaxMemoryBytes = 1L << 30;

    private const uint Prehash = 0x10000000;
    private const int BlockWords = 16;

    /// <summary>
    /// Derives <paramref name="output"/> (32 bytes) from the password and salt with the given flags (0, <see cref="Worm"/> or
    /// <see cref="Defaults"/>), N (a power of two), r, p and t. The caller has validated the parameters with <see cref="Validate"/>.
    /// </summary>
    public static void Derive(ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, uint flags, ulong n, int r, int p, uint t, Span<byte> output)
    {
        if ((flags & ReadWrite) != 0 && n / (ulong)p >= 0x100 && n / (ulong)p * (ulong)r >= 0x20000)
        {
            // A cheap pass with N/64 first, so an attacker cannot skip the small-memory start of the big one.
            Span<byte> prehashed = stackalloc byte[32];
            Body(password, salt, flags | Prehash, n >> 6, r, p, 0, prehashed);
            Body(prehashed, salt, flags, n, r, p, t, output);
            CryptographicOperations.ZeroMemory(prehashed);
            return;
        }

        Body(password, salt, flags, n, r, p, t, output);
    }

    /// <summary>Returns null when the parameters are acceptable, else why not (the checks of <c>yescrypt_kdf_body</c>).</summary>
    public static string? Validate(uint flags, ulong n, ulong r, ulong p, uint t)
    {
        switch (flags)
        {
            case 0:
                if (t != 0)
                {
                    return "classic scrypt has no t parameter";
                }

                break;
            case Worm:
            case Defaults:
                break;
            default:
                return "unknown yescrypt flavor";
        }

        if (r * p >= 1UL << 30)
        {
            return "r·p must be below 2^30";
        }

        // libxcrypt's optimized code (what crypt() runs) is stricter than the reference: N from 4 to 2^31.
        if ((n & (n - 1)) != 0 || n <= 3 || n > uint.MaxValue || r < 1 || p < 1)
        {
            return "N must be a power of two from 4 to 2^31, r and p at least 1";
        }

        if (n > ulong.MaxValue / (t + 1UL))
        {
            return "N·(t+1) overflows";
        }

        if ((flags & ReadWrite) != 0 && n / p <= 3)
        {
            return "N/p must be above 3";
        }

        return null;
    }

    /// <summary>Whether V (128·r·N bytes) and B (128·r·p bytes) each fit in <see cref="MaxMemoryBytes"/>.</summary>
    public static bool FitsMemoryLimit(ulong n, ulong r, ulong p) =>
        (double)n * r * 128 <= MaxMemoryBytes && (double)p * r * 128 <= MaxMemoryBytes;

    private static void Body(ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, uint flags, ulong n, int r, int p, uint t, Span<byte> output)
    {
        int s = 32 * r; // words per 128·r-byte block
        uint[] v = GC.AllocateUninitializedArray<uint>(checked((int)((ulong)s * n)));
        byte[] b = new byte[128 * r * p];
        uint[] xy = new uint[2 * s];
        YescryptPwxform[]? lanes = null;
        byte[] key = new byte[32];
        try
        {
            if (flags != 0)
            {
                ReadOnlySpan<byte> tag = "yescrypt-prehash"u8;
                HMACSHA256.HashData((flags & Prehash) != 0 ? tag : tag[..8], password, key);
                password = key;
            }

            Rfc2898DeriveBytes.Pbkdf2(password, salt, b, 1, HashAlgorithmName.SHA256);

            if (flags != 0)
            {
                // The prehashed password buffer now holds the first 32 bytes of B; RW replaces them with an HMAC.
                b.AsSpan(0, 32).CopyTo(key);
            }

            if ((flags & ReadWrite) != 0)
            {
                lanes = new YescryptPwxform[p];
                for (int i = 0; i < p; i++)
                {
                    lanes[i] = new YescryptPwxform();
                }

                SMix(b, r, n, p, t, flags, v, xy, lanes, key);
            }
            else
            {
                for (int i = 0; i < p; i++)
                {
                    SMix(b.AsSpan(128 * r * i, 128 * r), r, n, 1, t, flags, v, xy, null, key);
                }
            }

            Rfc2898DeriveBytes.Pbkdf2(password, b, output, 1, HashAlgorithmName.SHA256);

            if (flags != 0 && (flags & Prehash) == 0)
            {
                Span<byte> clientKey = stackalloc byte[32];
                HMACSHA256.HashData(output, "Client Key"u8, clientKey);
                SHA256.HashData(clientKey, output);
                CryptographicOperations.ZeroMemory(clientKey);
            }
        }
        finally
        {
            Array.Clear(v);
            CryptographicOperations.ZeroMemory(b);
            Array.Clear(xy);
            CryptographicOperations.ZeroMemory(key);
            if (lanes is not null)
            {
                foreach (YescryptPwxform lane in lanes)
                {
                    lane.Clear();
                }
            }
        }
    }

    private static void SMix(Span<byte> b, int r, ulong n, int p, uint t, uint flags, uint[] v, uint[] xy, YescryptPwxform[]? lanes, byte[] passwordKey)
    {
        int s = 32 * r;
        ulong chunk = n / (ulong)p;
        ulong loopAll = chunk;
        if ((flags & ReadWrite) != 0)
        {
            if (t <= 1)
            {
                if (t != 0)
                {
                    loopAll *= 2; // 2/3
                }

                loopAll = (loopAll + 2) / 3; // 1/3, rounded up
            }
            else
            {
                loopAll *= t - 1;
            }
        }
        else if (t != 0)
        {
            if (t == 1)
            {
                loopAll += (loopAll + 1) / 2; // 1.5, rounded up
            }

            loopAll *= t;
        }

        ulong loopRw = (flags & ReadWrite) != 0 ? loopAll / (ulong)p : 0;
        chunk &= ~1UL;
        loopAll = (loopAll + 1) & ~1UL;
        loopRw = (loopRw + 1) & ~1UL;

        Span<byte> mac = stackalloc byte[32];
        ulong vChunk = 0;
        for (int i = 0; i < p; i++, vChunk += chunk)
        {
            ulong np = i < p - 1 ? chunk : n - vChunk;
            Span<byte> bi = b.Slice(128 * r * i, 128 * r);
            Span<uint> vi = v.AsSpan(checked((int)(vChunk * (ulong)s)));
            YescryptPwxform? lane = null;
            if ((flags & ReadWrite) != 0)
            {
                lane = lanes![i];
                SMix1(bi, 1, (ulong)YescryptPwxform.SWords / BlockWords / 2, 0, lane.Memory, xy, null);
                lane.Reset();
                if (i == 0)
                {
                    HMACSHA256.HashData(bi.Slice((128 * r) - 64, 64), passwordKey, mac);
                    mac.CopyTo(passwordKey);
                    CryptographicOperations.ZeroMemory(mac);
                }
            }

            SMix1(bi, r, np, flags, vi, xy, lane);
            SMix2(bi, r, FloorPowerOfTwo(np), loopRw, flags, vi, xy, lane);
        }

        for (int i = 0; i < p; i++)
        {
            SMix2(b.Slice(128 * r * i, 128 * r), r, n, loopAll - loopRw, flags & ~ReadWrite, v, xy, lanes?[i]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SMix1(Span<byte> b, int r, ulong n, uint flags, Span<uint> v, uint[] xy, YescryptPwxform? lane)
    {
        int s = 32 * r;
        Span<uint> x = xy.AsSpan(0, s);
        Span<uint> y = xy.AsSpan(s, s);
        Load(b, x);
        for (ulong i = 0; i < n; i++)
        {
            x.CopyTo(v.Slice(checked((int)(i * (ulong)s)), s));
            if ((flags & ReadWrite) != 0 && i > 1)
            {
                ulong j = Wrap(Integerify(x, r), i);
                YescryptSalsa.Xor(x, v.Slice((int)(j * (ulong)s), s));
            }

            if (lane is not null)
            {
                lane.BlockMix(x, r);
            }
            else
            {
                YescryptSalsa.BlockMix(x, y, r);
            }
        }

        Store(x, b);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SMix2(Span<byte> b, int r, ulong n, ulong loops, uint flags, Span<uint> v, uint[] xy, YescryptPwxform? lane)
    {
        int s = 32 * r;
        Span<uint> x = xy.AsSpan(0, s);
        Span<uint> y = xy.AsSpan(s, s);
        Load(b, x);
        for (ulong i = 0; i < loops; i++)
        {
            ulong j = Integerify(x, r) & (n - 1);
            Span<uint> vj = v.Slice((int)(j * (ulong)s), s);
            YescryptSalsa.Xor(x, vj);
            if ((flags & ReadWrite) != 0)
            {
                x.CopyTo(vj);
            }

            if (lane is not null)
            {
                lane.BlockMix(x, r);
            }
            else
            {
                YescryptSalsa.BlockMix(x, y, r);
            }
        }

        Store(x, b);
    }

    /// <summary>Reads little-endian words into the shuffled layout: stored word i of each block is input word i·5 mod 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Load(ReadOnlySpan<byte> b, Span<uint> x)
    {
        for (int k = 0; k < x.Length; k += BlockWords)
        {
            for (int i = 0; i < BlockWords; i++)
            {
                x[k + i] = BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(4 * (k + (i * 5 % 16)), 4));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Store(ReadOnlySpan<uint> x, Span<byte> b)
    {
        for (int k = 0; k < x.Length; k += BlockWords)
        {
            for (int i = 0; i < BlockWords; i++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(4 * (k + (i * 5 % 16)), 4), x[k + i]);
            }
        }
    }

    /// <summary>The first 64 bits of the last 64-byte block (stored words 0 and 13 in the shuffled layout).</summary>
    private static ulong Integerify(ReadOnlySpan<uint> x, int r)
    {
        int last = ((2 * r) - 1) * BlockWords;
        return ((ulong)x[last + 13] << 32) | x[last];
    }

    private static ulong FloorPowerOfTwo(ulong x) => x == 0 ? 0 : 1UL << (63 - System.Numerics.BitOperations.LeadingZeroCount(x));

    /// <summary>Wrap(x, i): x mod p2floor(i), plus (i − p2floor(i)) — an index among the blocks written so far.</summary>
    private static ulong Wrap(ulong x, ulong i)
    {
        ulong n = FloorPowerOfTwo(i);
        return (x & (n - 1)) + (i - n);
    }
}
