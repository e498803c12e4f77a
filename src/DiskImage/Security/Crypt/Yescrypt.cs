using System.Security.Cryptography;
using System.Text;

namespace DiskImage.Security.Crypt;

/// <summary>
/// yescrypt password hashing as libxcrypt's <c>crypt()</c> does it for <c>$y$</c> settings (the default
/// of Debian ≥ 11, Ubuntu ≥ 20.04, Fedora ≥ 35, RHEL ≥ 9), plus the classic scrypt <c>$7$</c> form.
/// Hashes are byte-for-byte those of libxcrypt for the same password and setting.
/// </summary>
/// <remarks>
/// <para>A <c>$y$</c> string is <c>$y$</c>, the parameters in yescrypt's variable-length base-64
/// (flavor, log2 N, r, then optionally a bit set and p, t, g, log2 NROM), <c>$</c>, the salt in
/// yescrypt's base-64 (up to 64 bytes), <c>$</c> and 43 characters of hash. libxcrypt's default
/// setting is <c>$y$j9T$</c> followed by 16 random bytes (22 characters): flavor <c>j</c> (read-write mode,
/// pwxform with 6 rounds, 4 gathers, 2 simple lanes, 12 KiB S-boxes), N = 4096, r = 32 — 16 MiB.</para>
/// <para>Refused: settings needing a ROM (NROM) or a hash upgrade (g), which libxcrypt's <c>crypt()</c> also refuses,
/// and parameters needing more than 1 GiB (libxcrypt's largest cost, 11, needs exactly 1 GiB).</para>
/// <para>Facts: the yescrypt specification and reference code by Alexander Peslyak and libxcrypt's
/// <c>crypt-yescrypt.c</c>; this is an independent implementation.</para>
/// </remarks>
public static class Yescrypt
{
    /// <summary>The setting prefix of libxcrypt's default cost (5): read-write flavor, N = 4096, r = 32.</summary>
    public const string DefaultPrefix = "$y$j9T$";

    /// <summary>libxcrypt's <c>CRYPT_MAX_PASSPHRASE_SIZE</c>: passwords must be shorter than this many bytes.</summary>
    public const int MaxPasswordLength = 512;

    private const int HashBytes = 32;
    private const int MaxSaltBytes = 64;

    /// <summary>Hashes the UTF-8 bytes of <paramref name="password"/>; see <see cref="Hash(ReadOnlySpan{byte}, string)"/>.</summary>
    public static string Hash(string password, string setting)
    {
        ArgumentNullException.ThrowIfNull(password);
        return Hash(Encoding.UTF8.GetBytes(password), setting);
    }

    /// <summary>
    /// Hashes <paramref name="password"/> with the parameters and salt of <paramref name="setting"/>
    /// (<c>$y$…$salt</c>, optionally followed by <c>$</c> and an old hash, which is ignored, so a stored hash can
    /// be passed to check a password). Returns the full crypt string: the setting up to the salt, <c>$</c>, the hash.
    /// </summary>
    /// <exception cref="ArgumentException">The setting is not a valid yescrypt or scrypt setting, or the password
    /// contains a NUL or is <see cref="MaxPasswordLength"/> bytes or longer (libxcrypt refuses both).</exception>
    /// <exception cref="NotSupportedException">The setting needs a ROM, a hash upgrade, or more than 1 GiB of memory.</exception>
    public static string Hash(ReadOnlySpan<byte> password, string setting)
    {
        ArgumentNullException.ThrowIfNull(setting);
        if (password.Length >= MaxPasswordLength)
        {
            throw new ArgumentException($"The password is {password.Length} bytes; crypt() takes fewer than {MaxPasswordLength}.", nameof(password));
        }

        if (password.Contains((byte)0))
        {
            throw new ArgumentException("The password contains a NUL byte, which crypt() cannot take.", nameof(password));
        }

        foreach (char c in setting)
        {
            if (c <= ' ' || c >= '\x7f' || c is '!' or '*' or ':' or ';' or '\\')
            {
                throw Invalid(setting, $"character U+{(int)c:X4} is not allowed in a setting");
            }
        }

        YescryptSetting parsed = YescryptSetting.Parse(setting);
        if (parsed.IsScrypt)
        {
            // $7$ takes the salt characters themselves as the salt bytes.
            return Finish(password, Encoding.ASCII.GetBytes(parsed.SaltText), parsed, setting);
        }

        Span<byte> salt = stackalloc byte[MaxSaltBytes];
        int saltLength = YescryptBase64.Decode(parsed.SaltText, salt);
        if (saltLength < 0)
        {
            throw Invalid(setting, "the salt is not valid yescrypt base-64 of at most 64 bytes");
        }

        return Finish(password, salt[..saltLength], parsed, setting);
    }

