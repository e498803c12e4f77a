using DiskImage.FileSystems;

namespace DiskImage.Sysprep;

/// <summary>
/// The file operations sysprep operations are made of (glob, rm, rm -rf, in-place rewrite, touch, create), each
/// recorded as a <see cref="SysprepChange"/>. In a dry run nothing is written: removed entries are hidden from later
/// lookups and rewritten contents are remembered, so later operations see the tree as the real run would.
/// </summary>
internal sealed class SysprepContext
{
    private const long MaxRewriteBytes = 16 * 1024 * 1024;

    private readonly List<SysprepChange> _changes = [];
    private readonly List<string> _notes = [];
    private readonly HashSet<(long Directory, string Name)> _hidden = [];
    private readonly HashSet<long> _hiddenDirectories = [];
    private readonly Dictionary<string, byte[]> _pendingContent = new(StringComparer.Ordinal);
    private readonly HashSet<string> _plannedDirectories = new(StringComparer.Ordinal);
    private readonly HashSet<string> _plannedNames = new(StringComparer.Ordinal);

    public SysprepContext(IFileSystem fileSystem, SysprepGuest guest, SysprepOptions options, bool dryRun)
    {
        FileSystem = fileSystem;
        Guest = guest;
        Options = options;
        DryRun = dryRun;
    }

    public IFileSystem FileSystem { get; }

    public SysprepGuest Guest { get; }

    public SysprepOptions Options { get; }

    public bool DryRun { get; }

    /// <summary>The operation being applied (its name goes into every change).</summary>
    public string Operation { get; set; } = string.Empty;

    public IReadOnlyList<SysprepChange> Changes => _changes;

    public IReadOnlyList<string> Notes => _notes;

    /// <summary>Adds a note for the caller (deduplicated).</summary>
    public void Note(string note)
    {
        string text = $"{Operation}: {note}";
        if (!_notes.Contains(text))
        {
            _notes.Add(text);
        }
    }

    /// <summary>The entry at <paramref name="path"/> (lstat, or stat when <paramref name="followFinal"/>), or null when it does not exist.</summary>
    public UnixFileInfo? Lookup(string path, bool followFinal = false) => Resolve(path, followFinal)?.Entry;

    /// <summary>Whether <paramref name="path"/> is a regular file (a symbolic link is not).</summary>
    public bool IsRegularFile(string path) => Lookup(path)?.Type == UnixFileType.RegularFile;

    /// <summary>Whether <paramref name="path"/> is a directory (a symbolic link is not).</summary>
    public bool IsDirectory(string path) => Lookup(path)?.Type == UnixFileType.Directory;

    /// <summary>
    /// Expands a glob(3) pattern ('*', '?', '[...]' per component; a leading '.' only matched literally) into the
    /// existing paths it names, sorted per directory. Intermediate symbolic links to directories are followed.
    /// </summary>
    public List<string> Glob(string pattern)
    {
        List<string> parts = FileSystemPath.Split(pattern);
        var results = new List<string>();
        if (parts.Count == 0)
        {
            results.Add("/");
            return results;
        }

        Expand(parts, 0, "/", results);
        return results;
    }

    private void Expand(List<string> parts, int index, string directory, List<string> results)
    {
        string component = parts[index];
        bool last = index == parts.Count - 1;
        var names = new List<string>();
        if (!Fnmatch.HasWildcard(component))
        {
            names.Add(component);
        }
        else
        {
            Resolved? dir = Resolve(directory, followFinal: true);
            if (dir is null || dir.Entry.Type != UnixFileType.Directory)
            {
                return;
            }

            foreach (UnixFileInfo child in FileSystem.EnumerateDirectory(dir.CanonicalPath))
            {
                if (Fnmatch.IsMatch(component, child.Name) && !_hidden.Contains((dir.Entry.Inode, child.Name)))
                {
                    names.Add(child.Name);
                }
            }

            names.Sort(StringComparer.Ordinal);
        }

        foreach (string name in names)
        {
            string path = FileSystemPath.Combine(directory, name);
            if (last)
            {
                if (Resolve(path, followFinal: false) is not null)
                {
                    results.Add(path);
                }
            }
            else if (Resolve(path, followFinal: true) is { Entry.Type: UnixFileType.Directory })
            {
                Expand(parts, index + 1, path, results);
            }
        }
    }

