namespace DiskImage.FileSystems.InMemory;

/// <summary>
/// The reference <see cref="IFileSystem"/>: a complete Unix tree held in memory (files up to 2 GiB).
/// Used to test everything above the file-system layer and as the model that ext4 and XFS are
/// compared with. Not thread-safe.
/// </summary>
public sealed class InMemoryFileSystem : IFileSystem, IPathWalker<InMemoryNode>
{
    private readonly InMemoryNode _root;
    private long _nextInode = 2;
    private bool _readOnly;
    private bool _disposed;

    /// <summary>Creates an empty file system whose root directory has mode 0755 and owner 0:0.</summary>
    public InMemoryFileSystem()
    {
        _root = new InMemoryNode(_nextInode++, UnixFileType.Directory, 0x1ED, UnixTime.Now);
    }

    /// <inheritdoc />
    public bool IsReadOnly => _readOnly;

    InMemoryNode IPathWalker<InMemoryNode>.Root => _root;

    /// <summary>Makes every later change throw <see cref="NotSupportedException"/> (cannot be undone).</summary>
    public void MakeReadOnly() => _readOnly = true;

    /// <inheritdoc />
    public UnixFileInfo GetEntry(string path)
    {
        ResolvedPath<InMemoryNode> r = Existing(path, followFinal: false);
        return r.Node!.ToInfo(r.Path);
    }

    /// <inheritdoc />
    public bool Exists(string path)
    {
        ThrowIfDisposed();
        try
        {
            return PathResolver.Resolve(this, path, followFinal: false).Node is not null;
        }
        catch (DirectoryNotFoundException)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public IEnumerable<UnixFileInfo> EnumerateDirectory(string path)
    {
        ResolvedPath<InMemoryNode> r = Existing(path, followFinal: true);
        if (r.Node!.Children is not { } children)
        {
            throw new IOException($"'{path}' is not a directory.");
        }

        var list = new List<UnixFileInfo>(children.Count);
        foreach (KeyValuePair<string, InMemoryNode> kv in children)
        {
            list.Add(kv.Value.ToInfo(FileSystemPath.Combine(r.Path, kv.Key)));
        }

        return list;
    }

    /// <inheritdoc />
    public Stream OpenFile(string path, FileMode mode, FileAccess access)
    {
        ThrowIfDisposed();
        PathResolver.ValidateOpen(mode, access, _readOnly);
        ResolvedPath<InMemoryNode> r = PathResolver.Resolve(this, path, followFinal: true);
        InMemoryNode? node = r.Node;
        if (node is null)
        {
            if (mode is FileMode.Open or FileMode.Truncate)
            {
                throw new FileNotFoundException($"Could not find file '{path}'.", path);
            }

            FileSystemPath.ValidateNewName(r.Name, path);
            node = Add(r, UnixFileType.RegularFile, 0x1A4);
        }
        else
        {
            if (mode == FileMode.CreateNew)
            {
                throw new IOException($"The file '{path}' already exists.");
            }

            if (node.Type == UnixFileType.Directory)
            {
                throw new UnauthorizedAccessException($"'{path}' is a directory.");
            }

            if (node.Type != UnixFileType.RegularFile)
            {
                throw new IOException($"'{path}' is not a regular file ({node.Type}).");
            }

            if (mode is FileMode.Create or FileMode.Truncate && node.Length != 0)
            {
                node.Data = [];
                node.Length = 0;
                node.ModificationTime = node.ChangeTime = UnixTime.Now;
            }
        }

        return new InMemoryFileStream(node, access, mode == FileMode.Append);
    }

    /// <inheritdoc />
    public void CreateDirectory(string path, UnixFileMode mode = UnixFileModeBits.Directory) =>
        Add(NewEntry(path), UnixFileType.Directory, UnixFileModeBits.ToBits(mode, nameof(mode)));

    /// <inheritdoc />
    public void CreateSymbolicLink(string path, string target)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        if (UnixPathEncoding.GetByteCount(target) > 4095)
        {
            throw new PathTooLongException("A symbolic link target is limited to 4095 bytes.");
        }

        Add(NewEntry(path), UnixFileType.SymbolicLink, 0x1FF).LinkTarget = target;
    }

