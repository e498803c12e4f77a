namespace DiskImage.FileSystems;

/// <summary>How an implementation exposes its directory tree to <see cref="PathResolver"/>.</summary>
/// <typeparam name="TNode">The implementation's handle for one entry.</typeparam>
internal interface IPathWalker<TNode>
    where TNode : class
{
    /// <summary>The root directory.</summary>
    TNode Root { get; }

    /// <summary>Looks <paramref name="name"/> up in <paramref name="directory"/>; null when absent.</summary>
    TNode? Lookup(TNode directory, string name);

    /// <summary>Whether the node is a directory.</summary>
    bool IsDirectory(TNode node);

    /// <summary>The target of a symbolic link, or null when the node is not one.</summary>
    string? GetSymbolicLinkTarget(TNode node);
}

/// <summary>The outcome of resolving a path: its parent directory, final name, and the node (null when absent).</summary>
internal readonly record struct ResolvedPath<TNode>(TNode Parent, string Name, TNode? Node, string Path)
    where TNode : class
{
    /// <summary>Whether the path names the root directory.</summary>
    public bool IsRoot => Name.Length == 0;
}

/// <summary>Resolves <see cref="IFileSystem"/> paths over any directory tree, following symbolic links inside it.</summary>
internal static class PathResolver
{
    /// <summary>
    /// Resolves <paramref name="path"/>. A missing final component gives a null node; a missing or
    /// non-directory intermediate component throws <see cref="DirectoryNotFoundException"/>.
    /// </summary>
    public static ResolvedPath<TNode> Resolve<TNode>(IPathWalker<TNode> walker, string path, bool followFinal)
        where TNode : class
    {
        List<string> queue = FileSystemPath.Split(path);

        // "dir/link/" and "dir/link/." name the link's target, as on Linux.
        followFinal |= path.Length > 1 && (path.EndsWith('/') || path.EndsWith("/.", StringComparison.Ordinal));
        var stack = new List<TNode> { walker.Root };
        var names = new List<string> { string.Empty };
        int links = 0;
        int i = 0;
        while (i < queue.Count)
        {
            string c = queue[i];
            bool isLast = i == queue.Count - 1;
            TNode dir = stack[^1];
            if (c == "..")
            {
                if (stack.Count > 1)
                {
                    stack.RemoveAt(stack.Count - 1);
                    names.RemoveAt(names.Count - 1);
                }

                i++;
                continue;
            }

            TNode? child = walker.Lookup(dir, c);
            string currentPath = BuildPath(names, c);
            if (child is null)
            {
                if (isLast)
                {
                    return new ResolvedPath<TNode>(dir, c, null, currentPath);
                }

                throw new DirectoryNotFoundException($"Could not find a part of the path '{path}' ('{currentPath}' does not exist).");
            }

            string? target = walker.GetSymbolicLinkTarget(child);
            if (target is not null && (!isLast || followFinal))
            {
                if (++links > FileSystemPath.MaxSymbolicLinks)
                {
                    throw new IOException($"Too many levels of symbolic links while resolving '{path}'.");
                }

                if (target.Length == 0)
                {
                    throw new FileNotFoundException($"The symbolic link '{currentPath}' has an empty target.", path);
                }

                if (target[0] == '/')
                {
                    stack.RemoveRange(1, stack.Count - 1);
                    names.RemoveRange(1, names.Count - 1);
                }

                queue.RemoveAt(i);
                queue.InsertRange(i, FileSystemPath.Split("/" + target));
                continue;
            }

            if (isLast)
            {
                return new ResolvedPath<TNode>(dir, c, child, currentPath);
            }

            if (!walker.IsDirectory(child))
            {
                throw new DirectoryNotFoundException($"Could not find a part of the path '{path}' ('{currentPath}' is not a directory).");
            }

            stack.Add(child);
            names.Add(c);
            i++;
        }

        // The path ended at a directory reached by "..", a symbolic link, or it is the root.
        TNode node = stack[^1];
        if (stack.Count == 1)
        {
            return new ResolvedPath<TNode>(node, string.Empty, node, "/");
        }

        string last = names[^1];
        names.RemoveAt(names.Count - 1);
        return new ResolvedPath<TNode>(stack[^2], last, node, BuildPath(names, last));
    }

    /// <summary>Resolves a path that must exist.</summary>
    public static ResolvedPath<TNode> ResolveExisting<TNode>(IPathWalker<TNode> walker, string path, bool followFinal)
        where TNode : class
    {
        ResolvedPath<TNode> r = Resolve(walker, path, followFinal);
        return r.Node is null ? throw new FileNotFoundException($"Could not find '{path}'.", path) : r;
    }

    private static string BuildPath(List<string> names, string last)
    {
        var sb = new System.Text.StringBuilder();
        for (int i = 1; i < names.Count; i++)
        {
            sb.Append('/').Append(names[i]);
        }

        return sb.Append('/').Append(last).ToString();
    }

    /// <summary>Checks a <see cref="FileMode"/>/<see cref="FileAccess"/> pair the way <see cref="FileStream"/> does.</summary>
    public static void ValidateOpen(FileMode mode, FileAccess access, bool readOnly)
    {
        if (mode is < FileMode.CreateNew or > FileMode.Append)
        {
            throw new ArgumentOutOfRangeException(nameof(mode));
        }

        if (access is < FileAccess.Read or > FileAccess.ReadWrite)
        {
            throw new ArgumentOutOfRangeException(nameof(access));
        }

        if ((access & FileAccess.Write) == 0 && mode is FileMode.Create or FileMode.CreateNew or FileMode.Truncate or FileMode.Append)
        {
            throw new ArgumentException($"FileMode.{mode} requires write access.", nameof(access));
        }

        if (mode == FileMode.Append && (access & FileAccess.Read) != 0)
        {
            throw new ArgumentException("FileMode.Append can only be used with FileAccess.Write.", nameof(access));
        }

        if (readOnly && (access != FileAccess.Read || mode != FileMode.Open))
        {
            ThrowReadOnly();
        }
    }

    /// <summary>Throws the exception for a change to a read-only file system.</summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void ThrowReadOnly() => throw new NotSupportedException("The file system is open read-only.");
}
