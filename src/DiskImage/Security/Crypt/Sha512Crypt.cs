using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace DiskImage.Security.Crypt;

/// <summary>
/// SHA-512-crypt (<c>$6$</c>), the password hash of Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512"
/// specification, as libxcrypt and glibc <c>crypt(3)</c> compute it for <c>/etc/shadow</c>.
/// </summary>
/// <remarks>
/// <para>A setting is <c>$6$[rounds=N$]SALT[$...]</c>. The salt is up to 16 characters of
/// <c>[./0-9A-Za-z]</c> (longer salts are cut to 16, as libxcrypt does). Without <c>rounds=</c> the hash
/// uses 5000 rounds and does not name them; with it, N must be 1000–999,999,999 written without a leading
/// zero, and the result repeats <c>rounds=N$</c> (libxcrypt refuses what glibc would clamp).</para>
/// <para>The result is <c>$6$[rounds=N$]SALT$</c> followed by 86 characters of crypt's base-64.</para>
/// </remarks>
public static class Sha512Crypt
{
    /// <summary>The prefix that names this algorithm in a crypt string.</summary>
    public const string Prefix = "$6$";

    /// <summary>Rounds used when the setting does not name any.</summary>
    public const int DefaultRounds = 5000;

    /// <summary>Fewest rounds libxcrypt accepts in <c>rounds=</c>.</summary>
    public const int MinRounds = 1000;

    /// <summary>Most rounds libxcrypt accepts in <c>rounds=</c>.</summary>
    public const int MaxRounds = 999_999_999;

    /// <summary>Most salt characters used.</summary>
    public const int MaxSaltLength = 16;

    private const string RoundsPrefix = "rounds=";
    private const string Alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    // The output permutation: each triple of digest bytes becomes four characters (the last, one byte, two).
    private static ReadOnlySpan<byte> Order =>
    [
        0, 21, 42, 22, 43, 1, 44, 2, 23, 3, 24, 45, 25, 46, 4, 47, 5, 26, 6, 27, 48, 28, 49, 7,
        50, 8, 29, 9, 30, 51, 31, 52, 10, 53, 11, 32, 12, 33, 54, 34, 55, 13, 56, 14, 35, 15, 36, 57,
        37, 58, 16, 59, 17, 38, 18, 39, 60, 40, 61, 19, 62, 20, 41,
    ];

    /// <summary>Hashes <paramref name="password"/> (UTF-8) with <paramref name="salt"/> and optional explicit <paramref name="rounds"/>.</summary>
    /// <param name="password">The password.</param>
    /// <param name="salt">Salt characters from <c>[./0-9A-Za-z]</c> (at most 16 are used).</param>
    /// <param name="rounds">Null for the default 5000 without a <c>rounds=</c> field; otherwise 1000–999,999,999, written into the result.</param>
    /// <returns>The crypt string, for example <c>$6$salt$…</c>.</returns>
    /// <exception cref="ArgumentException">The salt holds a character outside the alphabet, or the rounds are out of range.</exception>
    public static string Hash(string password, string salt, int? rounds = null)
    {
        ArgumentNullException.ThrowIfNull(password);
        ArgumentNullException.ThrowIfNull(salt);
        if (rounds is { } r && r is < MinRounds or > MaxRounds)
        {
            throw new ArgumentOutOfRangeException(nameof(rounds), rounds, $"SHA-512-crypt rounds must be {MinRounds} to {MaxRounds}.");
        }

        string setting = rounds is { } n ? $"{Prefix}{RoundsPrefix}{n}${salt}" : Prefix + salt;
        return Hash(Encoding.UTF8.GetBytes(password), setting);
    }

    /// <summary>Hashes <paramref name="password"/> with the salt and rounds of <paramref name="setting"/>, like <c>crypt(password, setting)</c>.</summary>
    /// <param name="password">The password bytes (no NUL).</param>
    /// <param name="setting">A <c>$6$</c> setting or a whole earlier hash (its salt and rounds are reused).</param>
    /// <returns>The crypt string.</returns>
    /// <exception cref="ArgumentException">The setting is not a valid SHA-512-crypt setting, or the password holds a NUL.</exception>
    public static string Hash(ReadOnlySpan<byte> password, string setting)
    {
        ArgumentNullException.ThrowIfNull(setting);
        if (password.Contains((byte)0))
        {
            throw new ArgumentException("A crypt password cannot contain a NUL byte.", nameof(password));
        }

        (string salt, int rounds, bool customRounds) = ParseSetting(setting);
        byte[] saltBytes = Encoding.ASCII.GetBytes(salt);
        Span<byte> digest = stackalloc byte[64];
        Compute(password, saltBytes, rounds, digest);

        var sb = new StringBuilder(3 + 20 + salt.Length + 1 + 86);
        sb.Append(Prefix);
        if (customRounds)
        {
            sb.Append(RoundsPrefix).Append(rounds).Append('$');
        }

        sb.Append(salt).Append('$');
        ReadOnlySpan<byte> order = Order;
        for (int i = 0; i < order.Length; i += 3)
        {
            AppendBase64(sb, (digest[order[i]] << 16) | (digest[order[i + 1]] << 8) | digest[order[i + 2]], 4);
        }

        AppendBase64(sb, digest[63], 2);
        return sb.ToString();
    }

