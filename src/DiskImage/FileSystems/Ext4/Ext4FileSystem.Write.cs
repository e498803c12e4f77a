using System.Buffers.Binary;
using System.Text;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

// The IFileSystem changes of a writable ext4 file system, and the checks made before writing.
public sealed partial class Ext4FileSystem
{

    /// <summary>Drops cached inodes when the cache grows large, keeping those of open streams and the root.</summary>
    private void TrimInodeCache()
    {
        if (_inodeCache.Count <= InodeCacheLimit)
        {
            return;
        }

        var keep = new List<Ext4Inode>();
        foreach (uint number in _openCounts.Keys)
        {
            if (_inodeCache.TryGetValue(number, out Ext4Inode? inode))
            {
                keep.Add(inode);
            }
        }

        _inodeCache.Clear();
        _inodeCache[_root.Inode.Number] = _root.Inode;
        foreach (Ext4Inode inode in keep)
        {
            _inodeCache[inode.Number] = inode;
        }
    }

    /// <summary>Reads bytes at a device offset (for streams).</summary>
    internal void ReadBytes(long offset, Span<byte> buffer) => _device.ReadExactly(offset, buffer);

    /// <summary>Throws when a regular file cannot grow to <paramref name="size"/> bytes.</summary>
    internal void CheckFileSize(Ext4Inode inode, long size)
    {
        long maxBlocks = inode.HasExtents ? MaxLogicalBlocks : BlockMaps.BlockMapCapacity;
        if ((size + _sb.BlockSize - 1) / _sb.BlockSize > maxBlocks)
        {
            throw new IOException($"The file would exceed the largest size this file system supports ({maxBlocks * _sb.BlockSize} bytes).");
        }
    }

    /// <summary>Records a larger size (sets large_file when a file reaches 2 GiB).</summary>
    internal void NoteFileSize(Ext4Inode inode)
    {
        if (inode.Size > int.MaxValue)
        {
            SetReadOnlyCompatibleFeature(Ext4ReadOnlyCompatibleFeatures.LargeFile);
        }
    }

    /// <summary>Called when a writable stream closes: releases an inode unlinked while it was open.</summary>
    internal void CloseStream(Ext4Inode inode)
    {
        if (_disposed || !_openCounts.TryGetValue(inode.Number, out int n))
        {
            return;
        }

        if (n > 1)
        {
            _openCounts[inode.Number] = n - 1;
            return;
        }

        _openCounts.Remove(inode.Number);
        bool op = BeginOperation();
        try
        {
            if (_dirtyInodes.Remove(inode))
            {
                WriteInodeNow(inode);
            }

            if (_pendingRelease.Remove(inode.Number))
            {
                Links.ReleaseInode(inode);
            }
        }
        catch
        {
            AbortOperation(op);
            throw;
        }

        EndOperation(op);
    }

    /// <inheritdoc />
    public Stream OpenFile(string path, FileMode mode, FileAccess access)
    {
        using Lock.Scope held = _sync.EnterScope();
        ThrowIfDisposed();
        TrimInodeCache();
        PathResolver.ValidateOpen(mode, access, IsReadOnly);
        if (IsReadOnly)
        {
            ResolvedPath<Ext4Node> existing = PathResolver.ResolveExisting(this, path, followFinal: true);
            Ext4Inode found = existing.Node!.Inode;
            CheckRegularFile(found, path);
            return OpenContent(found);
        }

        using Ext4Operation op = new(this);
        ResolvedPath<Ext4Node> r = PathResolver.Resolve(this, path, followFinal: true);
        Ext4Inode inode;
        if (r.Node is null)
        {
            if (mode is FileMode.Open or FileMode.Truncate)
            {
                throw new FileNotFoundException($"Could not find file '{path}'.", path);
            }

            FileSystemPath.ValidateNewName(r.Name, path);
            inode = Links.CreateInode(r, UnixFileType.RegularFile, 0x1A4, null);
        }
        else
        {
            if (mode == FileMode.CreateNew)
            {
                throw new IOException($"The file '{path}' already exists.");
            }

            inode = r.Node.Inode;
            CheckRegularFile(inode, path);
            if ((access & FileAccess.Write) != 0 && inode.HasInlineData)
            {
                FormatError.Unsupported($"'{path}' keeps its data inline in the inode; writing inline data is not supported.");
            }

            if (mode is FileMode.Create or FileMode.Truncate && inode.Size != 0)
            {
                TruncateBlocks(inode, 0);
                UnixTime now = Now();
                inode.SetModificationTime(now);
                inode.SetChangeTime(now);
                WriteInode(inode);
            }
        }

        if ((access & FileAccess.Write) == 0 && inode.HasInlineData)
        {
            op.Complete();
            return OpenContent(inode);
        }

        // Every stream maps blocks live, and an unlinked file's blocks are kept until its last stream closes.
        _openCounts[inode.Number] = _openCounts.GetValueOrDefault(inode.Number) + 1;
        op.Complete();
        return new Ext4WritableFileStream(this, inode, access, mode == FileMode.Append);
    }

