using System.Text;

namespace DiskImage.Guests;

/// <summary>Lexical helpers for guest paths.</summary>
internal static class GuestPaths
{
    /// <summary>"///usr//local//" → "/usr/local"; "." components dropped, ".." taken lexically.</summary>
    public static string Canonical(string path)
    {
        var parts = new List<string>();
        foreach (string p in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (p == ".")
            {
                continue;
            }

            if (p == "..")
            {
                if (parts.Count > 0)
                {
                    parts.RemoveAt(parts.Count - 1);
                }

                continue;
            }

            parts.Add(p);
        }

        return Join(parts, parts.Count);
    }

    /// <summary>Joins the first <paramref name="count"/> components into an absolute path.</summary>
    public static string Join(List<string> parts, int count)
    {
        if (count == 0)
        {
            return "/";
        }

        var sb = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            sb.Append('/').Append(parts[i]);
        }

        return sb.ToString();
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="prefix"/> or lies below it (both canonical).</summary>
    public static bool IsAtOrBelow(string path, string prefix) =>
        prefix == "/" || path == prefix || (path.StartsWith(prefix, StringComparison.Ordinal) && path.Length > prefix.Length && path[prefix.Length] == '/');

    /// <summary>The path of <paramref name="path"/> inside a file system mounted at <paramref name="mountPoint"/>.</summary>
    public static string Inner(string path, string mountPoint) =>
        mountPoint == "/" ? path : path.Length == mountPoint.Length ? "/" : path[mountPoint.Length..];
}
