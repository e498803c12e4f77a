using DiskImage.Security.Crypt;

namespace DiskImage.Customization;

/// <summary>
/// The one place that chooses and computes the hash written into <c>/etc/shadow</c> for a guest.
/// </summary>
/// <remarks>
/// virt-customize uses yescrypt for Debian ≥ 11, Ubuntu ≥ 20, RHEL-family ≥ 9, Fedora ≥ 30, SUSE ≥ 15, and
/// SHA-512-crypt before. Until yescrypt is available here every guest gets SHA-512-crypt (<c>$6$</c>, 16-character
/// salt, 5000 rounds), which libxcrypt verifies on all of them; <see cref="DefaultFor"/> is where yescrypt will be chosen.
/// </remarks>
internal static class PasswordHashing
{
    public const string Sha512 = "sha512";

    /// <summary>The algorithm for a guest when the caller chose none.</summary>
    public static string DefaultFor(GuestOs os)
    {
        _ = os; // yescrypt for the releases listed above, once implemented.
        return Sha512;
    }

    /// <summary>Hashes a password with the chosen algorithm and a fresh salt.</summary>
    public static string Hash(string password, string algorithm, int? rounds) => algorithm switch
    {
        Sha512 => Sha512Crypt.Hash(password, Sha512Crypt.CreateSalt(), rounds),
        _ => throw new NotSupportedException($"Password hash '{algorithm}' is not supported (only sha512 is)."),
    };

    /// <summary>Checks an algorithm name given by the caller.</summary>
    public static string Validate(string algorithm) => algorithm switch
    {
        Sha512 => Sha512,
        "md5" or "sha256" or "yescrypt" => throw new NotSupportedException($"--password-crypto {algorithm} is not supported yet (sha512 is)."),
        _ => throw new ArgumentException($"Unknown password hash '{algorithm}' (expected md5, sha256, sha512 or yescrypt).", nameof(algorithm)),
    };
}
