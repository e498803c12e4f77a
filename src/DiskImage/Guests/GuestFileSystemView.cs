using DiskImage.FileSystems;

namespace DiskImage.Guests;

/// <summary>
/// One <see cref="IFileSystem"/> over several mounted file systems, as the kernel presents a mounted guest:
/// each path belongs to the file system mounted at its longest mount-point prefix; symbolic links are followed
/// across mounts (an absolute target starts at the view's root); a mount point shows the mounted file system's
/// root. Changes go to the file system that owns the path; renames and hard links across mounts fail as
/// <c>EXDEV</c> does, and mount points cannot be removed or renamed (<c>EBUSY</c>).
/// </summary>
/// <remarks>
/// The view does not own the file systems (the <see cref="Guest"/> does). Inode numbers of the file systems
/// mounted below the root carry the mount's index in their top 16 bits (<c>inode | index &lt;&lt; 48</c>), so
/// that they are unique within the view: the kernel tells equal inode numbers of different mounts apart by
/// <c>st_dev</c>, which <see cref="UnixFileInfo"/> does not have, and tree walkers (hard-link detection,
/// directory-cycle guards) rely on inode identity.
/// </remarks>
internal sealed class GuestFileSystemView : IFileSystem
{
    private readonly List<ViewMount> _mounts; // longest mount point first

    private GuestFileSystemView(List<ViewMount> mounts) => _mounts = mounts;

    /// <summary>The mounts in place, root first then in mount order.</summary>
    public IReadOnlyList<(string MountPoint, IFileSystem FileSystem)> Mounts
    {
        get
        {
            var list = new List<(string, IFileSystem)>();
            for (int i = _mounts.Count - 1; i >= 0; i--)
            {
                list.Add((_mounts[i].MountPoint, _mounts[i].FileSystem));
            }

            return list;
        }
    }

