namespace DiskImage.Customization;

/// <summary>The guest's distribution, from <c>/etc/os-release</c> (or <c>/usr/lib/os-release</c>): <c>ID</c>, <c>ID_LIKE</c>, <c>VERSION_ID</c>.</summary>
internal sealed class GuestOs
{
    private GuestOs(string id, IReadOnlyList<string> like, string versionId)
    {
        Id = id;
        Like = like;
        VersionId = versionId;
    }

    public string Id { get; }

    public IReadOnlyList<string> Like { get; }

    public string VersionId { get; }

    /// <summary>The major version (the digits before the first dot), or 0.</summary>
    public int MajorVersion
    {
        get
        {
            int end = 0;
            while (end < VersionId.Length && char.IsAsciiDigit(VersionId[end]))
            {
                end++;
            }

            return end > 0 && int.TryParse(VersionId.AsSpan(0, Math.Min(end, 9)), out int v) ? v : 0;
        }
    }

    public bool IsDebianFamily => Is("debian") || Is("ubuntu") || Is("kali");

    public bool IsRedHatFamily => Is("rhel") || Is("fedora") || Is("centos") || Is("rocky") || Is("almalinux") || Is("ol");

    public bool IsSuseFamily => Is("suse") || Is("opensuse") || Is("sles") || Id.StartsWith("opensuse", StringComparison.Ordinal);

    /// <summary>Whether <paramref name="id"/> is the ID or in ID_LIKE.</summary>
    public bool Is(string id)
    {
        if (Id == id)
        {
            return true;
        }

        foreach (string l in Like)
        {
            if (l == id)
            {
                return true;
            }
        }

        return false;
    }

    public static GuestOs Read(GuestTree tree)
    {
        foreach (string path in (string[])["/etc/os-release", "/usr/lib/os-release"])
        {
            string canonical;
            try
            {
                canonical = tree.Resolve(path);
            }
            catch (CustomizationException)
            {
                continue;
            }

            if (tree.Stat(canonical) is { Type: FileSystems.UnixFileType.RegularFile })
            {
                return Parse(System.Text.Encoding.UTF8.GetString(tree.ReadAllBytes(canonical)));
            }
        }

        return new GuestOs(string.Empty, [], string.Empty);
    }

    public static GuestOs Parse(string text)
    {
        Dictionary<string, string> values = Guests.ShellAssignments.Parse(text);
        string id = values.GetValueOrDefault("ID", string.Empty).ToLowerInvariant();
        string like = values.GetValueOrDefault("ID_LIKE", string.Empty).ToLowerInvariant();
        return new GuestOs(id, like.Split(' ', '\t', StringSplitOptions.RemoveEmptyEntries), values.GetValueOrDefault("VERSION_ID", string.Empty));
    }
}
