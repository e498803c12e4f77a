using DiskImage.FileSystems;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// The entries of a ramdisk being assembled from a guest file system: guest paths are resolved one
/// component at a time inside the guest (absolute link targets start at the guest's root, <c>..</c>
/// stops at it), and every directory and symbolic link met on the way is added at its guest path, so
/// <c>/bin/bash</c> of a merged-/usr guest brings <c>bin -&gt; usr/bin</c> and <c>usr/bin/bash</c>.
/// Nothing outside the guest is reached.
/// </summary>
internal sealed class GuestRamdiskTree : ICpioTreeSource
{
    private const int MaxSymlinkHops = 40;

    private readonly IFileSystem _guest;
    private readonly long _mtime;
    private readonly Dictionary<string, CpioTreeItem> _items = new(StringComparer.Ordinal);

    public GuestRamdiskTree(IFileSystem guest, long mtime)
    {
        _guest = guest;
        _mtime = mtime;
    }

    /// <summary>The guest file system.</summary>
    public IFileSystem Guest => _guest;

    /// <summary>Whether the ramdisk holds <paramref name="path"/> (ramdisk path, no leading slash).</summary>
    public bool Contains(string path) => _items.ContainsKey(path);

    /// <summary>The entries, in no particular order (the archive builder sorts them).</summary>
    public IEnumerable<CpioTreeItem> EnumerateItems()
    {
        // The root (written as "."), so the kernel gives the unpacked root mode 0755 and the fixed time.
        yield return new CpioTreeItem(".", CpioEntryType.Directory) { Mode = (UnixFileMode)0x1ED, ModificationTimeSeconds = _mtime };
        foreach (CpioTreeItem item in _items.Values)
        {
            yield return item;
        }
    }

    /// <summary>
    /// Adds the guest object at <paramref name="guestPath"/> with every directory and symbolic link on the way to it
    /// (a final symbolic link is followed unless <paramref name="followFinal"/> is false) and returns the
    /// resolved guest path (no symbolic links in it) and its entry.
    /// </summary>
    /// <exception cref="FileNotFoundException">A component does not exist in the guest.</exception>
    /// <exception cref="IOException">Too many symbolic links.</exception>
    public (string Path, UnixFileInfo Info) AddGuestPath(string guestPath, bool followFinal = true)
    {
        (string resolved, UnixFileInfo info) = Resolve(guestPath, followFinal, add: true);
        AddEntry(resolved, info);
        return (resolved, info);
    }

    /// <summary>Resolves <paramref name="guestPath"/> inside the guest without adding anything; null when it does not exist.</summary>
    public (string Path, UnixFileInfo Info)? TryResolve(string guestPath)
    {
        try
        {
            return Resolve(guestPath, followFinal: true, add: false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return null;
        }
    }

    /// <summary>Adds the guest directory <paramref name="guestPath"/> and everything below it (symbolic links inside are kept, not followed).</summary>
    public void AddGuestTree(string guestPath, CancellationToken cancellationToken)
    {
        (string root, UnixFileInfo info) = AddGuestPath(guestPath);
        if (!info.IsDirectory)
        {
            return;
        }

        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string dir = pending.Pop();
            foreach (UnixFileInfo child in _guest.EnumerateDirectory(dir.Length == 0 ? "/" : "/" + dir))
            {
                string path = dir.Length == 0 ? child.Name : dir + "/" + child.Name;
                AddEntry(path, child);
                if (child.IsDirectory)
                {
                    pending.Push(path);
                }
            }
        }
    }

    /// <summary>Adds (or replaces) a regular file at the ramdisk path <paramref name="path"/>.</summary>
    public void AddFile(string path, UnixFileMode mode, long length, Func<Stream> open)
    {
        string at = ResolveRamdiskParent(path);
        _items[at] = new CpioTreeItem(at, CpioEntryType.RegularFile) { Mode = mode, Length = length, OpenData = open, ModificationTimeSeconds = _mtime };
    }