    /// <summary><c>rm</c>: removes a non-directory entry (a symbolic link itself); false when absent or a directory.</summary>
    public bool RemoveFile(string path)
    {
        Resolved? r = Resolve(path, followFinal: false);
        if (r is null || r.Entry.Type == UnixFileType.Directory || r.CanonicalPath == "/")
        {
            return false;
        }

        DeleteEntry(r.ParentInode, r.Entry, r.CanonicalPath, path);
        return true;
    }

    /// <summary><c>rm -rf</c>: removes an entry and, for a directory, everything below it (links are not followed).</summary>
    public void RemoveTree(string path)
    {
        Resolved? r = Resolve(path, followFinal: false);
        if (r is null || r.CanonicalPath == "/")
        {
            return;
        }

        if (r.Entry.Type == UnixFileType.Directory)
        {
            RemoveChildren(r.Entry, r.CanonicalPath, path, regularFilesOnly: false, keep: null);
        }

        DeleteEntry(r.ParentInode, r.Entry, r.CanonicalPath, path);
    }

    /// <summary>
    /// Removes every regular file below the directory <paramref name="path"/> (not following links, keeping
    /// directories, links and other types), except those <paramref name="keep"/> accepts.
    /// </summary>
    public void RemoveRegularFilesUnder(string path, Func<string, bool>? keep = null)
    {
        Resolved? r = Resolve(path, followFinal: false);
        if (r is null || r.Entry.Type != UnixFileType.Directory)
        {
            return;
        }

        RemoveChildren(r.Entry, r.CanonicalPath, path.TrimEnd('/'), regularFilesOnly: true, keep);
    }

    /// <summary>Removes the children of a directory depth-first with an explicit stack (trees of any depth).</summary>
    private void RemoveChildren(UnixFileInfo directory, string canonical, string display, bool regularFilesOnly, Func<string, bool>? keep)
    {
        // Frames: a directory whose children are listed; a directory is deleted after its children.
        var stack = new Stack<(UnixFileInfo Dir, string Canonical, string Display, long Parent, bool Expanded)>();
        stack.Push((directory, canonical, display.Length == 0 ? "/" : display, -1, false));
        while (stack.Count > 0)
        {
            var frame = stack.Pop();
            if (frame.Expanded)
            {
                // Directories are kept when only regular files go.
                if (!regularFilesOnly || frame.Dir.Type != UnixFileType.Directory)
                {
                    DeleteEntry(frame.Parent, frame.Dir, frame.Canonical, frame.Display);
                }

                continue;
            }

            if (frame.Parent >= 0)
            {
                stack.Push(frame with { Expanded = true });
            }

            var children = new List<UnixFileInfo>(FileSystem.EnumerateDirectory(frame.Canonical));
            children.Sort((a, b) => string.CompareOrdinal(b.Name, a.Name));
            foreach (UnixFileInfo child in children)
            {
                if (_hidden.Contains((frame.Dir.Inode, child.Name)))
                {
                    continue;
                }

                string childCanonical = FileSystemPath.Combine(frame.Canonical, child.Name);
                string childDisplay = FileSystemPath.Combine(frame.Display, child.Name);
                if (child.Type == UnixFileType.Directory)
                {
                    if (!_hiddenDirectories.Contains(child.Inode))
                    {
                        stack.Push((child, childCanonical, childDisplay, frame.Dir.Inode, false));
                    }
                }
                else if (!regularFilesOnly || (child.Type == UnixFileType.RegularFile && (keep is null || !keep(childDisplay))))
                {
                    // Delete files now, in reverse-sorted order, so each directory's entries come out sorted.
                    stack.Push((child, childCanonical, childDisplay, frame.Dir.Inode, true));
                }
            }
        }
    }

    private void DeleteEntry(long parentInode, UnixFileInfo entry, string canonical, string display)
    {
        if (DryRun)
        {
            _hidden.Add((parentInode, entry.Name));
            if (entry.Type == UnixFileType.Directory)
            {
                _hiddenDirectories.Add(entry.Inode);
            }
        }
        else
        {
            FileSystem.Delete(canonical);
        }

        _changes.Add(new SysprepChange(Operation, SysprepChangeKind.Deleted, display));
    }