    /// <summary>
    /// Whether <paramref name="password"/> hashes to <paramref name="hash"/> (a full <c>$y$</c> or <c>$7$</c> crypt
    /// string), compared in constant time. Returns false for a string that is not a valid yescrypt hash.
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> password, string hash)
    {
        ArgumentNullException.ThrowIfNull(hash);
        string computed;
        try
        {
            computed = Hash(password, hash);
        }
        catch (ArgumentException)
        {
            return false;
        }

        return computed.Length == hash.Length
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(computed), Encoding.ASCII.GetBytes(hash));
    }

    /// <summary>
    /// Makes a new setting as libxcrypt's <c>crypt_gensalt("$y$", cost, NULL, 0)</c> does: the default flavor,
    /// N and r from <paramref name="cost"/> (1–2: r = 8, N = 2^(cost+9); 3–11: r = 32, N = 2^(cost+7); 0 means 5)
    /// and 16 random bytes of salt (22 characters), e.g. <c>$y$j9T$lvXLEBFMhz9Nr0PGk3Ndd/</c>.
    /// </summary>
    /// <param name="random">Source of the salt bytes; null uses the system's cryptographic generator.</param>
    /// <param name="cost">libxcrypt's cost, 0 (default, 5) to 11.</param>
    public static string GenerateSetting(RandomNumberGenerator? random = null, int cost = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(cost);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(cost, 11);
        if (cost == 0)
        {
            cost = 5;
        }

        uint r = cost < 3 ? 8u : 32u;
        uint log2N = cost < 3 ? (uint)cost + 9 : (uint)cost + 7;
        Span<byte> salt = stackalloc byte[16];
        if (random is null)
        {
            RandomNumberGenerator.Fill(salt);
        }
        else
        {
            random.GetBytes(salt);
        }

        var builder = new StringBuilder("$y$", 64);
        YescryptBase64.EncodeUInt32(YescryptKdf.ReadWrite + (YescryptKdf.Defaults >> 2), 0, builder);
        YescryptBase64.EncodeUInt32(log2N, 1, builder);
        YescryptBase64.EncodeUInt32(r, 1, builder);
        builder.Append('$');
        YescryptBase64.Encode(salt, builder);
        return builder.ToString();
    }

    private static string Finish(ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, YescryptSetting parsed, string setting)
    {
        string? problem = YescryptKdf.Validate(parsed.Flags, parsed.N, parsed.R, parsed.P, parsed.T);
        if (problem is not null)
        {
            throw Invalid(setting, problem);
        }

        if (!YescryptKdf.FitsMemoryLimit(parsed.N, parsed.R, parsed.P))
        {
            throw new NotSupportedException($"The setting '{setting}' needs more than 1 GiB of memory (N = {parsed.N}, r = {parsed.R}, p = {parsed.P}).");
        }

        Span<byte> hash = stackalloc byte[HashBytes];
        YescryptKdf.Derive(password, salt, parsed.Flags, parsed.N, (int)parsed.R, (int)parsed.P, parsed.T, hash);
        var builder = new StringBuilder(setting.Length + 48);
        builder.Append(setting, 0, parsed.PrefixLength).Append(parsed.SaltText).Append('$');
        YescryptBase64.Encode(hash, builder);
        CryptographicOperations.ZeroMemory(hash);
        return builder.ToString();
    }

    internal static ArgumentException Invalid(string setting, string why) =>
        new($"'{setting}' is not a valid yescrypt setting: {why}.", nameof(setting));
}
