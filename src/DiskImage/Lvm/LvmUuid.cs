using System.Security.Cryptography;

namespace DiskImage.Lvm;

/// <summary>LVM2 identifiers (lib/uuid/uuid.c): 32 characters from [0-9A-Za-z], shown grouped 6-4-4-4-4-4-6.</summary>
internal static class LvmUuid
{
    /// <summary>The characters new ids are made of (the first 62 of LVM's table).</summary>
    private const string Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

    /// <summary>The id length without hyphens (<c>ID_LEN</c>).</summary>
    public const int Length = 32;

    /// <summary>Whether <paramref name="b"/> may appear in a stored id (LVM's table also holds '!' and '#').</summary>
    public static bool IsIdCharacter(byte b) => char.IsAsciiLetterOrDigit((char)b) || b is (byte)'!' or (byte)'#';

    /// <summary>A new id: from <paramref name="random"/> when given (reproducible output), otherwise from the system CSPRNG.</summary>
    public static string Generate(Random? random)
    {
        Span<char> id = stackalloc char[Length];
        for (int i = 0; i < Length; i++)
        {
            id[i] = Alphabet[random is null ? RandomNumberGenerator.GetInt32(Alphabet.Length) : random.Next(Alphabet.Length)];
        }

        return new string(id);
    }

    /// <summary>The display form with hyphens (6-4-4-4-4-4-6), as the metadata text stores ids.</summary>
    public static string Format(string id)
    {
        if (id.Length != Length)
        {
            return id;
        }

        return $"{id[..6]}-{id[6..10]}-{id[10..14]}-{id[14..18]}-{id[18..22]}-{id[22..26]}-{id[26..]}";
    }

    /// <summary>The 32 characters of an id given with or without hyphens, or null when it is not a valid id.</summary>
    public static string? TryNormalize(string text)
    {
        Span<char> id = stackalloc char[Length];
        int n = 0;
        foreach (char c in text)
        {
            if (c == '-')
            {
                continue;
            }

            if (n == Length || c > 127 || !IsIdCharacter((byte)c))
            {
                return null;
            }

            id[n++] = c;
        }

        return n == Length ? new string(id) : null;
    }
}
