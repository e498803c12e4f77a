using DiskImage.FileSystems;
using DiskImage.FileSystems.Host;

namespace DiskImage.Customization;

/// <summary>
/// The file system as the operations see it. In a dry run every change goes to an overlay of planned
/// entries over the untouched file system, so the whole operation list is checked against the state each
/// operation will really find, before the first write; otherwise changes go to the file system. Both
/// record each change made.
/// </summary>
/// <remarks>
/// Paths are resolved here, component by component, following symbolic links inside the file system;
/// a path or link that climbs above the root (<c>..</c> at "/") is refused as escaping the file system.
/// </remarks>
internal sealed partial class GuestTree
{
    private const int MaxTextFile = 64 * 1024 * 1024;

    private readonly IFileSystem _fs;
    private readonly Dictionary<string, OverlayEntry?>? _overlay;
    private readonly List<CustomizationChange> _changes = [];
    private IFileSystem? _host;

    public GuestTree(IFileSystem fileSystem, bool dryRun)
    {
        _fs = fileSystem;
        _overlay = dryRun ? new Dictionary<string, OverlayEntry?>(StringComparer.Ordinal) : null;
    }

    /// <summary>The operation being applied, as written (names errors and changes).</summary>
    public string Operation { get; set; } = string.Empty;

    public bool DryRun => _overlay is not null;

    public List<CustomizationChange> Changes => _changes;

    /// <summary>The host's file system ("/"), for upload and copy-in.</summary>
    public IFileSystem Host
    {
        get
        {
            if (_host is null)
            {
                if (!OperatingSystem.IsLinux())
                {
                    throw new PlatformNotSupportedException("Copying host files into the image needs a Linux host.");
                }

                _host = new HostDirectoryFileSystem("/");
            }

            return _host;
        }
    }

    public CustomizationException Error(string message, Exception? inner = null) => new(Operation, message, inner);

    // ---- paths ----