    /// <summary>Whether <paramref name="password"/> hashes to <paramref name="hash"/> (compared in constant time).</summary>
    /// <param name="password">The password.</param>
    /// <param name="hash">A <c>$6$</c> crypt string.</param>
    /// <returns>True when they match; false when they differ or <paramref name="hash"/> is not a valid SHA-512-crypt string.</returns>
    public static bool Verify(string password, string hash)
    {
        ArgumentNullException.ThrowIfNull(password);
        ArgumentNullException.ThrowIfNull(hash);
        string computed;
        try
        {
            computed = Hash(Encoding.UTF8.GetBytes(password), hash);
        }
        catch (ArgumentException)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(computed), Encoding.ASCII.GetBytes(hash));
    }

    /// <summary>A new random 16-character salt from the crypt alphabet.</summary>
    /// <returns>The salt.</returns>
    public static string CreateSalt()
    {
        Span<char> chars = stackalloc char[MaxSaltLength];
        for (int i = 0; i < chars.Length; i++)
        {
            chars[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        }

        return new string(chars);
    }

    private static (string Salt, int Rounds, bool Custom) ParseSetting(string setting)
    {
        if (!setting.StartsWith(Prefix, StringComparison.Ordinal))
        {
            throw new ArgumentException($"A SHA-512-crypt setting starts with '{Prefix}'.", nameof(setting));
        }

        int pos = Prefix.Length;
        int rounds = DefaultRounds;
        bool custom = false;
        if (string.CompareOrdinal(setting, pos, RoundsPrefix, 0, RoundsPrefix.Length) == 0)
        {
            int start = pos + RoundsPrefix.Length;
            int end = start;
            while (end < setting.Length && char.IsAsciiDigit(setting[end]))
            {
                end++;
            }

            if (end == start || setting[start] == '0' || end >= setting.Length || setting[end] != '$' || end - start > 9
                || !int.TryParse(setting.AsSpan(start, end - start), out rounds) || rounds < MinRounds)
            {
                throw new ArgumentException($"The SHA-512-crypt rounds must be {MinRounds} to {MaxRounds}, written without a leading zero and followed by '$'.", nameof(setting));
            }

            custom = true;
            pos = end + 1;
        }

        int saltEnd = pos;
        while (saltEnd < setting.Length && Alphabet.Contains(setting[saltEnd], StringComparison.Ordinal))
        {
            saltEnd++;
        }

        if (saltEnd < setting.Length && setting[saltEnd] != '$')
        {
            throw new ArgumentException($"The SHA-512-crypt salt holds '{setting[saltEnd]}', which is not in [./0-9A-Za-z].", nameof(setting));
        }

        return (setting.Substring(pos, Math.Min(saltEnd - pos, MaxSaltLength)), rounds, custom);
    }

    private static void Compute(ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, int rounds, Span<byte> result)
    {
        int p = password.Length;
        int s = salt.Length;
        Span<byte> b = stackalloc byte[64];
        Span<byte> a = stackalloc byte[64];
        Span<byte> dp = stackalloc byte[64];
        Span<byte> ds = stackalloc byte[64];
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);

        // Digest B = SHA512(P S P).
        h.AppendData(password);
        h.AppendData(salt);
        h.AppendData(password);
        h.GetHashAndReset(b);

        // Digest A = SHA512(P S, B repeated to len(P) bytes, then per bit of len(P) from the lowest: B if 1 else P).
        h.AppendData(password);
        h.AppendData(salt);
        int left = p;
        for (; left > 64; left -= 64)
        {
            h.AppendData(b);
        }

        h.AppendData(b[..left]);
        for (int len = p; len > 0; len >>= 1)
        {
            h.AppendData((len & 1) != 0 ? b : password);
        }

        h.GetHashAndReset(a);

        // DP = SHA512(P repeated len(P) times); DS = SHA512(S repeated 16 + A[0] times).
        for (int i = 0; i < p; i++)
        {
            h.AppendData(password);
        }

        h.GetHashAndReset(dp);
        for (int i = 0; i < 16 + a[0]; i++)
        {
            h.AppendData(salt);
        }

        h.GetHashAndReset(ds);

        // Each round hashes at most (C or P) + S + P + (C or P).
        int size = (2 * Math.Max(64, p)) + s + p;
        byte[] rented = ArrayPool<byte>.Shared.Rent(size + p);
        try
        {
            Span<byte> buffer = rented.AsSpan(0, size);
            Span<byte> pSeq = rented.AsSpan(size, p); // DP repeated to len(P) bytes
            for (int i = 0; i < p; i++)
            {
                pSeq[i] = dp[i % 64];
            }

            ReadOnlySpan<byte> sSeq = ds[..s]; // DS cut to len(S) bytes (S is at most 16)
            Span<byte> c = a;
            for (int r = 0; r < rounds; r++)
            {
                int n = (r & 1) != 0 ? Put(buffer, 0, pSeq) : Put(buffer, 0, c);
                if (r % 3 != 0)
                {
                    n = Put(buffer, n, sSeq);
                }

                if (r % 7 != 0)
                {
                    n = Put(buffer, n, pSeq);
                }

                n = (r & 1) != 0 ? Put(buffer, n, c) : Put(buffer, n, pSeq);
                SHA512.HashData(buffer[..n], c);
            }

            c.CopyTo(result);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(rented.AsSpan(0, size + p));
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static int Put(Span<byte> buffer, int offset, ReadOnlySpan<byte> data)
    {
        data.CopyTo(buffer[offset..]);
        return offset + data.Length;
    }

    private static void AppendBase64(StringBuilder sb, int value, int count)
    {
        for (int i = 0; i < count; i++)
        {
            sb.Append(Alphabet[value & 0x3f]);
            value >>= 6;
        }
    }
}
