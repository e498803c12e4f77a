using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Customization;

/// <summary>
/// <c>--hostname HOSTNAME</c>, by distribution as virt-customize does: Debian family writes <c>/etc/hostname</c>
/// and renames the old name in <c>/etc/hosts</c>; RHEL family (≥ 7) and Fedora write <c>/etc/hostname</c> and
/// <c>PRETTY_HOSTNAME</c> in <c>/etc/machine-info</c>; SUSE writes <c>/etc/HOSTNAME</c>; others get
/// <c>/etc/hostname</c> and a note.
/// </summary>
internal sealed class HostnameOperation : CustomizeOperation
{
    public HostnameOperation(string argument)
        : base("hostname", argument)
    {
        if (argument.Length == 0 || argument.AsSpan().IndexOfAny(" \t\n\r:/") >= 0)
        {
            throw new CustomizationException(ToString(), "not a valid host name");
        }
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string name = Argument!;
        GuestOs os = context.Os;
        if (os.IsSuseFamily)
        {
            t.WriteFile(t.Resolve("/etc/HOSTNAME"), Encoding.UTF8.GetBytes(name));
            return;
        }

        string hostnamePath = t.Resolve("/etc/hostname");
        string? old = t.Stat(hostnamePath) is { Type: UnixFileType.RegularFile } ? Encoding.UTF8.GetString(t.ReadAllBytes(hostnamePath)).Trim() : null;
        t.WriteFile(hostnamePath, Encoding.UTF8.GetBytes(name + "\n"));
        if (os.IsDebianFamily)
        {
            RenameInHosts(t, old, name);
        }
        else if (os.IsRedHatFamily)
        {
            SetKey(t, "/etc/machine-info", "PRETTY_HOSTNAME", name);
        }
        else
        {
            context.Notes.Add($"{this}: the distribution '{os.Id}' is not known; only /etc/hostname was written");
        }
    }

    /// <summary>Replaces the old FQDN, the old short name and Debian's installer placeholders in <c>/etc/hosts</c>.</summary>
    private static void RenameInHosts(GuestTree t, string? old, string name)
    {
        string path = t.Resolve("/etc/hosts");
        if (t.Stat(path) is not { Type: UnixFileType.RegularFile })
        {
            return;
        }

        var oldNames = new HashSet<string>(StringComparer.Ordinal) { "unassigned-hostname", "unassigned-hostname.unassigned-domain" };
        if (!string.IsNullOrEmpty(old))
        {
            oldNames.Add(old);
            int dot = old.IndexOf('.', StringComparison.Ordinal);
            if (dot > 0)
            {
                oldNames.Add(old[..dot]);
            }
        }

        string text = Encoding.UTF8.GetString(t.ReadAllBytes(path));
        string[] lines = text.Split('\n');
        bool changed = false;
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            int hash = line.IndexOf('#', StringComparison.Ordinal);
            string body = hash < 0 ? line : line[..hash];
            string[] fields = body.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 2)
            {
                continue;
            }

            bool lineChanged = false;
            for (int f = 1; f < fields.Length; f++)
            {
                if (oldNames.Contains(fields[f]))
                {
                    fields[f] = name;
                    lineChanged = true;
                }
            }

            if (lineChanged)
            {
                lines[i] = string.Join('\t', fields) + (hash < 0 ? string.Empty : " " + line[hash..]);
                changed = true;
            }
        }

        if (changed)
        {
            t.WriteFile(path, Encoding.UTF8.GetBytes(string.Join('\n', lines)));
        }
    }

    /// <summary>Replaces or appends KEY=VALUE in a shell-style key file (creating it).</summary>
    internal static void SetKey(GuestTree t, string file, string key, string value)
    {
        string path = t.Resolve(file);
        var lines = new List<string>();
        if (t.Stat(path) is { Type: UnixFileType.RegularFile })
        {
            lines.AddRange(Encoding.UTF8.GetString(t.ReadAllBytes(path)).Split('\n'));
            if (lines.Count > 0 && lines[^1].Length == 0)
            {
                lines.RemoveAt(lines.Count - 1);
            }
        }

        int index = lines.FindIndex(l => l.StartsWith(key + "=", StringComparison.Ordinal));
        string entry = $"{key}={value}";
        if (index >= 0)
        {
            lines[index] = entry;
        }
        else
        {
            lines.Add(entry);
        }

        t.WriteFile(path, Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
    }
}
