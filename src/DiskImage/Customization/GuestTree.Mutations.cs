using DiskImage.FileSystems;

namespace DiskImage.Customization;

/// <content>The changes: each goes to the overlay in a dry run and to the file system otherwise, and is recorded.</content>
internal sealed partial class GuestTree
{
    private const int CopyBuffer = 128 * 1024;

    /// <summary>
    /// Writes a regular file: an existing one is rewritten in place (inode, mode, owner and labels kept, like
    /// <c>guestfs_write</c>); a missing one is created with <paramref name="mode"/> and owner 0:0.
    /// </summary>
    public void WriteFile(string canonical, ReadOnlySpan<byte> data, UnixFileMode mode = UnixFileModeBits.File)
    {
        UnixFileInfo? existing = RequireWritableFile(canonical);
        if (_overlay is not null)
        {
            OverlayEntry e = existing is null
                ? new OverlayEntry { Type = UnixFileType.RegularFile, Mode = mode }
                : Materialize(canonical, existing);
            e.Data = data.ToArray();
            _overlay[canonical] = e;
        }
        else
        {
            using Stream s = _fs.OpenFile(canonical, existing is null ? FileMode.CreateNew : FileMode.Open, FileAccess.Write);
            s.SetLength(0);
            s.Write(data);
            if (existing is null)
            {
                s.Dispose();
                _fs.SetMode(canonical, mode);
            }
        }

        Record(canonical, existing is null ? CustomizationChangeKind.Created : CustomizationChangeKind.Modified);
    }

    /// <summary>Copies a host file's content into a guest file, in place when it exists.</summary>
    public void WriteFileFromHost(string canonical, string hostPath)
    {
        UnixFileInfo? existing = RequireWritableFile(canonical);
        UnixFileInfo host = Host.GetEntry(hostPath);
        if (_overlay is not null)
        {
            OverlayEntry e = existing is null
                ? new OverlayEntry { Type = UnixFileType.RegularFile, Mode = UnixFileModeBits.File }
                : Materialize(canonical, existing);
            e.Data = null;
            _overlay[canonical] = new OverlayEntry
            {
                Type = UnixFileType.RegularFile,
                Mode = e.Mode,
                UserId = e.UserId,
                GroupId = e.GroupId,
                BackingFileSystem = Host,
                BackingPath = hostPath,
                Size = host.Size,
            };
        }
        else
        {
            using Stream source = Host.OpenFile(hostPath, FileMode.Open, FileAccess.Read);
            using Stream s = _fs.OpenFile(canonical, existing is null ? FileMode.CreateNew : FileMode.Open, FileAccess.Write);
            s.SetLength(0);
            source.CopyTo(s, CopyBuffer);
        }

        Record(canonical, existing is null ? CustomizationChangeKind.Created : CustomizationChangeKind.Modified);
    }

    /// <summary>Empties an existing regular file in place.</summary>
    public void Truncate(string canonical)
    {
        UnixFileInfo existing = RequireWritableFile(canonical) ?? throw Error($"'{canonical}' does not exist", new FileNotFoundException(canonical));
        if (_overlay is not null)
        {
            OverlayEntry e = Materialize(canonical, existing);
            e.Data = [];
            _overlay[canonical] = e;
        }
        else
        {
            using Stream s = _fs.OpenFile(canonical, FileMode.Open, FileAccess.Write);
            s.SetLength(0);
        }

        Record(canonical, CustomizationChangeKind.Modified);
    }

    /// <summary>Creates a directory whose parent exists.</summary>
    public void CreateDirectory(string canonical, UnixFileMode mode)
    {
        if (Stat(canonical) is not null)
        {
            throw Error($"'{canonical}' already exists");
        }

        if (_overlay is not null)
        {
            _overlay[canonical] = new OverlayEntry { Type = UnixFileType.Directory, Mode = mode };
        }
        else
        {
            _fs.CreateDirectory(canonical, mode);
            _fs.SetMode(canonical, mode);
        }

        Record(canonical, CustomizationChangeKind.Created);
    }