    private static void CheckRegularFile(Ext4Inode inode, string path)
    {
        if (inode.Type == UnixFileType.Directory)
        {
            throw new UnauthorizedAccessException($"'{path}' is a directory.");
        }

        if (inode.Type != UnixFileType.RegularFile)
        {
            throw new IOException($"'{path}' is not a regular file ({inode.Type}).");
        }

        if ((inode.Flags & Ext4Inode.EncryptFlag) != 0)
        {
            FormatError.Unsupported($"'{path}' is encrypted (fscrypt); reading or writing its content is not supported.");
        }
    }

    /// <inheritdoc />
    public void CreateDirectory(string path, UnixFileMode mode = UnixFileModeBits.Directory)
    {
        using Lock.Scope held = _sync.EnterScope();
        int bits = UnixFileModeBits.ToBits(mode, nameof(mode));
        using Ext4Operation op = new(this);
        ResolvedPath<Ext4Node> r = NewEntry(path);
        Ext4Inode parent = r.Parent.Inode;
        Links.CheckCanAddSubdirectory(parent, path);
        Links.CreateInode(r, UnixFileType.Directory, bits, null);
        op.Complete();
    }

    /// <inheritdoc />
    public void CreateSymbolicLink(string path, string target)
    {
        using Lock.Scope held = _sync.EnterScope();
        using Ext4Operation op = new(this);
        ArgumentException.ThrowIfNullOrEmpty(target);
        byte[] bytes = UnixPathEncoding.GetBytes(target);
        if (bytes.Length > 4095)
        {
            throw new PathTooLongException("A symbolic link target is limited to 4095 bytes.");
        }

        if (bytes.Length > _sb.BlockSize - 1)
        {
            throw new PathTooLongException($"A symbolic link target is limited to {_sb.BlockSize - 1} bytes on this file system.");
        }

        Links.CreateInode(NewEntry(path), UnixFileType.SymbolicLink, 0x1FF, inode =>
        {
            inode.Size = bytes.Length;
            if (bytes.Length < 60)
            {
                inode.Flags &= ~Ext4Inode.ExtentsFlag;
                inode.BlockAreaWritable.Clear();
                bytes.CopyTo(inode.BlockAreaWritable);
                return;
            }

            if (HasExtentsFeature)
            {
                inode.Flags |= Ext4Inode.ExtentsFlag;
                Ext4ExtentNode.InitializeExtentRoot(inode);
            }

            byte[] block = new byte[_sb.BlockSize];
            bytes.CopyTo(block, 0);
            long physical = MapOrAllocateBlock(inode, 0);
            WriteFsBlock(physical, block);
        });
        op.Complete();
    }

    /// <inheritdoc />
    public void CreateHardLink(string path, string existingPath)
    {
        using Lock.Scope held = _sync.EnterScope();
        using Ext4Operation op = new(this);
        ThrowIfNotWritable();
        Ext4Inode existing = PathResolver.ResolveExisting(this, existingPath, followFinal: false).Node!.Inode;
        if (existing.Type == UnixFileType.Directory)
        {
            throw new IOException($"'{existingPath}' is a directory; directories cannot be hard-linked.");
        }

        ResolvedPath<Ext4Node> r = NewEntry(path);
        if (existing.LinksCount >= Ext4InodeLinker.LinkMax)
        {
            throw new IOException($"'{existingPath}' has too many links.");
        }

        Ext4Inode parent = r.Parent.Inode;
        Directories.AddDirectoryEntry(parent, r.Name, existing.Number, existing.Type);
        existing.LinksCount++;
        UnixTime now = Now();
        existing.SetChangeTime(now);
        WriteInode(existing);
        Links.TouchDirectory(parent, now);
        op.Complete();
    }

    /// <inheritdoc />
    public void CreateDevice(string path, UnixFileType type, int major, int minor, UnixFileMode mode = UnixFileModeBits.Device)
    {
        using Lock.Scope held = _sync.EnterScope();
        using Ext4Operation op = new(this);
        FileSystemWriteChecks.CheckDevice(type, major, minor);
        int bits = UnixFileModeBits.ToBits(mode, nameof(mode));
        Links.CreateInode(NewEntry(path), type, bits, inode => inode.SetDevice(major, minor));
        op.Complete();
    }

