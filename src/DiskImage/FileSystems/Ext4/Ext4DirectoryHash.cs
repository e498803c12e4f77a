using System.Numerics;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// The htree (dx) directory name hash: the legacy hash, half MD4 and TEA, each in the variant that reads
/// name bytes as signed or as unsigned characters. Returns the major hash with bit 0 cleared (bit 0 marks a
/// collision continuation in index entries) and the minor hash.
/// </summary>
internal static class Ext4DirectoryHash
{
    /// <summary><c>dx_root_info.hash_version</c> values.</summary>
    public const int Legacy = 0;

    /// <summary>half MD4 (the default of mke2fs).</summary>
    public const int HalfMd4 = 1;

    /// <summary>TEA.</summary>
    public const int Tea = 2;

    /// <summary>The legacy hash over unsigned name bytes.</summary>
    public const int LegacyUnsigned = 3;

    /// <summary>half MD4 over unsigned name bytes.</summary>
    public const int HalfMd4Unsigned = 4;

    /// <summary>TEA over unsigned name bytes.</summary>
    public const int TeaUnsigned = 5;

    /// <summary>The largest major hash (the value reserved as "end of directory" is mapped below it).</summary>
    private const uint EndOfDirectory = 0x7FFFFFFFu << 1;

    /// <summary>
    /// Hashes <paramref name="name"/> with hash version <paramref name="version"/> (0–5) and the four-word
    /// <paramref name="seed"/> (<c>s_hash_seed</c>; an all-zero seed selects the MD4 initial values).
    /// </summary>
    /// <exception cref="NotSupportedException">The hash version is not one of the six known ones.</exception>
    public static uint Compute(ReadOnlySpan<byte> name, int version, ReadOnlySpan<uint> seed, out uint minor)
    {
        Span<uint> state = stackalloc uint[4];
        bool seeded = seed.Length == 4 && (seed[0] | seed[1] | seed[2] | seed[3]) != 0;
        if (seeded)
        {
            seed.CopyTo(state);
        }
        else
        {
            state[0] = 0x67452301;
            state[1] = 0xEFCDAB89;
            state[2] = 0x98BADCFE;
            state[3] = 0x10325476;
        }

        uint major;
        Span<uint> words = stackalloc uint[8];
        switch (version)
        {
            case Legacy:
            case LegacyUnsigned:
                major = LegacyHash(name, version == LegacyUnsigned);
                minor = 0;
                break;
            case HalfMd4:
            case HalfMd4Unsigned:
                for (int p = 0; p < name.Length; p += 32)
                {
                    Pack(name[p..], words, version == HalfMd4Unsigned);
                    HalfMd4Transform(state, words);
                }

                major = state[1];
                minor = state[2];
                break;
            case Tea:
            case TeaUnsigned:
                for (int p = 0; p < name.Length; p += 16)
                {
                    Pack(name[p..], words[..4], version == TeaUnsigned);
                    TeaTransform(state, words);
                }

                major = state[0];
                minor = state[1];
                break;
            default:
                throw new NotSupportedException($"ext4 directory hash version {version} is not supported.");
        }

        major &= ~1u;
        if (major == EndOfDirectory)
        {
            major = EndOfDirectory - 2;
        }

        return major;
    }

    /// <summary>The original ext3 htree hash: two running values mixed with each byte times a constant.</summary>
    private static uint LegacyHash(ReadOnlySpan<byte> name, bool unsigned)
    {
        uint current = 0x12A3FE2D;
        uint previous = 0x37ABE8F9;
        foreach (byte b in name)
        {
            uint c = unsigned ? b : (uint)(sbyte)b;
            uint next = previous + (current ^ (c * 7152373));
            if ((next & 0x80000000) != 0)
            {
                next -= 0x7FFFFFFF;
            }

            previous = current;
            current = next;
        }

        return current << 1;
    }

    /// <summary>
    /// Packs up to <c>4 × words.Length</c> name bytes big-end-first into 32-bit words. Every word starts from a
    /// pad value made of the (remaining) length; words past the name are the pad itself.
    /// </summary>
    private static void Pack(ReadOnlySpan<byte> chunk, Span<uint> words, bool unsigned)
    {
        uint pad = (uint)chunk.Length | ((uint)chunk.Length << 8);
        pad |= pad << 16;
        int length = Math.Min(chunk.Length, words.Length * 4);
        uint value = pad;
        int w = 0;
        for (int i = 0; i < length; i++)
        {
            uint c = unsigned ? chunk[i] : (uint)(sbyte)chunk[i];
            value = c + (value << 8);
            if ((i & 3) == 3)
            {
                words[w++] = value;
                value = pad;
            }
        }

        if (w < words.Length)
        {
            words[w++] = value;
        }

        while (w < words.Length)
        {
            words[w++] = pad;
        }
    }

