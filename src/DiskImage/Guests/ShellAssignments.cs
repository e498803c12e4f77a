namespace DiskImage.Guests;

/// <summary>
/// Reads the <c>KEY=value</c> files of a guest that are shell-compatible assignments (<c>/etc/os-release</c>,
/// <c>/etc/lsb-release</c>, <c>/etc/sysconfig/network</c>): comments and blank lines skipped, one level of single
/// or double quotes removed, backslash escapes inside double quotes undone, and the last assignment of a key
/// winning, as a shell sourcing the file would see it.
/// </summary>
internal static class ShellAssignments
{
    /// <summary>The keys and values of <paramref name="text"/>, keys compared ordinally.</summary>
    public static Dictionary<string, string> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.Trim();
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (line.Length == 0 || line[0] == '#' || eq <= 0)
            {
                continue;
            }

            string key = line[..eq].Trim();
            if (key.StartsWith("export ", StringComparison.Ordinal))
            {
                key = key["export ".Length..].Trim();
            }

            values[key] = Unquote(line[(eq + 1)..].Trim());
        }

        return values;
    }

    private static string Unquote(string value)
    {
        if (value.Length >= 2 && value[0] == '\'' && value[^1] == '\'')
        {
            return value[1..^1];
        }

        bool doubleQuoted = value.Length >= 2 && value[0] == '"' && value[^1] == '"';
        if (doubleQuoted)
        {
            value = value[1..^1];
        }

        if (!value.Contains('\\', StringComparison.Ordinal))
        {
            return value;
        }

        var result = new System.Text.StringBuilder(value.Length);
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (c == '\\' && i + 1 < value.Length && (!doubleQuoted || value[i + 1] is '"' or '\\' or '$' or '`'))
            {
                c = value[++i];
            }

            result.Append(c);
        }

        return result.ToString();
    }
}