    /// <inheritdoc />
    public void CreateFifo(string path, UnixFileMode mode = UnixFileModeBits.File)
    {
        using Lock.Scope held = _sync.EnterScope();
        int bits = UnixFileModeBits.ToBits(mode, nameof(mode));
        using Ext4Operation op = new(this);
        Links.CreateInode(NewEntry(path), UnixFileType.Fifo, bits, null);
        op.Complete();
    }

    /// <inheritdoc />
    public void CreateSocket(string path, UnixFileMode mode = UnixFileModeBits.Directory)
    {
        using Lock.Scope held = _sync.EnterScope();
        int bits = UnixFileModeBits.ToBits(mode, nameof(mode));
        using Ext4Operation op = new(this);
        Links.CreateInode(NewEntry(path), UnixFileType.Socket, bits, null);
        op.Complete();
    }

    /// <inheritdoc />
    public void Delete(string path)
    {
        using Lock.Scope held = _sync.EnterScope();
        using Ext4Operation op = new(this);
        ThrowIfNotWritable();
        ResolvedPath<Ext4Node> r = PathResolver.ResolveExisting(this, path, followFinal: false);
        if (r.IsRoot)
        {
            throw new IOException("The root directory cannot be deleted.");
        }

        Ext4Inode node = r.Node!.Inode;
        Ext4Inode parent = r.Parent.Inode;
        bool isDir = node.Type == UnixFileType.Directory;
        if (isDir && !IsDirectoryEmpty(node))
        {
            throw new IOException($"The directory '{path}' is not empty.");
        }

        if (!Directories.RemoveDirectoryEntry(parent, r.Name))
        {
            FormatError.Throw("ext4 directory", -1, $"directory inode {parent.Number}: the entry '{r.Name}' vanished.");
        }

        UnixTime now = Now();
        if (isDir)
        {
            Links.DecrementDirectoryLinks(parent);
        }

        Links.TouchDirectory(parent, now);
        Links.Unlink(node, now);
        op.Complete();
    }

    /// <inheritdoc />
    public void Rename(string sourcePath, string destinationPath)
    {
        using Lock.Scope held = _sync.EnterScope();
        using Ext4Operation op = new(this);
        ThrowIfNotWritable();
        ResolvedPath<Ext4Node> src = PathResolver.ResolveExisting(this, sourcePath, followFinal: false);
        ResolvedPath<Ext4Node> dst = PathResolver.Resolve(this, destinationPath, followFinal: false);
        FileSystemWriteChecks.CheckRenameEnds(src, dst, destinationPath);
        Ext4Inode node = src.Node!.Inode;
        if (dst.Node is not null && dst.Node.Inode.Number == node.Number)
        {
            return;
        }

        bool isDir = node.Type == UnixFileType.Directory;
        Ext4Inode? replaced = dst.Node?.Inode;
        FileSystemWriteChecks.CheckRenameKinds(src, dst, isDir, replaced is null ? null : replaced.Type == UnixFileType.Directory, sourcePath, destinationPath);
        Ext4Inode srcParent = src.Parent.Inode;
        Ext4Inode dstParent = dst.Parent.Inode;
        bool moves = srcParent.Number != dstParent.Number;
        if (replaced is not null)
        {
            if (replaced.Type == UnixFileType.Directory && !IsDirectoryEmpty(replaced))
            {
                throw new IOException($"The directory '{destinationPath}' is not empty.");
            }
        }
        else if (isDir && moves)
        {
            Links.CheckCanAddSubdirectory(dstParent, destinationPath);
        }

        UnixTime now = Now();
        if (replaced is not null)
        {
            if (!Directories.RemoveDirectoryEntry(dstParent, dst.Name))
            {
                FormatError.Throw("ext4 directory", -1, $"directory inode {dstParent.Number}: the entry '{dst.Name}' vanished.");
            }

            if (replaced.Type == UnixFileType.Directory)
            {
                Links.DecrementDirectoryLinks(dstParent);
            }
        }

        Directories.AddDirectoryEntry(dstParent, dst.Name, node.Number, node.Type);
        if (!Directories.RemoveDirectoryEntry(srcParent, src.Name))
        {
            FormatError.Throw("ext4 directory", -1, $"directory inode {srcParent.Number}: the entry '{src.Name}' vanished.");
        }

        if (isDir && moves)
        {
            Directories.SetParentEntry(node, dstParent.Number);
            Links.DecrementDirectoryLinks(srcParent);
            Links.IncrementDirectoryLinks(dstParent);
        }

        node.SetChangeTime(now);
        WriteInode(node);
        Links.TouchDirectory(srcParent, now);
        if (moves)
        {
            Links.TouchDirectory(dstParent, now);
        }

        if (replaced is not null)
        {
            Links.Unlink(replaced, now);
        }
        op.Complete();
    }

