using System.Globalization;
using System.Text.RegularExpressions;
using DiskImage.FileSystems;

namespace DiskImage.Guests;

/// <summary>
/// Reads the distribution, version and product name of a Linux root the way libguestfs' inspection does:
/// <c>/etc/os-release</c> first (falling through, keeping what it set, when a field is missing or when Debian,
/// CentOS, Circle or Rocky give a major version only), then <c>/etc/lsb-release</c>, then the release files
/// (<c>/etc/redhat-release</c> and relatives, <c>/etc/debian_version</c>, ...).
/// </summary>
internal static partial class GuestReleaseFacts
{
    /// <summary>Largest release file read (libguestfs reads "small files" only).</summary>
    public const int MaxFileSize = 1 << 20;

    /// <summary>What the release files say.</summary>
    internal sealed class Facts
    {
        public string? Distro { get; set; }

        public int? Major { get; set; }

        public int Minor { get; set; }

        public string? ProductName { get; set; }
    }

    public static Facts Read(IFileSystem fs)
    {
        var facts = new Facts();
        if (ReadText(fs, "/etc/os-release") is { } osRelease && ParseOsRelease(osRelease, facts))
        {
            return facts;
        }

        if (ReadText(fs, "/etc/lsb-release") is { } lsb && ParseLsbRelease(lsb, facts))
        {
            return facts;
        }

        (string Path, string Distro, Regex? Pattern)[] releaseFiles =
        [
            ("/etc/oracle-release", "oraclelinux", OracleRelease()),
            ("/etc/centos-release", "centos", CentosRelease()),
            ("/etc/rocky-release", "rocky", RockyRelease()),
            ("/etc/altlinux-release", "altlinux", null),
        ];
        foreach ((string path, string distro, Regex? pattern) in releaseFiles)
        {
            if (ReadText(fs, path) is { } text && ParseGeneric(text, distro, pattern, facts))
            {
                return facts;
            }
        }

        if (ReadText(fs, "/etc/redhat-release") is { } redhat && ParseRedhatRelease(redhat, facts))
        {
            return facts;
        }

        (string Path, string Distro)[] generic =
        [
            ("/etc/debian_version", "debian"),
            ("/etc/pardus-release", "pardus"),
            ("/etc/gentoo-release", "gentoo"),
            ("/etc/meego-release", "meego"),
            ("/etc/slackware-version", "slackware"),
            ("/etc/ttylinux-target", "ttylinux"),
            ("/etc/SuSE-release", "suse-based"),
            ("/etc/cirros/version", "cirros"),
            ("/etc/br-version", "buildroot"),
            ("/etc/alpine-release", "alpinelinux"),
            ("/etc/frugalware-release", "frugalware"),
            ("/etc/pld-release", "pldlinux"),
        ];
        foreach ((string path, string distro) in generic)
        {
            if (ReadText(fs, path) is { } text && ParseGeneric(text, distro, null, facts))
            {
                return facts;
            }
        }

        if (IsFile(fs, "/etc/arch-release"))
        {
            facts.Distro = "archlinux";
        }

        return facts;
    }

    /// <summary>The file's text (following links), or null when it is missing, not a regular file, or too large.</summary>
    internal static string? ReadText(IFileSystem fs, string path)
    {
        try
        {
            using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
            if (s.Length > MaxFileSize)
            {
                return null;
            }

            using var reader = new StreamReader(s, System.Text.Encoding.UTF8);
            return reader.ReadToEnd();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException or ArgumentException)
        {
            return null;
        }
    }

    internal static bool IsFile(IFileSystem fs, string path)
    {
        try
        {
            using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException or ArgumentException)
        {
            return false;
        }
    }

    private static bool ParseOsRelease(string text, Facts facts)
    {
        Dictionary<string, string> values = ShellAssignments.Parse(text);
        if (values.TryGetValue("ID", out string? id) && DistroOfOsReleaseId(id) is { } distro)
        {
            facts.Distro = distro;
        }

        if (values.TryGetValue("PRETTY_NAME", out string? pretty))
        {
            facts.ProductName = pretty;
        }

        if (values.TryGetValue("VERSION_ID", out string? versionId))
        {
            ParseVersion(versionId, facts);
        }

        if (facts.Distro is null || facts.ProductName is null)
        {
            return false;
        }

        if (facts.Major is null)
        {
            if (facts.Distro is "archlinux" or "gentoo" or "voidlinux")
            {
                facts.Major = 0;
                facts.Minor = 0;
                return true;
            }

            return false;
        }

        // Their os-release gives the major version only: the release files give the minor.
        return !(facts.Distro is "debian" or "centos" or "circle" or "rocky" && facts.Minor == 0);
    }

    private static bool ParseLsbRelease(string text, Facts facts)
    {
        Dictionary<string, string> values = ShellAssignments.Parse(text);
        string? distro = values.GetValueOrDefault("DISTRIB_ID") switch
        {
            "Ubuntu" => "ubuntu",
            "LinuxMint" => "linuxmint",
            "Mageia" => "mageia",
            "CoreOS" => "coreos",
            _ => null,
        };
        if (distro is null)
        {
            return false;
        }

        facts.Distro = distro;
        if (values.TryGetValue("DISTRIB_RELEASE", out string? release))
        {
            ParseVersion(release, facts);
        }

        if (values.TryGetValue("DISTRIB_DESCRIPTION", out string? description))
        {
            facts.ProductName = description;
        }

        return facts.Major is not null;
    }