    /// <summary>Creates a symbolic link, replacing an existing non-directory (like <c>ln -sf</c>).</summary>
    public void CreateSymbolicLink(string canonical, string target)
    {
        UnixFileInfo? existing = Stat(canonical);
        if (existing is { IsDirectory: true })
        {
            throw Error($"'{canonical}' is a directory");
        }

        if (_overlay is not null)
        {
            _overlay[canonical] = new OverlayEntry { Type = UnixFileType.SymbolicLink, Mode = (UnixFileMode)0x1FF, LinkTarget = target };
        }
        else
        {
            if (existing is not null)
            {
                _fs.Delete(canonical);
            }

            _fs.CreateSymbolicLink(canonical, target);
        }

        Record(canonical, existing is null ? CustomizationChangeKind.Created : CustomizationChangeKind.Replaced);
    }

    /// <summary>Removes an entry and everything under it (like <c>rm -rf</c>; a symbolic link itself is removed).</summary>
    public void DeleteTree(string canonical)
    {
        if (canonical == "/")
        {
            throw Error("refusing to delete the root directory");
        }

        UnixFileInfo? existing = Stat(canonical);
        if (existing is null)
        {
            return;
        }

        if (_overlay is not null)
        {
            RemoveOverlayUnder(canonical);
            _overlay[canonical] = null;
        }
        else
        {
            List<string> all = EnumerateTree(canonical);
            for (int i = all.Count - 1; i >= 0; i--)
            {
                _fs.Delete(all[i]);
            }
        }

        Record(canonical, CustomizationChangeKind.Deleted);
    }

    /// <summary>Moves an entry (POSIX <c>rename</c>: a compatible existing destination is replaced).</summary>
    public void Rename(string source, string destination)
    {
        UnixFileInfo src = Stat(source) ?? throw Error($"'{source}' does not exist", new FileNotFoundException(source));
        CheckNotInside(source, destination);
        UnixFileInfo? existing = Stat(destination);
        if (existing is not null)
        {
            CheckReplaceable(src, existing, destination);
        }

        if (_overlay is not null)
        {
            OverlayEntry moved = Snapshot(source, src);
            var descendants = TakeOverlayUnder(source);
            if (existing is not null)
            {
                RemoveOverlayUnder(destination);
            }

            _overlay[source] = null;
            _overlay[destination] = moved;
            foreach ((string rest, OverlayEntry? e) in descendants)
            {
                _overlay[destination + rest] = e;
            }
        }
        else
        {
            _fs.Rename(source, destination);
        }

        Record(source, CustomizationChangeKind.Deleted);
        RecordTree(destination, existing is null ? CustomizationChangeKind.Created : CustomizationChangeKind.Replaced);
    }

    /// <summary>Copies an entry (recursively) to a new path, keeping modes, owners, times and extended attributes (like <c>cp -a</c>).</summary>
    public void CopyEntry(string source, string destination)
    {
        UnixFileInfo src = Stat(source) ?? throw Error($"'{source}' does not exist", new FileNotFoundException(source));
        CheckNotInside(source, destination);
        UnixFileInfo? existing = Stat(destination);
        if (existing is not null)
        {
            CheckReplaceable(src, existing, destination);
            if (existing.IsDirectory)
            {
                DeleteTreeSilently(destination);
            }
        }

        if (_overlay is not null)
        {
            OverlayEntry copy = Snapshot(source, src);
            var descendants = CopyOverlayUnder(source);
            RemoveOverlayUnder(destination);
            _overlay[destination] = copy;
            foreach ((string rest, OverlayEntry? e) in descendants)
            {
                _overlay[destination + rest] = e;
            }
        }
        else
        {
            if (existing is { IsDirectory: false })
            {
                _fs.Delete(destination);
            }

            CopyRecursive(_fs, source, destination);
        }

        RecordTree(destination, existing is null ? CustomizationChangeKind.Created : CustomizationChangeKind.Replaced);
    }