    /// <inheritdoc />
    public void SetMode(string path, UnixFileMode mode)
    {
        using Lock.Scope held = _sync.EnterScope();
        int bits = UnixFileModeBits.ToBits(mode, nameof(mode));
        using Ext4Operation op = new(this);
        Ext4Inode inode = Changeable(path);
        inode.Mode = (ushort)((inode.Mode & 0xF000) | bits);
        inode.SetChangeTime(Now());
        WriteInode(inode);
        op.Complete();
    }

    /// <inheritdoc />
    public void SetOwner(string path, uint userId, uint groupId)
    {
        using Lock.Scope held = _sync.EnterScope();
        using Ext4Operation op = new(this);
        Ext4Inode inode = Changeable(path);
        inode.UserId = userId;
        inode.GroupId = groupId;
        inode.SetChangeTime(Now());
        WriteInode(inode);
        op.Complete();
    }

    /// <inheritdoc />
    public void SetTimes(string path, UnixTime? accessTime, UnixTime? modificationTime)
    {
        using Lock.Scope held = _sync.EnterScope();
        using Ext4Operation op = new(this);
        Ext4Inode inode = Changeable(path);
        if (accessTime is { } a)
        {
            inode.SetAccessTime(a);
        }

        if (modificationTime is { } m)
        {
            inode.SetModificationTime(m);
        }

        inode.SetChangeTime(Now());
        WriteInode(inode);
        op.Complete();
    }

    /// <inheritdoc />
    public void SetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        using Lock.Scope held = _sync.EnterScope();
        using Ext4Operation op = new(this);
        XattrName.Validate(name);
        if (value.Length > 65536)
        {
            throw new ArgumentException("An extended attribute value is limited to 64 KiB.", nameof(value));
        }

        Ext4Inode inode = Changeable(path);
        inode.SetChangeTime(Now());
        SetXattrCore(inode, name, value);
        WriteInode(inode);
        op.Complete();
    }

    /// <inheritdoc />
    public bool RemoveXattr(string path, string name)
    {
        using Lock.Scope held = _sync.EnterScope();
        using Ext4Operation op = new(this);
        XattrName.Validate(name);
        Ext4Inode inode = Changeable(path);
        if (!RemoveXattrCore(inode, name))
        {
            op.Complete();
            return false;
        }

        inode.SetChangeTime(Now());
        WriteInode(inode);
        op.Complete();
        return true;
    }

    /// <inheritdoc />
    public void Flush()
    {
        using Lock.Scope held = _sync.EnterScope();
        ThrowIfDisposed();
        if (_writable)
        {
            Commit();
            _device.Flush();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        using Lock.Scope held = _sync.EnterScope();
        if (_disposed)
        {
            return;
        }

        try
        {
            if (_writable)
            {
                // Streams still open are abandoned: their inodes are written, unlinked ones are released.
                _openCounts.Clear();
                foreach (uint number in _pendingRelease)
                {
                    if (_inodeCache.TryGetValue(number, out Ext4Inode? inode))
                    {
                        _dirtyInodes.Remove(inode);
                        Links.ReleaseInode(inode);
                    }
                }

                _pendingRelease.Clear();
                try
                {
                    Commit();
                }
                catch (IOException)
                {
                    // One more attempt (a transient failure); a second failure leaves the committed part to the replay at the next open.
                    Commit();
                }

                _device.Flush();
            }
        }
        finally
        {
            _disposed = true;
            if (!_leaveOpen)
            {
                _device.Dispose();
            }
        }
    }

    private void ThrowIfNotWritable()
    {
        ThrowIfDisposed();
        TrimInodeCache();
        if (!_writable)
        {
            PathResolver.ThrowReadOnly();
        }
    }

    private Ext4Inode Changeable(string path)
    {
        ThrowIfNotWritable();
        return PathResolver.ResolveExisting(this, path, followFinal: false).Node!.Inode;
    }

    private ResolvedPath<Ext4Node> NewEntry(string path)
    {
        ThrowIfNotWritable();
        ResolvedPath<Ext4Node> r = PathResolver.Resolve(this, path, followFinal: false);
        if (r.Node is not null)
        {
            throw new IOException($"'{path}' already exists.");
        }

        FileSystemPath.ValidateNewName(r.Name, path);
        return r;
    }
}