    /// <summary>Adds an item made elsewhere (host trees), its path resolved through the ramdisk's symbolic links.</summary>
    public void AddItem(string path, CpioTreeItem template)
    {
        string at = ResolveRamdiskParent(path);
        if (template.EntryType == CpioEntryType.Directory && _items.TryGetValue(at, out CpioTreeItem? existing) && existing.EntryType == CpioEntryType.Directory)
        {
            return;
        }

        _items[at] = new CpioTreeItem(at, template.EntryType)
        {
            Mode = template.Mode,
            Length = template.Length,
            LinkTarget = template.LinkTarget,
            RDevMajor = template.RDevMajor,
            RDevMinor = template.RDevMinor,
            HardLinkKey = template.HardLinkKey,
            OpenData = template.OpenData,
            ModificationTimeSeconds = _mtime,
        };
    }

    /// <summary>Adds a directory unless something is already there.</summary>
    public void EnsureDirectory(string path, UnixFileMode mode)
    {
        string at = ResolveRamdiskParent(path);
        _items.TryAdd(at, new CpioTreeItem(at, CpioEntryType.Directory) { Mode = mode, ModificationTimeSeconds = _mtime });
    }

    /// <summary>Adds a device node unless something is already there.</summary>
    public void EnsureDevice(string path, CpioEntryType type, uint major, uint minor, UnixFileMode mode)
    {
        string at = ResolveRamdiskParent(path);
        _items.TryAdd(at, new CpioTreeItem(at, type) { Mode = mode, RDevMajor = major, RDevMinor = minor, ModificationTimeSeconds = _mtime });
    }

    /// <summary>
    /// The ramdisk path where <paramref name="path"/> lands once the symbolic links already in the ramdisk are followed
    /// for its directories (so <c>lib/modules/x</c> is written as <c>usr/lib/modules/x</c> when <c>lib -&gt; usr/lib</c>).
    /// </summary>
    public string ResolveRamdiskParent(string path)
    {
        var remaining = new List<string>(Split(path));
        if (remaining.Count == 0)
        {
            throw new ArgumentException($"'{path}' names the root of the ramdisk.", nameof(path));
        }

        string last = remaining[^1];
        remaining.RemoveAt(remaining.Count - 1);
        var resolved = new List<string>();
        int hops = 0;
        for (int i = 0; i < remaining.Count; i++)
        {
            string name = remaining[i];
            if (name == "..")
            {
                if (resolved.Count > 0)
                {
                    resolved.RemoveAt(resolved.Count - 1);
                }

                continue;
            }

            resolved.Add(name);
            if (_items.TryGetValue(string.Join('/', resolved), out CpioTreeItem? item) && item.EntryType == CpioEntryType.SymbolicLink && item.LinkTarget is { } target)
            {
                if (++hops > MaxSymlinkHops)
                {
                    throw new IOException($"Too many symbolic links in the ramdisk path '{path}'.");
                }

                resolved.RemoveAt(resolved.Count - 1);
                if (target.StartsWith('/'))
                {
                    resolved.Clear();
                }

                remaining.InsertRange(i + 1, Split(target));
            }
        }

        if (last == "..")
        {
            throw new ArgumentException($"Ramdisk path '{path}' ends in '..'.", nameof(path));
        }

        resolved.Add(last);
        return string.Join('/', resolved);
    }

