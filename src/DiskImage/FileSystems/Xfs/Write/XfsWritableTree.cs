using DiskImage.FileSystems.InMemory;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// The changeable tree of an XFS file system opened for writing: every entry's metadata and xattrs held in an
/// <see cref="InMemoryFileSystem"/> (which gives the <see cref="IFileSystem"/> contract its exact semantics), while the
/// content of every regular file not yet written stays on the device and is read from its original inode. A change
/// marks the tree dirty; <see cref="XfsRewriter"/> then writes the whole tree back as a new, consistent file system.
/// </summary>
internal sealed class XfsWritableTree : IFileSystem
{
    private const int MaxMajor = 0x1FF;
    private const int MaxMinor = 0x3FFFF;
    private readonly InMemoryFileSystem _model = new();
    private readonly Dictionary<long, ulong> _onDevice = [];
    private Dictionary<long, ulong> _xfsInodes = [];
    private readonly List<(Stream Stream, long Inode, bool Writes)> _streams = [];
    private XfsFileSystem _reader;
    private bool _dirty;

    private XfsWritableTree(XfsFileSystem reader) => _reader = reader;

    /// <summary>
    /// Whether anything changed since the tree was loaded or last written back (a stream open for writing counts as a
    /// change: it may write at any time).
    /// </summary>
    public bool Dirty
    {
        get
        {
            if (_dirty)
            {
                return true;
            }

            // A stream open for writing at the last write-back may have written since (or may still write).
            foreach ((_, _, bool writes) in _streams)
            {
                if (writes)
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <inheritdoc />
    public bool IsReadOnly => false;

    /// <summary>Loads the metadata of every entry <paramref name="reader"/> sees (content stays on the device).</summary>
    /// <exception cref="InvalidDataException">The file system is corrupt.</exception>
    /// <exception cref="NotSupportedException">A name the in-memory tree cannot hold (an xattr name whose bytes are not UTF-8 and
    /// grow past 255 bytes when decoded, say).</exception>
    public static XfsWritableTree Load(XfsFileSystem reader)
    {
        try
        {
            return LoadCore(reader);
        }
        catch (ArgumentException e)
        {
            throw new NotSupportedException($"The XFS file system holds a name the writer cannot represent: {e.Message}", e);
        }
    }

    private static XfsWritableTree LoadCore(XfsFileSystem reader)
    {
        var tree = new XfsWritableTree(reader);
        InMemoryFileSystem m = tree._model;
        UnixFileInfo root = reader.GetEntry("/");
        tree.CopyAttributes(root, "/");
        tree._xfsInodes[m.GetEntry("/").Inode] = (ulong)root.Inode;
        var links = new Dictionary<long, string>();
        var directories = new HashSet<long> { root.Inode };
        var pending = new Stack<(string Path, bool Done)>();
        pending.Push(("/", false));
        while (pending.Count > 0)
        {
            (string dir, bool done) = pending.Pop();
            if (done)
            {
                UnixFileInfo d = reader.GetEntry(dir);
                m.LoadTimes(dir, d.AccessTime, d.ModificationTime, d.ChangeTime, d.CreationTime);
                continue;
            }

            pending.Push((dir, true));
            foreach (UnixFileInfo e in reader.EnumerateDirectory(dir))
            {
                string path = e.Path;
                if (e.Type != UnixFileType.Directory && e.LinkCount > 1 && links.TryGetValue(e.Inode, out string? first))
                {
                    m.CreateHardLink(path, first);
                    continue;
                }

                switch (e.Type)
                {
                    case UnixFileType.Directory:
                        if (!directories.Add(e.Inode))
                        {
                            // A hostile image: an entry leads back to an ancestor (the walk would not end) or a second parent.
                            throw new InvalidDataException($"XFS directory inode {e.Inode} is reached twice (at '{path}'): a directory cycle or a hard link to a directory.");
                        }

                        m.CreateDirectory(path, e.Mode);
                        pending.Push((path, false));
                        break;
                    case UnixFileType.RegularFile:
                        m.OpenFile(path, FileMode.CreateNew, FileAccess.Write).Dispose();
                        tree._onDevice[m.ResolveRegularFile(path)!.Value] = (ulong)e.Inode;
                        break;
                    case UnixFileType.SymbolicLink:
                        m.CreateSymbolicLink(path, e.LinkTarget!);
                        break;
                    case UnixFileType.CharacterDevice or UnixFileType.BlockDevice:
                        m.CreateDevice(path, e.Type, e.DeviceMajor, e.DeviceMinor, e.Mode);
                        break;
                    case UnixFileType.Fifo:
                        m.CreateFifo(path, e.Mode);
                        break;
                    case UnixFileType.Socket:
                        m.CreateSocket(path, e.Mode);
                        break;
                    default:
                        throw new InvalidDataException($"'{path}' has an unknown file type.");
                }

                if (e.Type != UnixFileType.Directory)
                {
                    links[e.Inode] = path;
                }

                tree._xfsInodes[m.GetEntry(path).Inode] = (ulong)e.Inode;

                tree.CopyAttributes(e, path);
                if (e.Type != UnixFileType.Directory)
                {
                    m.LoadTimes(path, e.AccessTime, e.ModificationTime, e.ChangeTime, e.CreationTime, e.Type == UnixFileType.RegularFile ? e.Size : null);
                }
            }
        }

        return tree;
    }

    private void CopyAttributes(UnixFileInfo e, string path)
    {
        if (e.Type != UnixFileType.SymbolicLink)
        {
            _model.SetMode(path, e.Mode);
        }

        _model.SetOwner(path, e.UserId, e.GroupId);
        IReadOnlyDictionary<string, byte[]> xattrs = _reader.GetXattrs(path);
        foreach (KeyValuePair<string, byte[]> x in xattrs)
        {
            // The reader lists an ACL twice, as the kernel does to root: under the name XFS stores it and its system name.
            // The tree keeps the system name only, so removing or replacing the ACL leaves no stale copy.
            if ((x.Key == "trusted.SGI_ACL_FILE" && xattrs.ContainsKey(XfsPosixAcl.AccessName)) ||
                (x.Key == "trusted.SGI_ACL_DEFAULT" && xattrs.ContainsKey(XfsPosixAcl.DefaultName)))
            {
                continue;
            }

            _model.SetXattr(path, x.Key, x.Value);
        }
    }

    /// <inheritdoc />
    public UnixFileInfo GetEntry(string path) => _model.GetEntry(path);

    /// <inheritdoc />
    public bool Exists(string path) => _model.Exists(path);

    /// <inheritdoc />
    public IEnumerable<UnixFileInfo> EnumerateDirectory(string path) => _model.EnumerateDirectory(path);

    /// <inheritdoc />
    public Stream OpenFile(string path, FileMode mode, FileAccess access)
    {
        long? inode = null;
        try
        {
            inode = _model.ResolveRegularFile(path);
        }
        catch (IOException)
        {
            // The model reports the error below with the contract's exception.
        }
        catch (ArgumentException)
        {
        }

        bool writes = (access & FileAccess.Write) != 0 || mode is not (FileMode.Open or FileMode.OpenOrCreate);
        if (inode is { } ino && _onDevice.TryGetValue(ino, out ulong xfsInode))
        {
            if (!writes && mode != FileMode.CreateNew)
            {
                PathResolver.ValidateOpen(mode, access, readOnly: false);
                Stream content = _reader.OpenInode(xfsInode);
                long length = content.Length;
                content.Dispose();
                return new XfsTreeReadStream(this, ino, length);
            }

            // The content moves into memory (or is dropped): read streams over the device copy must not go on reading it.
            Generation++;

            if (mode is FileMode.Open or FileMode.OpenOrCreate or FileMode.Append)
            {
                // Partial writes keep the rest: bring the content into the tree first.
                using Stream original = _reader.OpenInode(xfsInode);
                if (original.Length > Array.MaxLength)
                {
                    throw new NotSupportedException($"'{path}' holds {original.Length} bytes: a file over {Array.MaxLength} bytes cannot be changed in part (open it with FileMode.Create).");
                }

                byte[] data = new byte[original.Length];
                original.ReadExactly(data);
                _model.ReplaceContent(path, data);
                _onDevice.Remove(ino);
            }
            else if (mode is FileMode.Create or FileMode.Truncate && (access & FileAccess.Write) != 0)
            {
                // The model empties the file (its data is never read).
                _onDevice.Remove(ino);
            }
        }

        Stream s = _model.OpenFile(path, mode, access);
        _dirty |= writes;
        foreach ((Stream open, _, bool writer) in _streams)
        {
            _dirty |= writer && !open.CanSeek;
        }

        _streams.RemoveAll(static x => !x.Stream.CanSeek);
        _streams.Add((s, _model.ResolveRegularFile(path)!.Value, s.CanWrite));
        return s;
    }

    /// <summary>Changes whenever file content on the device moves (a write-back) or a file's content leaves the device.</summary>
    public int Generation { get; private set; }

    /// <summary>The XFS inode number tree inode <paramref name="treeInode"/> has on the device; 0 for an entry made since the last flush.</summary>
    public ulong DeviceInode(long treeInode) => _xfsInodes.TryGetValue(treeInode, out ulong xfsInode) ? xfsInode : 0;

    /// <summary>
    /// The written data extents of tree inode <paramref name="treeInode"/> when its content is unchanged on the device;
    /// null otherwise (the content is then copied). Unwritten extents (preallocation, which reads as zeros) are left out:
    /// they become holes, which read the same, and their blocks free space.
    /// </summary>
    public XfsExtentToWrite[]? DeviceExtents(long treeInode)
    {
        if (!_onDevice.TryGetValue(treeInode, out ulong xfsInode) || _reader.DataExtentsOf(xfsInode) is not { } extents)
        {
            return null;
        }

        var result = new List<XfsExtentToWrite>(extents.Length);
        foreach (XfsExtent e in extents)
        {
            if (!e.Unwritten)
            {
                result.Add(new XfsExtentToWrite((long)e.FileBlock, e.FsBlock, (int)e.Length));
            }
        }

        return [.. result];
    }

    /// <summary>A stream over the content of tree inode <paramref name="treeInode"/> on the device, or null when it is not there.</summary>
    public Stream? OpenOnDevice(long treeInode) => _onDevice.TryGetValue(treeInode, out ulong xfsInode) ? _reader.OpenInode(xfsInode) : null;

    /// <summary>
    /// After a write-back: <paramref name="reader"/> reads the device as it is now, and <paramref name="inodes"/> maps the
    /// tree's entries to their XFS inodes. The content of every file without an open stream is dropped from
    /// memory and read from its new inode from now on; files with open streams keep theirs (and are written at the next
    /// flush). The tree is clean again.
    /// </summary>
    public void Rebase(XfsFileSystem reader, Dictionary<long, ulong> inodes)
    {
        _reader = reader;
        _xfsInodes = new Dictionary<long, ulong>(inodes);
        Generation++;
        _streams.RemoveAll(static x => !x.Stream.CanSeek);
        var open = new HashSet<long>();
        foreach ((_, long inode, _) in _streams)
        {
            open.Add(inode);
        }

        _onDevice.Clear();
        var pending = new Stack<string>();
        pending.Push("/");
        while (pending.Count > 0)
        {
            foreach (UnixFileInfo e in _model.EnumerateDirectory(pending.Pop()))
            {
                if (e.Type == UnixFileType.Directory)
                {
                    pending.Push(e.Path);
                }
                else if (e.Type == UnixFileType.RegularFile && !open.Contains(e.Inode) && !_onDevice.ContainsKey(e.Inode) &&
                    inodes.TryGetValue(e.Inode, out ulong xfsInode))
                {
                    _model.ReplaceContent(e.Path, []);
                    _model.LoadTimes(e.Path, e.AccessTime, e.ModificationTime, e.ChangeTime, e.CreationTime, e.Size);
                    _onDevice[e.Inode] = xfsInode;
                }
            }
        }

        _dirty = false;
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, byte[]> GetXattrs(string path) => _model.GetXattrs(path);

    /// <inheritdoc />
    public void CreateDirectory(string path, UnixFileMode mode = UnixFileModeBits.Directory) => Change(() => _model.CreateDirectory(path, mode));

    /// <inheritdoc />
    public void CreateSymbolicLink(string path, string target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (UnixPathEncoding.GetByteCount(target) > XfsTreeScanner.MaxLinkTarget)
        {
            throw new IOException($"'{path}': an XFS symbolic link target is at most {XfsTreeScanner.MaxLinkTarget} bytes.");
        }

        Change(() => _model.CreateSymbolicLink(path, target));
    }

    /// <inheritdoc />
    public void CreateHardLink(string path, string existingPath) => Change(() => _model.CreateHardLink(path, existingPath));

    /// <inheritdoc />
    public void CreateDevice(string path, UnixFileType type, int major, int minor, UnixFileMode mode = UnixFileModeBits.Device)
    {
        // XFS stores sysv-encoded numbers (14-bit major, 18-bit minor) and the kernel's mknod allows majors up to 511.
        ArgumentOutOfRangeException.ThrowIfGreaterThan(major, MaxMajor);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minor, MaxMinor);
        Change(() => _model.CreateDevice(path, type, major, minor, mode));
    }

    /// <inheritdoc />
    public void CreateFifo(string path, UnixFileMode mode = UnixFileModeBits.File) => Change(() => _model.CreateFifo(path, mode));

    /// <inheritdoc />
    public void CreateSocket(string path, UnixFileMode mode = UnixFileModeBits.Directory) => Change(() => _model.CreateSocket(path, mode));

    /// <inheritdoc />
    public void Delete(string path) => Change(() => _model.Delete(path));

    /// <inheritdoc />
    public void Rename(string sourcePath, string destinationPath) => Change(() => _model.Rename(sourcePath, destinationPath));

    /// <inheritdoc />
    public void SetMode(string path, UnixFileMode mode) => Change(() => _model.SetMode(path, mode));

    /// <inheritdoc />
    public void SetOwner(string path, uint userId, uint groupId) => Change(() => _model.SetOwner(path, userId, groupId));

    /// <inheritdoc />
    public void SetTimes(string path, UnixTime? accessTime, UnixTime? modificationTime) => Change(() => _model.SetTimes(path, accessTime, modificationTime));

    /// <inheritdoc />
    public void SetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        byte[]? previous = null;
        try
        {
            if (_model.GetXattrs(path).TryGetValue(name, out byte[]? old))
            {
                previous = old;
            }
        }
        catch (Exception e) when (e is IOException or ArgumentException)
        {
            // The model's SetXattr below reports it.
        }

        _model.SetXattr(path, name, value);
        _dirty = true;
        IReadOnlyDictionary<string, byte[]> now = _model.GetXattrs(path);
        try
        {
            XfsAttributeLayout.LeafBlocks(XfsAttributeLayout.FromXattrs(now, path), _reader.BlockSize, path);
        }
        catch (Exception e) when (e is NotSupportedException or ArgumentException)
        {
            // Refused now rather than at Flush, where the whole write-back would fail.
            _model.RemoveXattr(path, name);
            if (previous is not null)
            {
                _model.SetXattr(path, name, previous);
            }

            if (e is ArgumentException)
            {
                throw;
            }

            throw new IOException($"'{path}': no room for this xattr: the xattrs of one XFS inode are written in one attribute leaf block at most.", e);
        }
    }

    /// <inheritdoc />
    public bool RemoveXattr(string path, string name)
    {
        bool removed = _model.RemoveXattr(path, name);
        _dirty |= removed;
        return removed;
    }

    /// <inheritdoc />
    public void Flush()
    {
    }

    /// <inheritdoc />
    public void Dispose() => _model.Dispose();

    private void Change(Action change)
    {
        change();
        _dirty = true;
    }
}
