using System.Buffers.Binary;
using System.Security.Cryptography;

namespace DiskImage.Formats.Luks;

/// <summary>
/// The LUKS anti-forensic information splitter (LUKS1 on-disk format, section 2.4): a key of n bytes
/// is stored as <c>stripes</c> blocks of n bytes; merging XORs each block into an accumulator that is
/// diffused with the header's hash between blocks, and the last block XORed in gives the key.
/// </summary>
internal static class LuksAntiForensic
{
    /// <summary>Merges <paramref name="stripes"/> blocks of <paramref name="key"/>'s length from <paramref name="split"/> into <paramref name="key"/>.</summary>
    public static void Merge(ReadOnlySpan<byte> split, int stripes, HashAlgorithmName hash, Span<byte> key)
    {
        int n = key.Length;
        if (stripes < 1 || split.Length < (long)stripes * n)
        {
            throw new InvalidDataException($"LUKS key material is shorter than {stripes} stripes of {n} bytes.");
        }

        key.Clear();
        for (int i = 0; i < stripes - 1; i++)
        {
            XorInto(key, split.Slice(i * n, n));
            Diffuse(key, hash);
        }

        XorInto(key, split.Slice((stripes - 1) * n, n));
    }

    /// <summary>Splits <paramref name="key"/> into <paramref name="stripes"/> blocks in <paramref name="split"/> (random blocks, then the one that merges to the key).</summary>
    public static void Split(ReadOnlySpan<byte> key, int stripes, HashAlgorithmName hash, Span<byte> split)
    {
        int n = key.Length;
        RandomNumberGenerator.Fill(split[..((stripes - 1) * n)]);
        Span<byte> d = stackalloc byte[n];
        d.Clear();
        for (int i = 0; i < stripes - 1; i++)
        {
            XorInto(d, split.Slice(i * n, n));
            Diffuse(d, hash);
        }

        Span<byte> last = split.Slice((stripes - 1) * n, n);
        key.CopyTo(last);
        XorInto(last, d);
    }

    /// <summary>
    /// Replaces each digest-sized piece i of <paramref name="block"/> by the hash of the big-endian
    /// 32-bit i followed by the piece (a short last piece takes the hash's first bytes).
    /// </summary>
    private static void Diffuse(Span<byte> block, HashAlgorithmName hash)
    {
        int digest = LuksHash.Size(hash);
        Span<byte> input = stackalloc byte[4 + digest];
        Span<byte> output = stackalloc byte[digest];
        int pieces = (block.Length + digest - 1) / digest;
        for (int i = 0; i < pieces; i++)
        {
            Span<byte> piece = block.Slice(i * digest, Math.Min(digest, block.Length - (i * digest)));
            BinaryPrimitives.WriteUInt32BigEndian(input, (uint)i);
            piece.CopyTo(input[4..]);
            LuksHash.HashData(hash, input[..(4 + piece.Length)], output);
            output[..piece.Length].CopyTo(piece);
        }
    }

    private static void XorInto(Span<byte> target, ReadOnlySpan<byte> source)
    {
        for (int i = 0; i < target.Length; i++)
        {
            target[i] ^= source[i];
        }
    }
}