    /// <summary>Resolves <paramref name="path"/> to its canonical form (no symbolic links, except a final one when not followed).</summary>
    public string Resolve(string path, bool followFinal = true)
    {
        List<string> queue;
        try
        {
            queue = FileSystemPath.Split(path);
        }
        catch (ArgumentException e)
        {
            throw Error(e.Message, e);
        }

        followFinal |= path.Length > 1 && path.EndsWith('/');
        var stack = new List<string>();
        int links = 0;
        int i = 0;
        while (i < queue.Count)
        {
            string c = queue[i];
            bool last = i == queue.Count - 1;
            if (c == "..")
            {
                if (stack.Count == 0)
                {
                    throw Error($"'{path}' escapes the file system (a '..' or symbolic link climbs above '/')");
                }

                stack.RemoveAt(stack.Count - 1);
                i++;
                continue;
            }

            string current = Join(stack, c);
            UnixFileInfo? info = Stat(current);
            if (info is null)
            {
                if (last)
                {
                    return current;
                }

                throw Error($"'{current}' does not exist (resolving '{path}')", new DirectoryNotFoundException(current));
            }

            if (info.Type == UnixFileType.SymbolicLink && (!last || followFinal))
            {
                if (++links > 40)
                {
                    throw Error($"too many levels of symbolic links resolving '{path}'");
                }

                string target = info.LinkTarget ?? string.Empty;
                if (target.Length == 0)
                {
                    throw Error($"the symbolic link '{current}' has an empty target");
                }

                if (target[0] == '/')
                {
                    stack.Clear();
                }

                queue.RemoveAt(i);
                var parts = new List<string>();
                foreach (string p in target.Split('/', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (p != ".")
                    {
                        parts.Add(p);
                    }
                }

                queue.InsertRange(i, parts);
                if (parts.Count == 0 && i >= queue.Count)
                {
                    return Join(stack, null);
                }

                continue;
            }

            if (last)
            {
                return current;
            }

            if (info.Type != UnixFileType.Directory)
            {
                throw Error($"'{current}' is not a directory (resolving '{path}')", new DirectoryNotFoundException(current));
            }

            stack.Add(c);
            i++;
        }

        return Join(stack, null);
    }

    /// <summary>The entry at a canonical path (a final symbolic link not followed), or null.</summary>
    public UnixFileInfo? Stat(string canonical)
    {
        if (_overlay is null)
        {
            return TryGetEntry(_fs, canonical);
        }

        if (_overlay.TryGetValue(canonical, out OverlayEntry? exact))
        {
            return exact?.ToInfo(canonical);
        }

        (IFileSystem? fs, string? path) = Backing(canonical);
        if (fs is null)
        {
            return null;
        }

        UnixFileInfo? info = TryGetEntry(fs, path!);
        return info is null || ReferenceEquals(fs, _fs) && path == canonical ? info : WithPath(info, canonical);
    }

    /// <summary>Resolves and stats in one step; null when the final component, or a directory on the way to it, does not exist.</summary>
    public UnixFileInfo? StatPath(string path, bool followFinal = true)
    {
        string canonical;
        try
        {
            canonical = Resolve(path, followFinal);
        }
        catch (CustomizationException e) when (e.InnerException is DirectoryNotFoundException)
        {
            return null; // a parent is missing (or is no directory): the path names nothing
        }

        return Stat(canonical);
    }

    /// <summary>The names in a directory (canonical path).</summary>
    public List<string> ListNames(string directory)
    {
        var names = new List<string>();
        IFileSystem? fs = _fs;
        string? path = directory;
        if (_overlay is not null)
        {
            if (_overlay.TryGetValue(directory, out OverlayEntry? exact))
            {
                fs = exact?.BackingFileSystem;
                path = exact?.BackingPath;
            }
            else
            {
                (fs, path) = Backing(directory);
            }
        }

        if (fs is not null)
        {
            foreach (UnixFileInfo e in fs.EnumerateDirectory(path!))
            {
                names.Add(e.Name);
            }
        }

        if (_overlay is not null)
        {
            foreach (KeyValuePair<string, OverlayEntry?> kv in _overlay)
            {
                if (Parent(kv.Key) == directory && kv.Key != "/")
                {
                    string name = kv.Key[(kv.Key.LastIndexOf('/') + 1)..];
                    names.Remove(name);
                    if (kv.Value is not null)
                    {
                        names.Add(name);
                    }
                }
            }
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>Every path in the tree under <paramref name="root"/>, itself first (symbolic links not followed).</summary>
    public List<string> EnumerateTree(string root)
    {
        var result = new List<string>();
        var stack = new Stack<string>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            string p = stack.Pop();
            result.Add(p);
            if (Stat(p) is { IsDirectory: true })
            {
                List<string> names = ListNames(p);
                for (int i = names.Count - 1; i >= 0; i--)
                {
                    stack.Push(Combine(p, names[i]));
                }
            }
        }

        return result;
    }

    /// <summary>The whole content of a regular file (canonical path).</summary>
    public byte[] ReadAllBytes(string canonical)
    {
        UnixFileInfo info = Stat(canonical) ?? throw Error($"'{canonical}' does not exist", new FileNotFoundException(canonical));
        if (info.Type != UnixFileType.RegularFile)
        {
            throw Error($"'{canonical}' is not a regular file");
        }

        if (info.Size > MaxTextFile)
        {
            throw Error($"'{canonical}' is larger than {MaxTextFile / (1024 * 1024)} MiB");
        }

        if (_overlay is not null && _overlay.TryGetValue(canonical, out OverlayEntry? e) && e?.Data is { } data)
        {
            return data;
        }

        (IFileSystem? fs, string? path) = _overlay is null ? (_fs, canonical) : BackingOfEntry(canonical);
        using Stream s = fs!.OpenFile(path!, FileMode.Open, FileAccess.Read);
        var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    internal static string Join(List<string> stack, string? last)
    {
        if (stack.Count == 0 && last is null)
        {
            return "/";
        }

        var sb = new System.Text.StringBuilder();
        foreach (string s in stack)
        {
            sb.Append('/').Append(s);
        }

        if (last is not null)
        {
            sb.Append('/').Append(last);
        }

        return sb.ToString();
    }

    internal static string Combine(string directory, string name) => directory == "/" ? "/" + name : directory + "/" + name;

    internal static string? Parent(string path)
    {
        if (path == "/")
        {
            return null;
        }

        int slash = path.LastIndexOf('/');
        return slash <= 0 ? "/" : path[..slash];
    }

    internal static string BaseName(string path) => path == "/" ? "/" : path[(path.LastIndexOf('/') + 1)..];

    private static UnixFileInfo? TryGetEntry(IFileSystem fs, string path)
    {
        try
        {
            return fs.GetEntry(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    private static UnixFileInfo WithPath(UnixFileInfo i, string path) => new()
    {
        Path = path,
        Type = i.Type,
        Mode = i.Mode,
        UserId = i.UserId,
        GroupId = i.GroupId,
        Size = i.Size,
        LinkCount = i.LinkCount,
        Inode = i.Inode,
        AccessTime = i.AccessTime,
        ModificationTime = i.ModificationTime,
        ChangeTime = i.ChangeTime,
        CreationTime = i.CreationTime,
        DeviceMajor = i.DeviceMajor,
        DeviceMinor = i.DeviceMinor,
        LinkTarget = i.LinkTarget,
    };

    /// <summary>Where a path not itself in the overlay lives: the file system and path, or (null, null) when a planned ancestor hides it.</summary>
    private (IFileSystem? Fs, string? Path) Backing(string canonical)
    {
        for (string? anc = Parent(canonical); anc is not null; anc = Parent(anc))
        {
            if (_overlay!.TryGetValue(anc, out OverlayEntry? a))
            {
                if (a?.BackingFileSystem is null)
                {
                    return (null, null);
                }

                string rest = anc == "/" ? canonical : canonical[anc.Length..];
                return (a.BackingFileSystem, a.BackingPath == "/" ? rest : a.BackingPath + rest);
            }
        }

        return (_fs, canonical);
    }

    private (IFileSystem? Fs, string? Path) BackingOfEntry(string canonical) =>
        _overlay!.TryGetValue(canonical, out OverlayEntry? e) ? (e?.BackingFileSystem, e?.BackingPath) : Backing(canonical);
}
