using DiskImage.Security.Crypt;

namespace DiskImage.Customization;

/// <summary>
/// The one place that chooses and computes the hash written into <c>/etc/shadow</c> for a guest.
/// </summary>
/// <remarks>
/// Like libxcrypt's default in the guest (as virt-customize gets it): yescrypt (<c>$y$j9T$</c>, libxcrypt's
/// default cost) for Debian ≥ 11, Ubuntu ≥ 20, RHEL-family ≥ 9, Fedora ≥ 30, SUSE ≥ 15; SHA-512-crypt
/// (<c>$6$</c>, 16-character salt, 5000 rounds) for older releases and unknown guests.
/// </remarks>
internal static class PasswordHashing
{
    public const string Sha512 = "sha512";

    public const string YescryptName = "yescrypt";

    /// <summary>The algorithm for a guest when the caller chose none.</summary>
    public static string DefaultFor(GuestOs os)
    {
        int major = os.MajorVersion;
        bool yescrypt = os.Id switch
        {
            "ubuntu" => major >= 20,
            "fedora" => major >= 30,
            _ when os.IsSuseFamily => major >= 15,
            _ when os.Is("rhel") || os.Is("centos") || os.Is("rocky") || os.Is("almalinux") || os.Is("ol") => major >= 9,
            _ when os.Is("debian") => major >= 11,
            _ => false,
        };
        return yescrypt ? YescryptName : Sha512;
    }

    /// <summary>Hashes a password with the chosen algorithm and a fresh salt.</summary>
    public static string Hash(string password, string algorithm, int? rounds) => algorithm switch
    {
        Sha512 => Sha512Crypt.Hash(password, Sha512Crypt.CreateSalt(), rounds),
        YescryptName => Yescrypt.Hash(password, Yescrypt.GenerateSetting()),
        _ => throw new NotSupportedException($"Password hash '{algorithm}' is not supported (sha512 and yescrypt are)."),
    };

    /// <summary>Checks an algorithm name given by the caller.</summary>
    public static string Validate(string algorithm) => algorithm switch
    {
        Sha512 => Sha512,
        YescryptName => YescryptName,
        "md5" or "sha256" => throw new NotSupportedException($"--password-crypto {algorithm} is not supported (sha512 and yescrypt are)."),
        _ => throw new ArgumentException($"Unknown password hash '{algorithm}' (expected md5, sha256, sha512 or yescrypt).", nameof(algorithm)),
    };
}