    private (string Path, UnixFileInfo Info) Resolve(string guestPath, bool followFinal, bool add)
    {
        if (!guestPath.StartsWith('/'))
        {
            throw new ArgumentException($"Guest path '{guestPath}' is not absolute.", nameof(guestPath));
        }

        var remaining = new List<string>(Split(guestPath));
        var resolved = new List<string>();
        UnixFileInfo? info = null;
        int hops = 0;
        for (int i = 0; i < remaining.Count; i++)
        {
            string name = remaining[i];
            if (name == "..")
            {
                if (resolved.Count > 0)
                {
                    resolved.RemoveAt(resolved.Count - 1);
                }

                info = null;
                continue;
            }

            resolved.Add(name);
            string path = string.Join('/', resolved);
            try
            {
                info = _guest.GetEntry("/" + path);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                throw new FileNotFoundException($"'{guestPath}' is not in the guest (no '/{path}').", guestPath, e);
            }

            bool isLast = i == remaining.Count - 1;
            if (info.Type == UnixFileType.SymbolicLink && (!isLast || followFinal))
            {
                if (add)
                {
                    AddEntry(path, info);
                }

                if (++hops > MaxSymlinkHops)
                {
                    throw new IOException($"Too many symbolic links resolving '{guestPath}' in the guest.");
                }

                string target = info.LinkTarget ?? throw new InvalidDataException($"Symbolic link '/{path}' has no target.");
                resolved.RemoveAt(resolved.Count - 1);
                if (target.StartsWith('/'))
                {
                    resolved.Clear();
                }

                remaining.InsertRange(i + 1, Split(target));
                info = null;
                continue;
            }

            if (!isLast && info.Type != UnixFileType.Directory)
            {
                throw new DirectoryNotFoundException($"'/{path}' is not a directory (resolving '{guestPath}' in the guest).");
            }

            if (add && !isLast)
            {
                AddEntry(path, info);
            }
        }

        if (resolved.Count == 0)
        {
            return (string.Empty, info ?? _guest.GetEntry("/"));
        }

        return (string.Join('/', resolved), info ?? _guest.GetEntry("/" + string.Join('/', resolved)));
    }

    private void AddEntry(string path, UnixFileInfo info)
    {
        if (path.Length == 0)
        {
            return;
        }

        if (_items.TryGetValue(path, out CpioTreeItem? existing) && (existing.EntryType != CpioEntryType.Directory || info.IsDirectory))
        {
            return;
        }

        CpioTreeItem item;
        string guestPath = "/" + path;
        switch (info.Type)
        {
            case UnixFileType.Directory:
                item = new CpioTreeItem(path, CpioEntryType.Directory);
                break;
            case UnixFileType.SymbolicLink:
                item = new CpioTreeItem(path, CpioEntryType.SymbolicLink) { LinkTarget = info.LinkTarget ?? _guest.GetEntry(guestPath).LinkTarget };
                break;
            case UnixFileType.RegularFile:
                IFileSystem guest = _guest;
                item = new CpioTreeItem(path, CpioEntryType.RegularFile)
                {
                    Length = info.Size,
                    OpenData = () => guest.OpenFile(guestPath, FileMode.Open, FileAccess.Read),
                    HardLinkKey = info.LinkCount > 1 ? info.Inode : null,
                };
                break;
            case UnixFileType.CharacterDevice:
                item = new CpioTreeItem(path, CpioEntryType.CharacterDevice) { RDevMajor = (uint)info.DeviceMajor, RDevMinor = (uint)info.DeviceMinor };
                break;
            case UnixFileType.BlockDevice:
                item = new CpioTreeItem(path, CpioEntryType.BlockDevice) { RDevMajor = (uint)info.DeviceMajor, RDevMinor = (uint)info.DeviceMinor };
                break;
            case UnixFileType.Fifo:
                item = new CpioTreeItem(path, CpioEntryType.Fifo);
                break;
            case UnixFileType.Socket:
                item = new CpioTreeItem(path, CpioEntryType.Socket);
                break;
            default:
                throw new NotSupportedException($"Guest entry '{guestPath}' has an unknown type.");
        }

        item.Mode = info.Mode & (UnixFileMode)0xFFF;
        item.ModificationTimeSeconds = _mtime;
        _items[path] = item;
    }

    private static string[] Split(string path) =>
        path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(static p => p != ".").ToArray();
}
