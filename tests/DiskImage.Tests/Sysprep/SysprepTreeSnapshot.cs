using System.Globalization;
using System.Security.Cryptography;
using DiskImage.FileSystems;

namespace DiskImage.Tests.Sysprep;

/// <summary>
/// Every entry of a file system as "path → type mode uid:gid size content-hash|link-target" (no times, no inode
/// numbers), for comparing two trees after sysprep.
/// </summary>
internal static class SysprepTreeSnapshot
{
    public static SortedDictionary<string, string> Take(IFileSystem fs, Func<string, bool>? skip = null)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        stack.Push("/");
        while (stack.Count > 0)
        {
            string dir = stack.Pop();
            foreach (UnixFileInfo e in fs.EnumerateDirectory(dir))
            {
                string path = dir == "/" ? "/" + e.Name : dir + "/" + e.Name;
                if (skip?.Invoke(path) == true)
                {
                    continue;
                }

                string detail = e.Type switch
                {
                    UnixFileType.RegularFile => Hash(fs, path),
                    UnixFileType.SymbolicLink => "-> " + e.LinkTarget,
                    _ => string.Empty,
                };
                result[path] = string.Create(CultureInfo.InvariantCulture, $"{e.Type} {Convert.ToString((int)e.Mode, 8)} {e.UserId}:{e.GroupId} {(e.IsDirectory ? 0 : e.Size)} {detail}");
                if (e.IsDirectory)
                {
                    stack.Push(path);
                }
            }
        }

        return result;
    }

    private static string Hash(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        return Convert.ToHexString(SHA256.HashData(s))[..16];
    }

    /// <summary>Lines "- path entry" (only in <paramref name="left"/>), "+ path entry" (only in right) and "~ path left | right".</summary>
    public static List<string> Diff(SortedDictionary<string, string> left, SortedDictionary<string, string> right)
    {
        var lines = new List<string>();
        foreach ((string path, string l) in left)
        {
            if (!right.TryGetValue(path, out string? r))
            {
                lines.Add($"- {path} {l}");
            }
            else if (l != r)
            {
                lines.Add($"~ {path} {l} | {r}");
            }
        }

        foreach ((string path, string r) in right)
        {
            if (!left.ContainsKey(path))
            {
                lines.Add($"+ {path} {r}");
            }
        }

        return lines;
    }
}