    /// <summary>Copies a host file or directory (recursively) into an existing guest directory, like <c>virt-copy-in</c>.</summary>
    public void CopyFromHost(string hostPath, string destinationDirectory)
    {
        UnixFileInfo host = Host.GetEntry(hostPath);
        string destination = Combine(destinationDirectory, BaseName(hostPath));
        UnixFileInfo? existing = Stat(destination);
        if (_overlay is not null)
        {
            RemoveOverlayUnder(destination);
            _overlay[destination] = OverlayEntry.FromBacking(Host, host);
        }
        else
        {
            FileSystemCopy.Copy(Host, hostPath, _fs, destinationDirectory, new FileSystemCopyOptions { CreateDevices = true });
        }

        RecordTree(destination, existing is null ? CustomizationChangeKind.Created : CustomizationChangeKind.Replaced);
    }

    /// <summary>Sets the permission bits of an entry (canonical path).</summary>
    public void SetMode(string canonical, UnixFileMode mode)
    {
        UnixFileInfo existing = Stat(canonical) ?? throw Error($"'{canonical}' does not exist", new FileNotFoundException(canonical));
        if (_overlay is not null)
        {
            Materialize(canonical, existing).Mode = mode;
        }
        else
        {
            _fs.SetMode(canonical, mode);
        }

        Record(canonical, CustomizationChangeKind.AttributesChanged);
    }

    /// <summary>Sets the owner of an entry (canonical path).</summary>
    public void SetOwner(string canonical, uint userId, uint groupId)
    {
        UnixFileInfo existing = Stat(canonical) ?? throw Error($"'{canonical}' does not exist", new FileNotFoundException(canonical));
        if (_overlay is not null)
        {
            OverlayEntry e = Materialize(canonical, existing);
            e.UserId = userId;
            e.GroupId = groupId;
        }
        else
        {
            _fs.SetOwner(canonical, userId, groupId);
        }

        Record(canonical, CustomizationChangeKind.AttributesChanged);
    }

    /// <summary>Sets the access and modification times of an existing entry to now.</summary>
    public void TouchTimes(string canonical)
    {
        if (_overlay is null)
        {
            UnixTime now = UnixTime.Now;
            _fs.SetTimes(canonical, now, now);
        }

        Record(canonical, CustomizationChangeKind.AttributesChanged);
    }

    private UnixFileInfo? RequireWritableFile(string canonical)
    {
        UnixFileInfo? existing = Stat(canonical);
        if (existing is not null && existing.Type != UnixFileType.RegularFile)
        {
            throw Error($"'{canonical}' is not a regular file ({existing.Type})");
        }

        return existing;
    }

    private void CheckReplaceable(UnixFileInfo source, UnixFileInfo existing, string destination)
    {
        if (existing.IsDirectory && !source.IsDirectory)
        {
            throw Error($"'{destination}' is a directory");
        }

        if (!existing.IsDirectory && source.IsDirectory)
        {
            throw Error($"'{destination}' is not a directory");
        }

        if (existing.IsDirectory && ListNames(destination).Count > 0)
        {
            throw Error($"'{destination}' is a directory that is not empty");
        }
    }

    private void CheckNotInside(string source, string destination)
    {
        if (destination == source || destination.StartsWith(source == "/" ? "/" : source + "/", StringComparison.Ordinal))
        {
            throw Error($"cannot move or copy '{source}' into itself ('{destination}')");
        }
    }

    private void DeleteTreeSilently(string canonical)
    {
        if (_overlay is not null)
        {
            RemoveOverlayUnder(canonical);
            _overlay[canonical] = null;
            return;
        }

        List<string> all = EnumerateTree(canonical);
        for (int i = all.Count - 1; i >= 0; i--)
        {
            _fs.Delete(all[i]);
        }
    }