    /// <summary>The content of the regular file at <paramref name="path"/> (following links), or null when it is not one.</summary>
    public byte[]? ReadFile(string path)
    {
        Resolved? r = Resolve(path, followFinal: true);
        if (r is null || r.Entry.Type != UnixFileType.RegularFile)
        {
            return null;
        }

        if (_pendingContent.TryGetValue(r.CanonicalPath, out byte[]? pending))
        {
            return pending;
        }

        if (r.Entry.Size > MaxRewriteBytes)
        {
            throw new InvalidDataException($"{path} is {r.Entry.Size} bytes; configuration files over {MaxRewriteBytes} bytes are not edited.");
        }

        using Stream stream = FileSystem.OpenFile(r.CanonicalPath, FileMode.Open, FileAccess.Read);
        var buffer = new byte[stream.Length];
        stream.ReadExactly(buffer);
        return buffer;
    }

    /// <summary>
    /// Replaces the content of the regular file at <paramref name="path"/> (following links) in place, keeping its
    /// inode, owner, mode and xattrs; nothing is written or recorded when the content is already <paramref name="content"/>.
    /// </summary>
    public void Rewrite(string path, byte[] content)
    {
        byte[]? old = ReadFile(path);
        if (old is null || old.AsSpan().SequenceEqual(content))
        {
            return;
        }

        string canonical = Resolve(path, followFinal: true)!.CanonicalPath;
        if (DryRun)
        {
            _pendingContent[canonical] = content;
        }
        else
        {
            using Stream stream = FileSystem.OpenFile(canonical, FileMode.Truncate, FileAccess.Write);
            stream.Write(content);
        }

        _changes.Add(new SysprepChange(Operation, SysprepChangeKind.Rewritten, canonical));
    }

    /// <summary>
    /// <c>mv</c> within a directory: gives the entry at <paramref name="path"/> (not following a final link) the name
    /// <paramref name="newName"/> in the same directory, keeping its inode (owner, mode, xattrs). Recorded as the old
    /// path deleted and the new one created. False when the entry is absent or the new name is taken.
    /// </summary>
    public bool Rename(string path, string newName)
    {
        Resolved? r = Resolve(path, followFinal: false);
        if (r is null || r.CanonicalPath == "/" || newName.Length == 0 || newName.Contains('/', StringComparison.Ordinal))
        {
            return false;
        }

        int slash = r.CanonicalPath.LastIndexOf('/');
        string target = FileSystemPath.Combine(slash <= 0 ? "/" : r.CanonicalPath[..slash], newName);
        if (Resolve(target, followFinal: false) is not null || _plannedNames.Contains(target))
        {
            return false;
        }

        if (DryRun)
        {
            _hidden.Add((r.ParentInode, r.Entry.Name));
            _plannedNames.Add(target);
        }
        else
        {
            FileSystem.Rename(r.CanonicalPath, target);
        }

        _changes.Add(new SysprepChange(Operation, SysprepChangeKind.Deleted, r.CanonicalPath));
        _changes.Add(new SysprepChange(Operation, SysprepChangeKind.Created, target));
        return true;
    }

    /// <summary>
    /// <c>touch</c>: creates an empty file (mode 0644, root) when <paramref name="path"/> does not exist and its
    /// directory does; false when it could not be created.
    /// </summary>
    public bool Touch(string path)
    {
        if (Lookup(path, followFinal: true) is not null)
        {
            return true;
        }

        return CreateFile(path, [], UnixFileModeBits.File);
    }

    /// <summary>Creates a new regular file owned by root with <paramref name="mode"/>; false when its directory does not exist or the name is taken.</summary>
    public bool CreateFile(string path, byte[] content, UnixFileMode mode)
    {
        if (!CanCreate(path, out string canonical))
        {
            return false;
        }

        if (!DryRun)
        {
            using (Stream stream = FileSystem.OpenFile(canonical, FileMode.CreateNew, FileAccess.Write))
            {
                stream.Write(content);
            }

            FileSystem.SetMode(canonical, mode);
            FileSystem.SetOwner(canonical, 0, 0);
        }

        _changes.Add(new SysprepChange(Operation, SysprepChangeKind.Created, canonical));
        return true;
    }

    /// <summary>Creates a directory owned by root; false when its parent does not exist or the name is taken.</summary>
    public bool CreateDirectory(string path, UnixFileMode mode)
    {
        if (!CanCreate(path, out string canonical))
        {
            return false;
        }

        if (DryRun)
        {
            _plannedDirectories.Add(canonical);
        }
        else
        {
            FileSystem.CreateDirectory(canonical, mode);
            FileSystem.SetOwner(canonical, 0, 0);
        }

        _changes.Add(new SysprepChange(Operation, SysprepChangeKind.Created, canonical));
        return true;
    }

