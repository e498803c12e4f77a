using System.Globalization;
using System.Text;

namespace DiskImage.Sysprep.Operations;

/// <summary>
/// <c>user-account</c> (not a default): removes the accounts whose UID is within <c>UID_MIN</c>–<c>UID_MAX</c> of
/// /etc/login.defs (root never is), honouring <see cref="SysprepOptions.RemoveUserAccounts"/> and
/// <see cref="SysprepOptions.KeepUserAccounts"/>: the passwd and shadow lines, the group named after the user, the
/// mail spool /var/spool/mail/USER and the home directory. gshadow, subuid and subgid are not touched (as in
/// virt-sysprep). Other lines keep their bytes; the files are rewritten in place.
/// </summary>
internal sealed class UserAccountOperation : SysprepOperation
{
    // shadow-utils' built-in values when login.defs does not set them.
    private const long DefaultUidMin = 1000;
    private const long DefaultUidMax = 60000;

    public UserAccountOperation()
        : base("user-account", "Remove the user accounts (UID_MIN to UID_MAX) with their home directories and mail", enabledByDefault: false, isExtra: false)
    {
    }

    internal override void Apply(SysprepContext context)
    {
        byte[]? passwd = context.ReadFile("/etc/passwd");
        if (passwd is null)
        {
            return;
        }

        (long uidMin, long uidMax) = ReadUidRange(context);
        var removed = new List<(string Name, string Home)>();
        List<string> passwdLines = SplitKeepingEnds(passwd);
        for (int i = 0; i < passwdLines.Count; i++)
        {
            string line = passwdLines[i];
            if (IsSkippable(line))
            {
                continue;
            }

            string[] fields = line.TrimEnd('\n', '\r').Split(':');
            if (fields.Length < 7 || fields[0].Length == 0 || !long.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out long uid))
            {
                throw new InvalidDataException($"/etc/passwd line {i + 1} is not 'name:password:uid:gid:gecos:home:shell': '{line.TrimEnd('\n', '\r')}'.");
            }

            if (uid < uidMin || uid > uidMax || !ShouldRemove(context.Options, fields[0]))
            {
                continue;
            }

            removed.Add((fields[0], fields[5]));
            passwdLines[i] = null!;
        }

        if (removed.Count == 0)
        {
            return;
        }

        context.Rewrite("/etc/passwd", JoinKept(passwdLines));
        RemoveNamedLines(context, "/etc/shadow", removed);
        RemoveNamedLines(context, "/etc/group", removed);
        foreach ((string name, string home) in removed)
        {
            context.RemoveTree("/var/spool/mail/" + name);
            if (home.Length > 1 && home[0] == '/' && home.TrimEnd('/').Length > 0)
            {
                context.RemoveTree(home);
            }
            else if (home.Length > 0)
            {
                context.Note($"the home directory '{home}' of {name} was not removed");
            }
        }
    }

    private static bool ShouldRemove(SysprepOptions options, string user)
    {
        if (options.KeepUserAccounts.Contains(user))
        {
            return false;
        }

        return options.RemoveUserAccounts.Count == 0 || options.RemoveUserAccounts.Contains(user);
    }

    private static (long Min, long Max) ReadUidRange(SysprepContext context)
    {
        long min = DefaultUidMin;
        long max = DefaultUidMax;
        byte[]? defs = context.ReadFile("/etc/login.defs");
        if (defs is null)
        {
            return (min, max);
        }

        foreach (string raw in ConfigLines.Split(defs))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            string[] words = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length < 2 || words[0] is not ("UID_MIN" or "UID_MAX"))
            {
                continue;
            }

            if (!long.TryParse(words[1], NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            {
                throw new InvalidDataException($"/etc/login.defs: {words[0]} is not a number: '{words[1]}'.");
            }

            if (words[0] == "UID_MIN")
            {
                min = value;
            }
            else
            {
                max = value;
            }
        }

        return (Math.Max(min, 1), max);
    }

    private static void RemoveNamedLines(SysprepContext context, string path, List<(string Name, string Home)> users)
    {
        byte[]? content = context.ReadFile(path);
        if (content is null)
        {
            return;
        }

        List<string> lines = SplitKeepingEnds(content);
        for (int i = 0; i < lines.Count; i++)
        {
            string line = lines[i];
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (IsSkippable(line) || colon <= 0)
            {
                continue;
            }

            string name = line[..colon];
            foreach ((string user, _) in users)
            {
                if (name == user)
                {
                    lines[i] = null!;
                    break;
                }
            }
        }

        context.Rewrite(path, JoinKept(lines));
    }

    private static bool IsSkippable(string line) => line.Length == 0 || line[0] is '#' or '+' or '-' || line.TrimEnd('\n', '\r').Length == 0;

    /// <summary>Lines with their '\n' (the last one without, when the file does not end in one).</summary>
    private static List<string> SplitKeepingEnds(byte[] content)
    {
        string text = Encoding.Latin1.GetString(content);
        var lines = new List<string>();
        int start = 0;
        while (start < text.Length)
        {
            int nl = text.IndexOf('\n', start);
            int end = nl < 0 ? text.Length : nl + 1;
            lines.Add(text[start..end]);
            start = end;
        }

        return lines;
    }

    private static byte[] JoinKept(List<string> lines)
    {
        var sb = new StringBuilder();
        foreach (string? line in lines)
        {
            if (line is not null)
            {
                sb.Append(line);
            }
        }

        return Encoding.Latin1.GetBytes(sb.ToString());
    }
}
