namespace DiskImage.FileSystems;

/// <summary>The argument and tree checks every writable <see cref="IFileSystem"/> makes the same way.</summary>
internal static class FileSystemWriteChecks
{
    /// <summary>Checks <see cref="IFileSystem.CreateDevice"/>'s type and numbers (12-bit major, 20-bit minor).</summary>
    public static void CheckDevice(UnixFileType type, int major, int minor)
    {
        if (type is not (UnixFileType.CharacterDevice or UnixFileType.BlockDevice))
        {
            throw new ArgumentException("The type must be CharacterDevice or BlockDevice.", nameof(type));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(major);
        ArgumentOutOfRangeException.ThrowIfNegative(minor);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(major, 0xFFF);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minor, 0xFFFFF);
    }

    /// <summary>Checks a rename's resolved ends: neither is the root, and the new name is valid.</summary>
    public static void CheckRenameEnds<TNode>(in ResolvedPath<TNode> source, in ResolvedPath<TNode> destination, string destinationPath)
        where TNode : class
    {
        if (source.IsRoot || destination.IsRoot)
        {
            throw new IOException("The root directory cannot be renamed or replaced.");
        }

        FileSystemPath.ValidateNewName(destination.Name, destinationPath);
    }

    /// <summary>
    /// Checks that a rename of a node that is (<paramref name="isDirectory"/>) or is not a directory neither moves
    /// a directory into itself nor replaces an entry of the other kind (<paramref name="replacedIsDirectory"/>,
    /// null when nothing is replaced). Whether a replaced directory is empty is the caller's check.
    /// </summary>
    public static void CheckRenameKinds<TNode>(
        in ResolvedPath<TNode> source,
        in ResolvedPath<TNode> destination,
        bool isDirectory,
        bool? replacedIsDirectory,
        string sourcePath,
        string destinationPath)
        where TNode : class
    {
        if (isDirectory && destination.Path.StartsWith(source.Path + "/", StringComparison.Ordinal))
        {
            throw new IOException($"Cannot move '{sourcePath}' into itself.");
        }

        if (replacedIsDirectory is { } replacedDir && isDirectory != replacedDir)
        {
            throw new IOException(isDirectory ? $"'{destinationPath}' is not a directory." : $"'{destinationPath}' is a directory.");
        }
    }
}
