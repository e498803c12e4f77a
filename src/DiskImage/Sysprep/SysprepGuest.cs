using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Sysprep;

/// <summary>
/// What sysprep needs to know about the guest: the <c>/etc/os-release</c> identity (<c>ID</c>, <c>ID_LIKE</c>,
/// <c>VERSION_ID</c>) and the distribution families and package manager derived from it. Operations are gated on
/// families, not on a fixed list of IDs, so Rocky, Alma, CentOS Stream and Oracle Linux count as RHEL family.
/// </summary>
public sealed class SysprepGuest
{
    private const int MaxOsReleaseBytes = 64 * 1024;

    private SysprepGuest(string id, IReadOnlyList<string> idLike, string? versionId, string? packageManager)
    {
        Id = id;
        IdLike = idLike;
        VersionId = versionId;
        PackageManager = packageManager;
    }

    /// <summary>The <c>ID</c> of <c>/etc/os-release</c> (lower case), or "linux" when the guest has none that can be read.</summary>
    public string Id { get; }

    /// <summary>The words of <c>ID_LIKE</c>, in order (empty when absent).</summary>
    public IReadOnlyList<string> IdLike { get; }

    /// <summary>The <c>VERSION_ID</c>, or null.</summary>
    public string? VersionId { get; }

    /// <summary>Whether <see cref="Id"/> or <see cref="IdLike"/> names rhel, fedora or centos (RHEL, Fedora, CentOS, Rocky, Alma, Oracle Linux...).</summary>
    public bool IsRedHatFamily => Is("rhel") || Is("fedora") || Is("centos");

    /// <summary>Whether <see cref="Id"/> or <see cref="IdLike"/> names debian or ubuntu (Debian, Ubuntu, Kali, Mint...).</summary>
    public bool IsDebianFamily => Is("debian") || Is("ubuntu");

    /// <summary>Whether <see cref="Id"/> or <see cref="IdLike"/> names suse (SLES, openSUSE).</summary>
    public bool IsSuseFamily => Is("suse") || Is("opensuse") || Id.StartsWith("opensuse", StringComparison.Ordinal) || Id is "sles" or "sled";

    /// <summary>The package manager: "apt", "dnf", "yum", "zypper", or null when unknown.</summary>
    public string? PackageManager { get; }

    /// <summary>Whether packages are rpm (RHEL and SUSE families).</summary>
    public bool UsesRpm => IsRedHatFamily || IsSuseFamily;

    /// <summary>Whether <paramref name="id"/> is the <see cref="Id"/> or one of <see cref="IdLike"/>.</summary>
    public bool Is(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (Id == id)
        {
            return true;
        }

        foreach (string like in IdLike)
        {
            if (like == id)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Makes a guest description from os-release values (for callers that know the guest already, and tests).</summary>
    /// <param name="id">The <c>ID</c>.</param>
    /// <param name="idLike">The <c>ID_LIKE</c> value (space-separated words), or null.</param>
    /// <param name="versionId">The <c>VERSION_ID</c>, or null.</param>
    public static SysprepGuest FromOsRelease(string id, string? idLike = null, string? versionId = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        string[] like = (idLike ?? string.Empty).ToLowerInvariant().Split(' ', '\t', StringSplitOptions.RemoveEmptyEntries);
        return Create(id.ToLowerInvariant(), like, versionId, fileSystem: null);
    }

    /// <summary>
    /// Reads <c>/etc/os-release</c> (or <c>/usr/lib/os-release</c>) of <paramref name="fileSystem"/>; without one,
    /// <c>/etc/redhat-release</c> or <c>/etc/debian_version</c> name the family, else the guest is plain "linux".
    /// </summary>
    /// <exception cref="InvalidDataException">The os-release file is larger than 64 KiB.</exception>
    public static SysprepGuest Detect(IFileSystem fileSystem)
    {
        ArgumentNullException.ThrowIfNull(fileSystem);
        string? text = ReadSmallFile(fileSystem, "/etc/os-release") ?? ReadSmallFile(fileSystem, "/usr/lib/os-release");
        if (text is null)
        {
            if (IsRegularFile(fileSystem, "/etc/redhat-release"))
            {
                return Create("rhel", [], null, fileSystem);
            }

            if (IsRegularFile(fileSystem, "/etc/debian_version"))
            {
                return Create("debian", [], null, fileSystem);
            }

            return Create("linux", [], null, fileSystem);
        }

        Dictionary<string, string> values = Guests.ShellAssignments.Parse(text);
        string id = values.TryGetValue("ID", out string? idValue) && idValue.Length > 0 ? idValue.ToLowerInvariant() : "linux";
        string[] like = values.GetValueOrDefault("ID_LIKE", string.Empty).ToLowerInvariant().Split(' ', '\t', StringSplitOptions.RemoveEmptyEntries);
        string? version = values.GetValueOrDefault("VERSION_ID");
        return Create(id, like, version, fileSystem);
    }

    private static SysprepGuest Create(string id, string[] like, string? version, IFileSystem? fileSystem)
    {
        var probe = new SysprepGuest(id, like, version, null);
        string? manager = null;
        if (probe.IsDebianFamily)
        {
            manager = "apt";
        }
        else if (probe.IsSuseFamily)
        {
            manager = "zypper";
        }
        else if (probe.IsRedHatFamily)
        {
            manager = UsesDnf(probe, fileSystem) ? "dnf" : "yum";
        }

        return new SysprepGuest(id, like, version, manager);
    }

    /// <summary>Fedora 22 and later, and RHEL-family 8 and later use dnf (as libguestfs decides); without a version, the presence of dnf decides.</summary>
    private static bool UsesDnf(SysprepGuest guest, IFileSystem? fileSystem)
    {
        int major = MajorVersion(guest.VersionId);
        if (major > 0)
        {
            return guest.Id == "fedora" ? major >= 22 : major >= 8;
        }

        return fileSystem is not null && (fileSystem.Exists("/usr/bin/dnf") || fileSystem.Exists("/bin/dnf"));
    }

    private static int MajorVersion(string? version)
    {
        if (version is null)
        {
            return 0;
        }

        int major = 0;
        foreach (char c in version)
        {
            if (c is < '0' or > '9' || major > 100_000)
            {
                break;
            }

            major = (major * 10) + (c - '0');
        }

        return major;
    }

    private static bool IsRegularFile(IFileSystem fs, string path)
    {
        try
        {
            return fs.GetEntry(path).Type == UnixFileType.RegularFile;
        }
        catch (Exception e) when (e is IOException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Reads a file following symbolic links (os-release is usually a link to ../usr/lib/os-release); null when absent.</summary>
    private static string? ReadSmallFile(IFileSystem fs, string path)
    {
        Stream stream;
        try
        {
            stream = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        using (stream)
        {
            if (stream.Length > MaxOsReleaseBytes)
            {
                throw new InvalidDataException($"{path} is larger than {MaxOsReleaseBytes} bytes; it is not an os-release file.");
            }

            var buffer = new byte[stream.Length];
            stream.ReadExactly(buffer);
            return Encoding.UTF8.GetString(buffer);
        }
    }

    /// <inheritdoc />
    public override string ToString() =>
        IdLike.Count == 0 ? Id : $"{Id} (like {string.Join(' ', IdLike)})";
}
