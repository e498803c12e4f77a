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
        string id = string.Empty, like = string.Empty, version = string.Empty;
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.Trim();
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || line.StartsWith('#'))
            {
                continue;
            }

            string value = line[(eq + 1)..].Trim().Trim('"', '\'');
            switch (line[..eq])
            {
                case "ID": id = value.ToLowerInvariant(); break;
                case "ID_LIKE": like = value.ToLowerInvariant(); break;
                case "VERSION_ID": version = value; break;
            }
        }

        return new GuestOs(id, like.Split(' ', StringSplitOptions.RemoveEmptyEntries), version);
    }
}