    private static bool ParseRedhatRelease(string text, Facts facts)
    {
        (Regex Pattern, string Distro)[] patterns =
        [
            (FedoraRelease(), "fedora"),
            (RhelOldRelease(), "rhel"),
            (RhelRelease(), "rhel"),
            (CentosOldRelease(), "centos"),
            (CentosRelease(), "centos"),
            (CircleRelease(), "circle"),
            (RockyRelease(), "rocky"),
            (ScientificOldRelease(), "scientificlinux"),
            (ScientificRelease(), "scientificlinux"),
        ];
        foreach ((Regex pattern, string distro) in patterns)
        {
            if (ParseGeneric(text, distro, pattern, facts))
            {
                return true;
            }
        }

        // Anything else that ships a redhat-release (AlmaLinux, Oracle, clones): the family, best-effort version.
        return ParseGeneric(text, "redhat-based", null, facts);
    }

    /// <summary>
    /// The generic release-file parser: product name = the first line; with a pattern, the version comes from
    /// its groups 1 and 2 and a mismatch fails; without one, a best-effort <c>N.N</c> or <c>N</c>.
    /// </summary>
    private static bool ParseGeneric(string text, string distro, Regex? pattern, Facts facts)
    {
        string first = FirstLine(text);
        if (first.Length == 0)
        {
            return false;
        }

        if (pattern is not null)
        {
            Match m = pattern.Match(first);
            if (!m.Success)
            {
                return false;
            }

            facts.ProductName = first;
            facts.Distro = distro;
            facts.Major = Number(m.Groups[1]);
            facts.Minor = m.Groups.Count > 2 ? Number(m.Groups[2]) : 0;
            return true;
        }

        facts.ProductName = first;
        facts.Distro = distro;
        ParseVersion(first, facts);
        return true;
    }

    private static int Number(Group g) =>
        g.Success && int.TryParse(g.Value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : 0;

    private static void ParseVersion(string text, Facts facts)
    {
        Match m = MajorMinor().Match(text);
        if (m.Success)
        {
            facts.Major = Number(m.Groups[1]);
            facts.Minor = Number(m.Groups[2]);
            return;
        }

        m = MajorOnly().Match(text);
        if (m.Success)
        {
            facts.Major = Number(m.Groups[1]);
            facts.Minor = 0;
        }
    }

    private static string FirstLine(string text)
    {
        int nl = text.IndexOf('\n', StringComparison.Ordinal);
        return (nl < 0 ? text : text[..nl]).Trim();
    }

    /// <summary>libguestfs' os-release ID table; any other ID (almalinux included) is not known.</summary>
    internal static string? DistroOfOsReleaseId(string id) => id switch
    {
        "alpine" => "alpinelinux",
        "altlinux" => "altlinux",
        "arch" => "archlinux",
        "centos" => "centos",
        "circle" => "circle",
        "coreos" => "coreos",
        "debian" => "debian",
        "fedora" => "fedora",
        "frugalware" => "frugalware",
        "gentoo" => "gentoo",
        "kali" => "kalilinux",
        "kylin" => "kylin",
        "mageia" => "mageia",
        "neokylin" => "neokylin",
        "openEuler" => "openeuler",
        "openmandriva" => "openmandriva",
        "opencloudos" => "opencloudos",
        "tencentos" => "tencentos",
        "opensuse" => "opensuse",
        _ when id.StartsWith("opensuse-", StringComparison.Ordinal) => "opensuse",
        "pardus" => "pardus",
        "pld" => "pldlinux",
        "rhel" => "rhel",
        "rocky" => "rocky",
        "sles" or "sled" => "sles",
        "ubuntu" => "ubuntu",
        "void" => "voidlinux",
        _ => null,
    };

    [GeneratedRegex(@"(\d+)\.(\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex MajorMinor();

    [GeneratedRegex(@"(\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex MajorOnly();

    [GeneratedRegex(@"Fedora release (\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex FedoraRelease();

    [GeneratedRegex(@"Red Hat.*release (\d+).*Update (\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex RhelOldRelease();

    [GeneratedRegex(@"Red Hat.*release (\d+)(?:\.(\d+))?", RegexOptions.CultureInvariant)]
    private static partial Regex RhelRelease();

    [GeneratedRegex(@"CentOS.*release (\d+).*Update (\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex CentosOldRelease();

    [GeneratedRegex(@"CentOS.*release (\d+)(?:\.(\d+))?", RegexOptions.CultureInvariant)]
    private static partial Regex CentosRelease();

    [GeneratedRegex(@"Circle Linux.*release (\d+)(?:\.(\d+))?", RegexOptions.CultureInvariant)]
    private static partial Regex CircleRelease();

    [GeneratedRegex(@"Rocky Linux.*release (\d+)(?:\.(\d+))?", RegexOptions.CultureInvariant)]
    private static partial Regex RockyRelease();

    [GeneratedRegex(@"Oracle Linux.*release (\d+)(?:\.(\d+))?", RegexOptions.CultureInvariant)]
    private static partial Regex OracleRelease();

    [GeneratedRegex(@"Scientific Linux.*release (\d+).*Update (\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex ScientificOldRelease();

    [GeneratedRegex(@"Scientific Linux.*release (\d+)(?:\.(\d+))?", RegexOptions.CultureInvariant)]
    private static partial Regex ScientificRelease();
}