    /// <inheritdoc />
    public void CreateHardLink(string path, string existingPath)
    {
        ThrowIfWritable();
        InMemoryNode existing = PathResolver.ResolveExisting(this, existingPath, followFinal: false).Node!;
        if (existing.Type == UnixFileType.Directory)
        {
            throw new IOException($"'{existingPath}' is a directory; directories cannot be hard-linked.");
        }

        ResolvedPath<InMemoryNode> r = NewEntry(path);
        r.Parent.Children!.Add(r.Name, existing);
        existing.Links++;
        UnixTime now = UnixTime.Now;
        existing.ChangeTime = now;
        r.Parent.ModificationTime = r.Parent.ChangeTime = now;
    }

    /// <inheritdoc />
    public void CreateDevice(string path, UnixFileType type, int major, int minor, UnixFileMode mode = UnixFileModeBits.Device)
    {
        FileSystemWriteChecks.CheckDevice(type, major, minor);
        int bits = UnixFileModeBits.ToBits(mode, nameof(mode));
        InMemoryNode n = Add(NewEntry(path), type, bits);
        n.DeviceMajor = major;
        n.DeviceMinor = minor;
    }

    /// <inheritdoc />
    public void CreateFifo(string path, UnixFileMode mode = UnixFileModeBits.File) => Add(NewEntry(path), UnixFileType.Fifo, UnixFileModeBits.ToBits(mode, nameof(mode)));

    /// <inheritdoc />
    public void CreateSocket(string path, UnixFileMode mode = UnixFileModeBits.Directory) => Add(NewEntry(path), UnixFileType.Socket, UnixFileModeBits.ToBits(mode, nameof(mode)));

    /// <inheritdoc />
    public void Delete(string path)
    {
        ThrowIfWritable();
        ResolvedPath<InMemoryNode> r = PathResolver.ResolveExisting(this, path, followFinal: false);
        if (r.IsRoot)
        {
            throw new IOException("The root directory cannot be deleted.");
        }

        InMemoryNode node = r.Node!;
        if (node.Children is { Count: > 0 })
        {
            throw new IOException($"The directory '{path}' is not empty.");
        }

        r.Parent.Children!.Remove(r.Name);
        node.Links--;
        UnixTime now = UnixTime.Now;
        node.ChangeTime = now;
        r.Parent.ModificationTime = r.Parent.ChangeTime = now;
    }

    /// <inheritdoc />
    public void Rename(string sourcePath, string destinationPath)
    {
        ThrowIfWritable();
        ResolvedPath<InMemoryNode> src = PathResolver.ResolveExisting(this, sourcePath, followFinal: false);
        ResolvedPath<InMemoryNode> dst = PathResolver.Resolve(this, destinationPath, followFinal: false);
        FileSystemWriteChecks.CheckRenameEnds(src, dst, destinationPath);
        InMemoryNode node = src.Node!;
        if (ReferenceEquals(dst.Node, node))
        {
            return;
        }

        bool isDir = node.Type == UnixFileType.Directory;
        FileSystemWriteChecks.CheckRenameKinds(src, dst, isDir, dst.Node is null ? null : dst.Node.Type == UnixFileType.Directory, sourcePath, destinationPath);
        if (dst.Node is { } existing)
        {
            if (existing.Children is { Count: > 0 })
            {
                throw new IOException($"The directory '{destinationPath}' is not empty.");
            }

            dst.Parent.Children!.Remove(dst.Name);
            existing.Links--;
        }

        src.Parent.Children!.Remove(src.Name);
        dst.Parent.Children!.Add(dst.Name, node);
        UnixTime now = UnixTime.Now;
        node.ChangeTime = now;
        src.Parent.ModificationTime = src.Parent.ChangeTime = now;
        dst.Parent.ModificationTime = dst.Parent.ChangeTime = now;
    }

    /// <inheritdoc />
    public void SetMode(string path, UnixFileMode mode)
    {
        int bits = UnixFileModeBits.ToBits(mode, nameof(mode));
        InMemoryNode n = Changeable(path);
        n.Mode = bits;
        n.ChangeTime = UnixTime.Now;
    }

    /// <inheritdoc />
    public void SetOwner(string path, uint userId, uint groupId)
    {
        InMemoryNode n = Changeable(path);
        n.UserId = userId;
        n.GroupId = groupId;
        n.ChangeTime = UnixTime.Now;
    }

