using System.Security.Cryptography;

namespace DiskImage.Formats.Luks;

/// <summary>The hash functions a LUKS header may name (<c>hash-spec</c>) that .NET provides.</summary>
internal static class LuksHash
{
    /// <summary>Maps a LUKS hash name (sha1, sha256, sha512; also sha384) to .NET's.</summary>
    /// <exception cref="NotSupportedException">Another hash (ripemd160, whirlpool, ...).</exception>
    public static HashAlgorithmName Parse(string name) => name switch
    {
        "sha1" => HashAlgorithmName.SHA1,
        "sha256" => HashAlgorithmName.SHA256,
        "sha384" => HashAlgorithmName.SHA384,
        "sha512" => HashAlgorithmName.SHA512,
        _ => throw new NotSupportedException($"LUKS hash '{name}' is not supported (sha1, sha256, sha384 and sha512 are)."),
    };

    /// <summary>The digest length in bytes.</summary>
    public static int Size(HashAlgorithmName hash) =>
        hash == HashAlgorithmName.SHA1 ? 20 : hash == HashAlgorithmName.SHA256 ? 32 : hash == HashAlgorithmName.SHA384 ? 48 : 64;

    /// <summary>Hashes <paramref name="source"/> into <paramref name="destination"/> (at least <see cref="Size"/> bytes).</summary>
    public static void HashData(HashAlgorithmName hash, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (hash == HashAlgorithmName.SHA1)
        {
            SHA1.HashData(source, destination);
        }
        else if (hash == HashAlgorithmName.SHA256)
        {
            SHA256.HashData(source, destination);
        }
        else if (hash == HashAlgorithmName.SHA384)
        {
            SHA384.HashData(source, destination);
        }
        else
        {
            SHA512.HashData(source, destination);
        }
    }

    /// <summary>PBKDF2 with <paramref name="hash"/> as the PRF.</summary>
    public static void Pbkdf2(ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, int iterations, HashAlgorithmName hash, Span<byte> destination) =>
        Rfc2898DeriveBytes.Pbkdf2(password, salt, destination, iterations, hash);
}
