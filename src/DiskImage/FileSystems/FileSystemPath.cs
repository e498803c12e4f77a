namespace DiskImage.FileSystems;

/// <summary>Splits and validates the absolute '/'-separated paths of <see cref="IFileSystem"/>.</summary>
internal static class FileSystemPath
{
    /// <summary>Maximum symbolic links followed during one lookup (Linux MAXSYMLINKS).</summary>
    public const int MaxSymbolicLinks = 40;

    /// <summary>Validates <paramref name="path"/> and returns its components (without empty and "." parts; ".." kept).</summary>
    public static List<string> Split(string path, string paramName = "path")
    {
        ArgumentException.ThrowIfNullOrEmpty(path, paramName);
        if (path[0] != '/')
        {
            throw new ArgumentException($"The path '{path}' is not absolute (it must start with '/').", paramName);
        }

        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("The path contains a NUL character.", paramName);
        }

        var parts = new List<string>();
        foreach (string p in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (p != ".")
            {
                parts.Add(p);
            }
        }

        return parts;
    }

    /// <summary>Joins a directory path and a name.</summary>
    public static string Combine(string directory, string name) =>
        directory.EndsWith('/') ? directory + name : directory + "/" + name;

    /// <summary>Validates a name for a new entry.</summary>
    public static void ValidateNewName(string name, string path)
    {
        if (name is "." or ".." || name.Length == 0)
        {
            throw new ArgumentException($"'{path}' does not name a new entry.", nameof(path));
        }

        if (UnixPathEncoding.GetByteCount(name) > 255)
        {
            throw new PathTooLongException($"The name '{name}' is longer than 255 bytes.");
        }
    }
}