    /// <summary>Three rounds of eight steps of MD4 over an eight-word block (the reduced MD4 of the htree hash).</summary>
    private static void HalfMd4Transform(Span<uint> state, ReadOnlySpan<uint> x)
    {
        const uint K2 = 0x5A827999;
        const uint K3 = 0x6ED9EBA1;
        uint a = state[0], b = state[1], c = state[2], d = state[3];

        // Round 1: F(x, y, z) = z ^ (x & (y ^ z)), shifts 3, 7, 11, 19, words in order.
        a = BitOperations.RotateLeft(a + F(b, c, d) + x[0], 3);
        d = BitOperations.RotateLeft(d + F(a, b, c) + x[1], 7);
        c = BitOperations.RotateLeft(c + F(d, a, b) + x[2], 11);
        b = BitOperations.RotateLeft(b + F(c, d, a) + x[3], 19);
        a = BitOperations.RotateLeft(a + F(b, c, d) + x[4], 3);
        d = BitOperations.RotateLeft(d + F(a, b, c) + x[5], 7);
        c = BitOperations.RotateLeft(c + F(d, a, b) + x[6], 11);
        b = BitOperations.RotateLeft(b + F(c, d, a) + x[7], 19);

        // Round 2: G(x, y, z) = majority, shifts 3, 5, 9, 13, words 1 3 5 7 0 2 4 6.
        a = BitOperations.RotateLeft(a + G(b, c, d) + x[1] + K2, 3);
        d = BitOperations.RotateLeft(d + G(a, b, c) + x[3] + K2, 5);
        c = BitOperations.RotateLeft(c + G(d, a, b) + x[5] + K2, 9);
        b = BitOperations.RotateLeft(b + G(c, d, a) + x[7] + K2, 13);
        a = BitOperations.RotateLeft(a + G(b, c, d) + x[0] + K2, 3);
        d = BitOperations.RotateLeft(d + G(a, b, c) + x[2] + K2, 5);
        c = BitOperations.RotateLeft(c + G(d, a, b) + x[4] + K2, 9);
        b = BitOperations.RotateLeft(b + G(c, d, a) + x[6] + K2, 13);

        // Round 3: H(x, y, z) = parity, shifts 3, 9, 11, 15, words 3 7 2 6 1 5 0 4.
        a = BitOperations.RotateLeft(a + (b ^ c ^ d) + x[3] + K3, 3);
        d = BitOperations.RotateLeft(d + (a ^ b ^ c) + x[7] + K3, 9);
        c = BitOperations.RotateLeft(c + (d ^ a ^ b) + x[2] + K3, 11);
        b = BitOperations.RotateLeft(b + (c ^ d ^ a) + x[6] + K3, 15);
        a = BitOperations.RotateLeft(a + (b ^ c ^ d) + x[1] + K3, 3);
        d = BitOperations.RotateLeft(d + (a ^ b ^ c) + x[5] + K3, 9);
        c = BitOperations.RotateLeft(c + (d ^ a ^ b) + x[0] + K3, 11);
        b = BitOperations.RotateLeft(b + (c ^ d ^ a) + x[4] + K3, 15);

        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;

        static uint F(uint x, uint y, uint z) => z ^ (x & (y ^ z));

        static uint G(uint x, uint y, uint z) => (x & y) + ((x ^ y) & z);
    }

    /// <summary>16 cycles of the Tiny Encryption Algorithm with the state's first two words as the block.</summary>
    private static void TeaTransform(Span<uint> state, ReadOnlySpan<uint> key)
    {
        const uint Delta = 0x9E3779B9;
        uint sum = 0;
        uint v0 = state[0], v1 = state[1];
        uint k0 = key[0], k1 = key[1], k2 = key[2], k3 = key[3];
        for (int n = 0; n < 16; n++)
        {
            sum += Delta;
            v0 += ((v1 << 4) + k0) ^ (v1 + sum) ^ ((v1 >> 5) + k1);
            v1 += ((v0 << 4) + k2) ^ (v0 + sum) ^ ((v0 >> 5) + k3);
        }

        state[0] += v0;
        state[1] += v1;
    }
}
