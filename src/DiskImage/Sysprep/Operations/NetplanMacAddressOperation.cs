using System.Text.RegularExpressions;

namespace DiskImage.Sysprep.Operations;

/// <summary>
/// <c>net-netplan-macaddress</c> (extra): in every <c>/etc/netplan/*.yaml</c>, removes <c>macaddress:</c> from
/// <c>match:</c> blocks (block or flow style). A <c>match:</c> left empty is removed with the <c>set-name:</c> beside it
/// (netplan requires a match for set-name), so the interface is then matched by its ID. A <c>macaddress:</c> that
/// sets the MAC (outside <c>match:</c>) is kept. Files are rewritten in place (mode 0600 and label kept).
/// </summary>
internal sealed partial class NetplanMacAddressOperation : SysprepOperation
{
    public NetplanMacAddressOperation()
        : base("net-netplan-macaddress", "Remove MAC address matches (match: macaddress) from netplan configuration", enabledByDefault: false, isExtra: true)
    {
    }

    internal override void Apply(SysprepContext context)
    {
        var paths = context.Glob("/etc/netplan/*.yaml");
        paths.AddRange(context.Glob("/etc/netplan/*.yml"));
        foreach (string path in paths)
        {
            byte[]? content = context.ReadFile(path);
            if (content is null)
            {
                continue;
            }

            List<string> lines = ConfigLines.Split(content);
            if (Edit(lines))
            {
                context.Rewrite(path, ConfigLines.Join(lines));
            }
        }
    }

    /// <summary>Edits the lines; true when something changed.</summary>
    internal static bool Edit(List<string> lines)
    {
        bool changed = false;
        for (int i = 0; i < lines.Count; i++)
        {
            if (EditNestedFlow(lines[i]) is { } nested)
            {
                lines[i] = nested;
                changed = true;
                continue;
            }

            if (!TryKey(lines[i], out int indent, out string key, out string rest) || key != "match")
            {
                continue;
            }

            bool empty;
            if (rest.StartsWith('{'))
            {
                // "match: {...}" on its own line: an emptied flow mapping goes with the line.
                string edited = FlowMacAddress().Replace(rest, string.Empty);
                if (edited == rest)
                {
                    continue;
                }

                edited = TrailingComma().Replace(edited, "}");
                changed = true;
                empty = EmptyFlow().IsMatch(edited);
                lines[i] = lines[i][..(lines[i].Length - lines[i].TrimStart().Length)] + "match: " + edited;
            }
            else if (rest.Length == 0)
            {
                int end = i + 1;
                bool anyLeft = false;
                while (end < lines.Count && (IsBlankOrComment(lines[end]) || Indent(lines[end]) > indent))
                {
                    if (TryKey(lines[end], out _, out string childKey, out _) && childKey == "macaddress")
                    {
                        lines.RemoveAt(end);
                        changed = true;
                        continue;
                    }

                    anyLeft |= !IsBlankOrComment(lines[end]);
                    end++;
                }

                empty = !anyLeft;
                if (!changed || !empty)
                {
                    continue;
                }
            }
            else
            {
                continue;
            }

            if (empty)
            {
                lines.RemoveAt(i);
                RemoveSibling(lines, i, indent, "set-name");
                i--;
            }
        }

        return changed;
    }

    /// <summary>
    /// "id: {match: {macaddress: ...}, set-name: x, ...}": removes the MAC from the nested match; an emptied match goes
    /// with the set-name of the same mapping. Null when the line has no such match.
    /// </summary>
    private static string? EditNestedFlow(string line)
    {
        Match m = NestedMatch().Match(line);
        if (!m.Success || m.Index == line.Length - line.TrimStart().Length)
        {
            return null;
        }

        string inner = FlowMacAddress().Replace(m.Groups[1].Value, string.Empty).TrimEnd().TrimEnd(',');
        if (inner == m.Groups[1].Value)
        {
            return null;
        }

        string edited;
        if (inner.Trim().Length == 0)
        {
            edited = line[..m.Index] + line[(m.Index + m.Length)..];
            edited = SetName().Replace(edited, string.Empty, 1);
        }
        else
        {
            edited = line[..m.Groups[1].Index] + inner + line[(m.Groups[1].Index + m.Groups[1].Length)..];
        }

        return TrailingComma().Replace(edited, "}");
    }

    /// <summary>Removes a key at the same indentation within the block around <paramref name="at"/>.</summary>
    private static void RemoveSibling(List<string> lines, int at, int indent, string name)
    {
        int start = at;
        while (start > 0 && (IsBlankOrComment(lines[start - 1]) || Indent(lines[start - 1]) >= indent))
        {
            start--;
        }

        for (int j = start; j < lines.Count; j++)
        {
            if (!IsBlankOrComment(lines[j]) && Indent(lines[j]) < indent)
            {
                break;
            }

            if (Indent(lines[j]) == indent && TryKey(lines[j], out _, out string key, out _) && key == name)
            {
                lines.RemoveAt(j);
                return;
            }
        }
    }

    private static bool IsBlankOrComment(string line)
    {
        string t = line.TrimStart();
        return t.Length == 0 || t[0] == '#';
    }

    private static int Indent(string line) => line.Length - line.TrimStart(' ').Length;

    private static bool TryKey(string line, out int indent, out string key, out string rest)
    {
        indent = Indent(line);
        Match m = KeyLine().Match(line);
        key = m.Success ? m.Groups[1].Value.Trim('"', '\'') : string.Empty;
        rest = m.Success ? m.Groups[2].Value.Trim() : string.Empty;
        return m.Success;
    }

    [GeneratedRegex(@"^\s*(?:-\s+)?([A-Za-z0-9_""'-]+)\s*:(?:\s+(.*?))?\s*$")]
    private static partial Regex KeyLine();

    [GeneratedRegex(@"[""']?macaddress[""']?\s*:\s*(?:""[^""]*""|'[^']*'|[^,}\s]+)\s*,?\s*")]
    private static partial Regex FlowMacAddress();

    [GeneratedRegex(@"match\s*:\s*\{([^{}]*)\}\s*,?\s*")]
    private static partial Regex NestedMatch();

    [GeneratedRegex(@"set-name\s*:\s*[^,}]+,?\s*")]
    private static partial Regex SetName();

    [GeneratedRegex(@",\s*\}")]
    private static partial Regex TrailingComma();

    [GeneratedRegex(@"^\{\s*\}")]
    private static partial Regex EmptyFlow();
}