    /// <inheritdoc />
    public bool IsReadOnly
    {
        get
        {
            foreach (ViewMount m in _mounts)
            {
                if (!m.FileSystem.IsReadOnly)
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>
    /// Builds a view of <paramref name="mounts"/> over <paramref name="guest"/>'s volumes. Mounts are put in place
    /// parents first (by mount-point depth); each mount point is resolved through the view built so far and must be
    /// an existing directory. When <paramref name="strict"/> is false a mount that cannot be put in place is left
    /// out and described in <paramref name="warnings"/>; otherwise it throws.
    /// </summary>
    public static GuestFileSystemView Build(Guest guest, IReadOnlyList<GuestMount> mounts, bool strict, List<string>? warnings)
    {
        GuestMount? root = null;
        foreach (GuestMount m in mounts)
        {
            if (m.MountPoint == "/")
            {
                root = m;
                break;
            }
        }

        if (root is null)
        {
            throw new ArgumentException("No file system is mounted at '/'.", nameof(mounts));
        }

        var view = new GuestFileSystemView([new ViewMount("/", guest.OpenFileSystem(guest.GetVolume(root.Device)), root.Device, 0)]);
        var ordered = new List<GuestMount>();
        foreach (GuestMount m in mounts)
        {
            if (!ReferenceEquals(m, root))
            {
                ordered.Add(m);
            }
        }

        // Parents first; a stable sort keeps fstab order among equal depths (later mounts hide earlier ones, as in the kernel).
        ordered = [.. ordered.OrderBy(m => m.MountPoint.Count(c => c == '/'))];
        foreach (GuestMount m in ordered)
        {
            if (m.MountPoint == "/")
            {
                Fail($"{m.Device} is mounted on / a second time (the root is {root.Device}); ignored");
                continue;
            }

            GuestVolume? volume = guest.FindVolume(m.Device);
            if (volume is null)
            {
                if (strict)
                {
                    throw new ArgumentException($"{m.Device}: no such device in the guest.", nameof(mounts));
                }

                Fail($"{m.Device}: no such device in the guest; not mounted on {m.MountPoint}");
                continue;
            }

            string at;
            IFileSystem fs;
            try
            {
                at = view.Resolve(m.MountPoint, followFinal: true).FullPath;
                UnixFileInfo target = view.GetEntry(at);
                if (!target.IsDirectory)
                {
                    throw new IOException($"mount point {m.MountPoint} is not a directory");
                }

                fs = guest.OpenFileSystem(volume);
            }
            catch (Exception e) when (!strict && e is IOException or InvalidDataException or NotSupportedException)
            {
                Fail($"{m.Device} not mounted on {m.MountPoint}: {Reason(e)}");
                continue;
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                throw new IOException($"{m.Device} cannot be mounted on {m.MountPoint}: the mount point does not exist.", e);
            }

            view.Add(new ViewMount(at, fs, m.Device, view._mounts.Count));
        }

        return view;

        void Fail(string message)
        {
            if (strict)
            {
                throw new IOException(message);
            }

            warnings?.Add(message);
        }
    }

    private static string Reason(Exception e) => e switch
    {
        FileNotFoundException or DirectoryNotFoundException => "the mount point does not exist",
        _ => e.Message,
    };

    private void Add(ViewMount mount)
    {
        // Mounting again at the same point hides the earlier mount (kept below it, as the kernel stacks mounts).
        int index = 0;
        while (index < _mounts.Count && _mounts[index].MountPoint.Length >= mount.MountPoint.Length)
        {
            index++;
        }

        _mounts.Insert(index, mount);
    }

    /// <inheritdoc />
    public UnixFileInfo GetEntry(string path)
    {
        Resolved r = Resolve(path, followFinal: false);
        UnixFileInfo entry = r.Mount.FileSystem.GetEntry(r.InnerPath);
        return r.Direct ? entry : Rebase(entry, r.FullPath, r.Mount.Index);
    }

    /// <inheritdoc />
    public bool Exists(string path)
    {
        try
        {
            GetEntry(path);
            return true;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public IEnumerable<UnixFileInfo> EnumerateDirectory(string path)
    {
        Resolved r = Resolve(path, followFinal: true);
        IEnumerable<UnixFileInfo> entries = r.Mount.FileSystem.EnumerateDirectory(r.InnerPath);
        return r.Direct ? entries : Enumerate(entries, r.FullPath);
    }

    private IEnumerable<UnixFileInfo> Enumerate(IEnumerable<UnixFileInfo> entries, string directory)
    {
        foreach (UnixFileInfo e in entries)
        {
            string full = FileSystemPath.Combine(directory, e.Name);
            ViewMount owner = MountFor(full);
            yield return owner.MountPoint == full
                ? Rebase(owner.FileSystem.GetEntry("/"), full, owner.Index)
                : Rebase(e, full, owner.Index);
        }
    }

    /// <inheritdoc />
    public Stream OpenFile(string path, FileMode mode, FileAccess access)
    {
        Resolved r = Resolve(path, followFinal: true);
        return r.Mount.FileSystem.OpenFile(r.InnerPath, mode, access);
    }

    /// <inheritdoc />
    public void CreateDirectory(string path, UnixFileMode mode = UnixFileModeBits.Directory)
    {
        Resolved r = ResolveNew(path);
        r.Mount.FileSystem.CreateDirectory(r.InnerPath, mode);
    }

    /// <inheritdoc />
    public void CreateSymbolicLink(string path, string target)
    {
        Resolved r = ResolveNew(path);
        r.Mount.FileSystem.CreateSymbolicLink(r.InnerPath, target);
    }

    /// <inheritdoc />
    public void CreateHardLink(string path, string existingPath)
    {
        Resolved r = ResolveNew(path);
        Resolved existing = Resolve(existingPath, followFinal: false);
        if (!ReferenceEquals(r.Mount, existing.Mount))
        {
            throw new IOException($"Cannot link '{path}' to '{existingPath}': Invalid cross-device link (they are on different file systems).");
        }

        r.Mount.FileSystem.CreateHardLink(r.InnerPath, existing.InnerPath);
    }

    /// <inheritdoc />
    public void CreateDevice(string path, UnixFileType type, int major, int minor, UnixFileMode mode = UnixFileModeBits.Device)
    {
        Resolved r = ResolveNew(path);
        r.Mount.FileSystem.CreateDevice(r.InnerPath, type, major, minor, mode);
    }

    /// <inheritdoc />
    public void CreateFifo(string path, UnixFileMode mode = UnixFileModeBits.File)
    {
        Resolved r = ResolveNew(path);
        r.Mount.FileSystem.CreateFifo(r.InnerPath, mode);
    }

    /// <inheritdoc />
    public void CreateSocket(string path, UnixFileMode mode = UnixFileModeBits.Directory)
    {
        Resolved r = ResolveNew(path);
        r.Mount.FileSystem.CreateSocket(r.InnerPath, mode);
    }

    /// <inheritdoc />
    public void Delete(string path)
    {
        Resolved r = Resolve(path, followFinal: false);
        ThrowIfMountPoint(r, path);
        r.Mount.FileSystem.Delete(r.InnerPath);
    }

    /// <inheritdoc />
    public void Rename(string sourcePath, string destinationPath)
    {
        Resolved source = Resolve(sourcePath, followFinal: false);
        Resolved destination = Resolve(destinationPath, followFinal: false);
        ThrowIfMountPoint(source, sourcePath);
        ThrowIfMountPoint(destination, destinationPath);
        if (!ReferenceEquals(source.Mount, destination.Mount))
        {
            throw new IOException($"Cannot move '{sourcePath}' to '{destinationPath}': Invalid cross-device link (they are on different file systems).");
        }

        source.Mount.FileSystem.Rename(source.InnerPath, destination.InnerPath);
    }

    /// <inheritdoc />
    public void SetMode(string path, UnixFileMode mode)
    {
        Resolved r = Resolve(path, followFinal: false);
        r.Mount.FileSystem.SetMode(r.InnerPath, mode);
    }

    /// <inheritdoc />
    public void SetOwner(string path, uint userId, uint groupId)
    {
        Resolved r = Resolve(path, followFinal: false);
        r.Mount.FileSystem.SetOwner(r.InnerPath, userId, groupId);
    }

    /// <inheritdoc />
    public void SetTimes(string path, UnixTime? accessTime, UnixTime? modificationTime)
    {
        Resolved r = Resolve(path, followFinal: false);
        r.Mount.FileSystem.SetTimes(r.InnerPath, accessTime, modificationTime);
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, byte[]> GetXattrs(string path)
    {
        Resolved r = Resolve(path, followFinal: false);
        return r.Mount.FileSystem.GetXattrs(r.InnerPath);
    }

    /// <inheritdoc />
    public void SetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        Resolved r = Resolve(path, followFinal: false);
        r.Mount.FileSystem.SetXattr(r.InnerPath, name, value);
    }

    /// <inheritdoc />
    public bool RemoveXattr(string path, string name)
    {
        Resolved r = Resolve(path, followFinal: false);
        return r.Mount.FileSystem.RemoveXattr(r.InnerPath, name);
    }

    /// <inheritdoc />
    public void Flush()
    {
        var done = new HashSet<IFileSystem>(ReferenceEqualityComparer.Instance);
        foreach (ViewMount m in _mounts)
        {
            if (!m.FileSystem.IsReadOnly && done.Add(m.FileSystem))
            {
                m.FileSystem.Flush();
            }
        }
    }

    /// <summary>Nothing to release: the guest owns the file systems.</summary>
    public void Dispose()
    {
    }

    private static void ThrowIfMountPoint(Resolved r, string path)
    {
        if (r.InnerPath == "/")
        {
            throw new IOException($"'{path}': Device or resource busy (a file system is mounted there).");
        }
    }

    /// <summary>Resolves the parent of a new entry (following links) and keeps the final name as given.</summary>
    private Resolved ResolveNew(string path)
    {
        Resolved r = Resolve(path, followFinal: false);
        if (r.InnerPath == "/")
        {
            throw new IOException($"'{path}' already exists (a file system is mounted there).");
        }

        return r;
    }

    private ViewMount MountFor(string fullPath)
    {
        foreach (ViewMount m in _mounts)
        {
            if (GuestPaths.IsAtOrBelow(fullPath, m.MountPoint))
            {
                return m;
            }
        }

        return _mounts[^1];
    }

    /// <summary>
    /// Walks <paramref name="path"/> one component at a time through the mounts, following symbolic links in
    /// every component but the last (and the last too when <paramref name="followFinal"/>), at most
    /// <see cref="FileSystemPath.MaxSymbolicLinks"/> times. A missing final component is allowed (the caller's
    /// file system reports it or creates it).
    /// </summary>
    internal Resolved Resolve(string path, bool followFinal)
    {
        List<string> pending = FileSystemPath.Split(path);
        if (_mounts.Count == 1)
        {
            // One file system: it resolves its own links.
            return new Resolved(_mounts[0], path, path, Direct: true);
        }

        pending.Reverse(); // a stack: the next component is last
        var current = new List<string>();
        int links = 0;
        while (pending.Count > 0)
        {
            string name = pending[^1];
            pending.RemoveAt(pending.Count - 1);
            if (name == "..")
            {
                if (current.Count > 0)
                {
                    current.RemoveAt(current.Count - 1);
                }

                continue;
            }

            bool final = pending.Count == 0;
            current.Add(name);
            if (final && !followFinal)
            {
                break;
            }

            string full = GuestPaths.Join(current, current.Count);
            ViewMount m = MountFor(full);
            UnixFileInfo entry;
            try
            {
                entry = m.FileSystem.GetEntry(GuestPaths.Inner(full, m.MountPoint));
            }
            catch (FileNotFoundException) when (final)
            {
                break;
            }
            catch (FileNotFoundException e)
            {
                throw new DirectoryNotFoundException($"Could not find a part of the path '{path}'.", e);
            }

            if (entry.Type == UnixFileType.SymbolicLink)
            {
                if (++links > FileSystemPath.MaxSymbolicLinks)
                {
                    throw new IOException($"'{path}': Too many levels of symbolic links.");
                }

                string target = entry.LinkTarget ?? string.Empty;
                if (target.Length == 0)
                {
                    throw new FileNotFoundException($"'{path}': a symbolic link on the way has an empty target.", path);
                }

                current.RemoveAt(current.Count - 1);
                if (target[0] == '/')
                {
                    current.Clear();
                }

                string[] parts = target.Split('/', StringSplitOptions.RemoveEmptyEntries);
                for (int i = parts.Length - 1; i >= 0; i--)
                {
                    if (parts[i] != ".")
                    {
                        pending.Add(parts[i]);
                    }
                }

                continue;
            }

            if (!final && !entry.IsDirectory)
            {
                throw new DirectoryNotFoundException($"'{path}': '{full}' is not a directory.");
            }
        }

        string resolved = GuestPaths.Join(current, current.Count);
        ViewMount owner = MountFor(resolved);
        return new Resolved(owner, resolved, GuestPaths.Inner(resolved, owner.MountPoint), Direct: false);
    }

    private static UnixFileInfo Rebase(UnixFileInfo e, string path, int mountIndex) =>
        e.With(path, mountIndex == 0 ? e.Inode : e.Inode | ((long)mountIndex << 48));

    /// <summary>A file system mounted at a canonical path; <c>Index</c> is its place in mount order (the root is 0).</summary>
    internal sealed record ViewMount(string MountPoint, IFileSystem FileSystem, string Device, int Index);

    /// <summary>
    /// A resolved path: the mount that owns it, the full path in the view and the path inside the mount;
    /// <c>Direct</c> when the view has one file system and the path is passed through as given.
    /// </summary>
    internal readonly record struct Resolved(ViewMount Mount, string FullPath, string InnerPath, bool Direct);
}