    private void CopyRecursive(IFileSystem fs, string source, string destination)
    {
        UnixFileInfo e = fs.GetEntry(source);
        switch (e.Type)
        {
            case UnixFileType.Directory:
                fs.CreateDirectory(destination, e.Mode);
                foreach (string name in ListNames(source))
                {
                    CopyRecursive(fs, Combine(source, name), Combine(destination, name));
                }

                break;
            case UnixFileType.RegularFile:
                using (Stream from = fs.OpenFile(source, FileMode.Open, FileAccess.Read))
                using (Stream to = fs.OpenFile(destination, FileMode.CreateNew, FileAccess.Write))
                {
                    from.CopyTo(to, CopyBuffer);
                }

                break;
            case UnixFileType.SymbolicLink:
                fs.CreateSymbolicLink(destination, e.LinkTarget!);
                break;
            case UnixFileType.Fifo:
                fs.CreateFifo(destination, e.Mode);
                break;
            case UnixFileType.Socket:
                fs.CreateSocket(destination, e.Mode);
                break;
            default:
                fs.CreateDevice(destination, e.Type, e.DeviceMajor, e.DeviceMinor, e.Mode);
                break;
        }

        if (e.Type != UnixFileType.SymbolicLink)
        {
            fs.SetMode(destination, e.Mode);
        }

        fs.SetOwner(destination, e.UserId, e.GroupId);
        foreach (KeyValuePair<string, byte[]> x in fs.GetXattrs(source))
        {
            fs.SetXattr(destination, x.Key, x.Value);
        }

        if (e.Type != UnixFileType.SymbolicLink)
        {
            fs.SetTimes(destination, e.AccessTime, e.ModificationTime);
        }
    }

    private void Record(string path, CustomizationChangeKind kind) => _changes.Add(new CustomizationChange(path, kind, Operation));

    private void RecordTree(string root, CustomizationChangeKind rootKind)
    {
        List<string> all = EnumerateTree(root);
        Record(root, rootKind);
        for (int i = 1; i < all.Count; i++)
        {
            Record(all[i], CustomizationChangeKind.Created);
        }
    }

    /// <summary>The overlay entry for an existing path, created from what it is now when it has none.</summary>
    private OverlayEntry Materialize(string canonical, UnixFileInfo existing)
    {
        if (_overlay!.TryGetValue(canonical, out OverlayEntry? e) && e is not null)
        {
            return e;
        }

        e = Snapshot(canonical, existing);
        _overlay[canonical] = e;
        return e;
    }

    private OverlayEntry Snapshot(string canonical, UnixFileInfo existing)
    {
        if (_overlay!.TryGetValue(canonical, out OverlayEntry? e) && e is not null)
        {
            return new OverlayEntry
            {
                Type = e.Type,
                Mode = e.Mode,
                UserId = e.UserId,
                GroupId = e.GroupId,
                Data = e.Data,
                LinkTarget = e.LinkTarget,
                BackingFileSystem = e.BackingFileSystem,
                BackingPath = e.BackingPath,
                Size = e.Size,
            };
        }

        (IFileSystem? fs, string? path) = Backing(canonical);
        return new OverlayEntry
        {
            Type = existing.Type,
            Mode = existing.Mode,
            UserId = existing.UserId,
            GroupId = existing.GroupId,
            LinkTarget = existing.LinkTarget,
            BackingFileSystem = fs,
            BackingPath = path,
            Size = existing.Size,
        };
    }

    private void RemoveOverlayUnder(string canonical)
    {
        string prefix = canonical == "/" ? "/" : canonical + "/";
        var keys = new List<string>();
        foreach (string k in _overlay!.Keys)
        {
            if (k.StartsWith(prefix, StringComparison.Ordinal) || k == canonical)
            {
                keys.Add(k);
            }
        }

        foreach (string k in keys)
        {
            _overlay.Remove(k);
        }
    }

    private List<(string Suffix, OverlayEntry? Entry)> TakeOverlayUnder(string canonical)
    {
        List<(string Suffix, OverlayEntry? Entry)> list = CopyOverlayUnder(canonical);
        foreach ((string suffix, _) in list)
        {
            _overlay!.Remove(canonical + suffix);
        }

        return list;
    }

    private List<(string Suffix, OverlayEntry? Entry)> CopyOverlayUnder(string canonical)
    {
        string prefix = canonical + "/";
        var list = new List<(string, OverlayEntry?)>();
        foreach (KeyValuePair<string, OverlayEntry?> kv in _overlay!)
        {
            if (kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            {
                list.Add((kv.Key[canonical.Length..], kv.Value));
            }
        }

        return list;
    }
}
