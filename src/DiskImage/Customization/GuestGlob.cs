using System.Text;
using System.Text.RegularExpressions;
using DiskImage.FileSystems;

namespace DiskImage.Customization;

/// <summary>
/// Expands a glob (<c>*</c>, <c>?</c>, <c>[...]</c> per component, as <c>glob(3)</c>) against the guest tree.
/// A leading dot must be matched explicitly; no match gives no paths.
/// </summary>
internal static class GuestGlob
{
    public static List<string> Expand(GuestTree t, string pattern)
    {
        List<string> parts;
        try
        {
            parts = FileSystemPath.Split(pattern);
        }
        catch (ArgumentException e)
        {
            throw t.Error(e.Message, e);
        }

        var current = new List<string> { "/" };
        for (int i = 0; i < parts.Count; i++)
        {
            string part = parts[i];
            bool last = i == parts.Count - 1;
            var next = new List<string>();
            foreach (string dir in current)
            {
                if (!HasWildcard(part))
                {
                    string candidate = GuestTree.Combine(dir, part);
                    if (Exists(t, candidate, mustBeDirectory: !last))
                    {
                        next.Add(candidate);
                    }

                    continue;
                }

                string resolved = t.Resolve(dir);
                if (t.Stat(resolved) is not { IsDirectory: true })
                {
                    continue;
                }

                Regex regex = ToRegex(part);
                foreach (string name in t.ListNames(resolved))
                {
                    if (regex.IsMatch(name) && (name[0] != '.' || part[0] == '.'))
                    {
                        string candidate = GuestTree.Combine(dir, name);
                        if (last || Exists(t, candidate, mustBeDirectory: true))
                        {
                            next.Add(candidate);
                        }
                    }
                }
            }

            current = next;
        }

        return parts.Count == 0 ? [] : current;
    }

    private static bool Exists(GuestTree t, string path, bool mustBeDirectory)
    {
        try
        {
            UnixFileInfo? e = t.StatPath(path, followFinal: mustBeDirectory);
            return e is not null && (!mustBeDirectory || e.IsDirectory);
        }
        catch (CustomizationException)
        {
            return false;
        }
    }

    private static bool HasWildcard(string s) => s.AsSpan().IndexOfAny("*?[") >= 0;

    private static Regex ToRegex(string glob)
    {
        var sb = new StringBuilder("^");
        for (int i = 0; i < glob.Length; i++)
        {
            char c = glob[i];
            switch (c)
            {
                case '*': sb.Append(".*"); break;
                case '?': sb.Append('.'); break;
                case '[':
                    int end = glob.IndexOf(']', i + 2 <= glob.Length ? i + 2 : i + 1);
                    if (end < 0)
                    {
                        sb.Append(@"\[");
                        break;
                    }

                    string body = glob[(i + 1)..end];
                    bool negate = body.Length > 0 && body[0] is '!' or '^';
                    if (negate)
                    {
                        body = body[1..];
                    }

                    sb.Append('[').Append(negate ? "^" : string.Empty).Append(body.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("[", @"\[", StringComparison.Ordinal)).Append(']');
                    i = end;
                    break;
                case '\\' when i + 1 < glob.Length:
                    sb.Append(Regex.Escape(glob[++i].ToString()));
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }

        return new Regex(sb.Append('$').ToString(), RegexOptions.CultureInvariant | RegexOptions.Singleline);
    }
}
