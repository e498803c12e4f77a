namespace DiskImage.Guests;

/// <summary>One line of <c>/etc/fstab</c>: spec, mount point, type and options, with shell-style quotes removed.</summary>
internal sealed record FstabEntry(string Spec, string MountPoint, string Type, string Options)
{
    /// <summary>Most lines read; a longer fstab is refused as hostile.</summary>
    public const int MaxLines = 10000;

    /// <summary>
    /// Parses fstab text tolerantly (libguestfs' Augeas lens refuses odd but valid files): whitespace-separated
    /// fields, <c>#</c> comments, <c>\040</c>-style octal escapes; lines with fewer than three fields are skipped.
    /// </summary>
    /// <exception cref="InvalidDataException">The text has more than <see cref="MaxLines"/> lines.</exception>
    public static List<FstabEntry> Parse(string text)
    {
        var entries = new List<FstabEntry>();
        int lines = 0;
        foreach (string raw in text.Split('\n'))
        {
            if (++lines > MaxLines)
            {
                throw new InvalidDataException($"/etc/fstab has more than {MaxLines} lines.");
            }

            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            string[] f = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 3)
            {
                continue;
            }

            entries.Add(new FstabEntry(Unescape(f[0]), Unescape(f[1]), f[2], f.Length > 3 ? f[3] : "defaults"));
        }

        return entries;
    }

    /// <summary>Removes one level of surrounding quotes and decodes <c>\NNN</c> octal escapes.</summary>
    private static string Unescape(string s)
    {
        if (s.Contains('\\', StringComparison.Ordinal))
        {
            var sb = new System.Text.StringBuilder(s.Length);
            for (int i = 0; i < s.Length; i++)
            {
                if (s[i] == '\\' && IsOctal(s, i + 1))
                {
                    sb.Append((char)(((s[i + 1] - '0') * 64) + ((s[i + 2] - '0') * 8) + (s[i + 3] - '0')));
                    i += 3;
                }
                else
                {
                    sb.Append(s[i]);
                }
            }

            s = sb.ToString();
        }

        if (s.Length >= 2 && ((s[0] == '"' && s[^1] == '"') || (s[0] == '\'' && s[^1] == '\'')))
        {
            s = s[1..^1];
        }

        return s;
    }

    private static bool IsOctal(string s, int at) =>
        at + 2 < s.Length && s[at] is >= '0' and <= '3' && s[at + 1] is >= '0' and <= '7' && s[at + 2] is >= '0' and <= '7';
}