    /// <summary>Creates a symbolic link owned by root; false when its directory does not exist or the name is taken.</summary>
    public bool CreateSymbolicLink(string path, string target)
    {
        if (!CanCreate(path, out string canonical))
        {
            return false;
        }

        if (!DryRun)
        {
            FileSystem.CreateSymbolicLink(canonical, target);
            FileSystem.SetOwner(canonical, 0, 0);
        }

        _changes.Add(new SysprepChange(Operation, SysprepChangeKind.Created, canonical));
        return true;
    }

    private bool CanCreate(string path, out string canonical)
    {
        canonical = string.Empty;
        int slash = path.LastIndexOf('/');
        string parent = slash <= 0 ? "/" : path[..slash];
        string name = path[(slash + 1)..];
        if (name.Length == 0)
        {
            return false;
        }

        if (_plannedDirectories.Contains(parent))
        {
            // A dry run's directory that the real run would have created.
            canonical = FileSystemPath.Combine(parent, name);
            return true;
        }

        Resolved? dir = Resolve(parent, followFinal: true);
        if (dir is null || dir.Entry.Type != UnixFileType.Directory)
        {
            return false;
        }

        canonical = FileSystemPath.Combine(dir.CanonicalPath, name);
        if (Resolve(canonical, followFinal: false) is not null)
        {
            return false;
        }

        // In a dry run an entry hidden by an earlier removal still exists on disk: creating it is fine then.
        return DryRun || !FileSystem.Exists(canonical);
    }

    /// <summary>
    /// Walks <paramref name="path"/> component by component, following intermediate symbolic links (and the final
    /// one when asked) inside the file system, and honouring dry-run removals. Null when it does not exist.
    /// </summary>
    private Resolved? Resolve(string path, bool followFinal)
    {
        var pending = new List<string>(FileSystemPath.Split(path));
        pending.Reverse();
        var stack = new List<UnixFileInfo>();
        UnixFileInfo root = FileSystem.GetEntry("/");
        stack.Add(root);
        int links = 0;
        while (pending.Count > 0)
        {
            string name = pending[^1];
            pending.RemoveAt(pending.Count - 1);
            if (name == "..")
            {
                if (stack.Count > 1)
                {
                    stack.RemoveAt(stack.Count - 1);
                }

                if (pending.Count == 0)
                {
                    return new Resolved(stack[^1], stack.Count > 1 ? stack[^2].Inode : root.Inode, stack[^1].Path);
                }

                continue;
            }

            UnixFileInfo dir = stack[^1];
            if (_hidden.Contains((dir.Inode, name)))
            {
                return null;
            }

            string childPath = FileSystemPath.Combine(dir.Path, name);
            UnixFileInfo child;
            try
            {
                child = FileSystem.GetEntry(childPath);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                return null;
            }

            bool isLast = pending.Count == 0;
            if (child.Type == UnixFileType.SymbolicLink && (!isLast || followFinal))
            {
                if (++links > FileSystemPath.MaxSymbolicLinks)
                {
                    return null;
                }

                string target = child.LinkTarget ?? string.Empty;
                if (target.Length == 0)
                {
                    return null;
                }

                List<string> targetParts = FileSystemPath.Split(target[0] == '/' ? target : "/" + target);
                for (int i = targetParts.Count - 1; i >= 0; i--)
                {
                    pending.Add(targetParts[i]);
                }

                if (target[0] == '/')
                {
                    stack.RemoveRange(1, stack.Count - 1);
                }

                if (pending.Count == 0)
                {
                    // A link to "/" (or to its own directory with "."): the directory it names.
                    return new Resolved(stack[^1], stack.Count > 1 ? stack[^2].Inode : root.Inode, stack[^1].Path);
                }

                continue;
            }

            if (isLast)
            {
                return new Resolved(child, dir.Inode, childPath);
            }

            if (child.Type != UnixFileType.Directory || _hiddenDirectories.Contains(child.Inode))
            {
                return null;
            }

            stack.Add(child);
        }

        return new Resolved(root, root.Inode, "/");
    }

    private sealed record Resolved(UnixFileInfo Entry, long ParentInode, string CanonicalPath);
}