    /// <inheritdoc />
    public void SetTimes(string path, UnixTime? accessTime, UnixTime? modificationTime)
    {
        InMemoryNode n = Changeable(path);
        if (accessTime is { } a)
        {
            n.AccessTime = a;
        }

        if (modificationTime is { } m)
        {
            n.ModificationTime = m;
        }

        n.ChangeTime = UnixTime.Now;
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, byte[]> GetXattrs(string path)
    {
        InMemoryNode n = Existing(path, followFinal: false).Node!;
        var copy = new Dictionary<string, byte[]>(n.Xattrs.Count, StringComparer.Ordinal);
        foreach (KeyValuePair<string, byte[]> kv in n.Xattrs)
        {
            copy.Add(kv.Key, (byte[])kv.Value.Clone());
        }

        return copy;
    }

    /// <inheritdoc />
    public void SetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        XattrName.Validate(name);
        if (value.Length > 65536)
        {
            throw new ArgumentException("An extended attribute value is limited to 64 KiB.", nameof(value));
        }

        InMemoryNode n = Changeable(path);
        n.Xattrs[name] = value.ToArray();
        n.ChangeTime = UnixTime.Now;
    }

    /// <inheritdoc />
    public bool RemoveXattr(string path, string name)
    {
        XattrName.Validate(name);
        InMemoryNode n = Changeable(path);
        if (!n.Xattrs.Remove(name))
        {
            return false;
        }

        n.ChangeTime = UnixTime.Now;
        return true;
    }

    /// <summary>
    /// Loads what the <see cref="IFileSystem"/> contract cannot set, for a copy of another file system's tree held here:
    /// all four times, and for a regular file whose content stays elsewhere a length without data (the caller must never
    /// open such a file's stream before replacing its content with <see cref="ReplaceContent"/>).
    /// </summary>
    internal void LoadTimes(string path, UnixTime access, UnixTime modification, UnixTime change, UnixTime? creation, long? placeholderLength = null)
    {
        InMemoryNode n = Existing(path, followFinal: false).Node!;
        n.AccessTime = access;
        n.ModificationTime = modification;
        n.ChangeTime = change;
        n.CreationTime = creation ?? change;
        if (placeholderLength is { } length && n.Type == UnixFileType.RegularFile)
        {
            n.Length = length;
        }
    }

    /// <summary>The inode number of the regular file <paramref name="path"/> leads to (following a final symlink), or null.</summary>
    internal long? ResolveRegularFile(string path)
    {
        InMemoryNode? n = PathResolver.Resolve(this, path, followFinal: true).Node;
        return n is { Type: UnixFileType.RegularFile } ? n.Inode : null;
    }

    /// <summary>Gives a regular file its content without touching its times (see <see cref="LoadTimes"/>).</summary>
    internal void ReplaceContent(string path, byte[] data)
    {
        InMemoryNode n = Existing(path, followFinal: true).Node!;
        n.Data = data;
        n.Length = data.Length;
    }

    /// <inheritdoc />
    public void Flush() => ThrowIfDisposed();

    /// <inheritdoc />
    public void Dispose() => _disposed = true;

    InMemoryNode? IPathWalker<InMemoryNode>.Lookup(InMemoryNode directory, string name) =>
        directory.Children!.TryGetValue(name, out InMemoryNode? n) ? n : null;

    bool IPathWalker<InMemoryNode>.IsDirectory(InMemoryNode node) => node.Type == UnixFileType.Directory;

    string? IPathWalker<InMemoryNode>.GetSymbolicLinkTarget(InMemoryNode node) => node.LinkTarget;

    private ResolvedPath<InMemoryNode> Existing(string path, bool followFinal)
    {
        ThrowIfDisposed();
        return PathResolver.ResolveExisting(this, path, followFinal);
    }

    private InMemoryNode Changeable(string path)
    {
        ThrowIfWritable();
        return PathResolver.ResolveExisting(this, path, followFinal: false).Node!;
    }

    private ResolvedPath<InMemoryNode> NewEntry(string path)
    {
        ThrowIfWritable();
        ResolvedPath<InMemoryNode> r = PathResolver.Resolve(this, path, followFinal: false);
        if (r.Node is not null)
        {
            throw new IOException($"'{path}' already exists.");
        }

        FileSystemPath.ValidateNewName(r.Name, path);
        return r;
    }

    private InMemoryNode Add(ResolvedPath<InMemoryNode> r, UnixFileType type, int mode)
    {
        UnixTime now = UnixTime.Now;
        var node = new InMemoryNode(_nextInode++, type, mode, now) { Links = 1 };
        r.Parent.Children!.Add(r.Name, node);
        r.Parent.ModificationTime = r.Parent.ChangeTime = now;
        return node;
    }

    private void ThrowIfWritable()
    {
        ThrowIfDisposed();
        if (_readOnly)
        {
            PathResolver.ThrowReadOnly();
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
