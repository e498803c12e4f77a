namespace DiskImage.Security;

/// <summary>
/// A file_contexts.subs or file_contexts.subs_dist list: path aliases ("/lib64 /usr/lib") applied to a
/// path before lookup, as libselinux's <c>selabel_sub</c> does.
/// </summary>
/// <remarks>
/// Each non-comment line gives an alias and the path it stands for, separated by white space. The list
/// is tried from the last line to the first and the first alias that is a prefix of the path ending at
/// a '/' or at the end of the path is replaced; only one substitution is made per list.
/// </remarks>
internal sealed class SelinuxSubstitutions
{
    private readonly List<(string From, string To)> _entries;

    private SelinuxSubstitutions(List<(string From, string To)> entries)
    {
        _entries = entries;
    }

    /// <summary>An empty list (the file is absent).</summary>
    public static SelinuxSubstitutions Empty { get; } = new([]);

    /// <summary>Number of aliases.</summary>
    public int Count => _entries.Count;

    /// <summary>Parses the text of a substitution file (one char per byte).</summary>
    public static SelinuxSubstitutions Parse(string text)
    {
        var entries = new List<(string, string)>();
        foreach (string rawLine in text.Split('\n'))
        {
            ReadOnlySpan<char> line = rawLine;
            int i = 0;
            while (i < line.Length && IsSpace(line[i]))
            {
                i++;
            }

            if (i < line.Length && line[i] == '#')
            {
                continue;
            }

            int start = i;
            while (i < line.Length && !IsSpace(line[i]))
            {
                i++;
            }

            string from = line[start..i].ToString();
            while (i < line.Length && IsSpace(line[i]))
            {
                i++;
            }

            start = i;
            while (i < line.Length && !IsSpace(line[i]))
            {
                i++;
            }

            string to = line[start..i].ToString();
            if (from.Length == 0 || to.Length == 0)
            {
                continue;
            }

            entries.Add((from, to));
        }

        entries.Reverse(); // libselinux prepends each line to its list
        return new SelinuxSubstitutions(entries);
    }

    /// <summary>Returns the substituted path, or null when no alias applies.</summary>
    public string? Apply(string path)
    {
        foreach ((string from, string to) in _entries)
        {
            if (!path.StartsWith(from, StringComparison.Ordinal))
            {
                continue;
            }

            if (path.Length == from.Length)
            {
                return to;
            }

            if (path[from.Length] == '/')
            {
                // An alias for "/" keeps no doubled slash.
                return to == "/" ? to + path[(from.Length + 1)..] : to + path[from.Length..];
            }
        }

        return null;
    }

    /// <summary>The C library's <c>isspace</c> in the C locale.</summary>
    internal static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';
}
