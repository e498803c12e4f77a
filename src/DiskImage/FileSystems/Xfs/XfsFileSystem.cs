using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// An XFS file system on a <see cref="BlockDevice"/>, read in managed code behind the
/// <see cref="IFileSystem"/> contract, and written when opened with <see cref="XfsOpenOptions.Writable"/>
/// (see there for how, and what is refused); opened read-only, every change is refused with
/// <see cref="NotSupportedException"/>. Every number read from the device is validated; corrupt
/// structures throw <see cref="InvalidDataException"/>. Not thread-safe.
/// </summary>
/// <remarks>
/// Read: version 5 (CRC) and version 4 superblocks; inode versions 1–3; data forks in local, extents
/// and btree format of any depth; shortform, block, leaf and node directories; shortform, leaf and
/// node attributes with local and remote values (POSIX ACLs returned as <c>system.posix_acl_*</c>);
/// local and remote symbolic links; devices; ftype, sparse inodes, finobt, inobtcount, bigtime,
/// nrext64, reflink (shared extents read like others), rmapbt, meta_uuid and parent pointers (not
/// listed as attributes). Refused with <see cref="NotSupportedException"/>: version 1–3 superblocks,
/// version 1 directories and unknown incompatible features. A log that needs recovery is not
/// replayed: the reader sees the metadata as last written in place.
/// </remarks>
public sealed class XfsFileSystem : IFileSystem, IPathWalker<XfsNode>
{
    private const int DirectoryCacheSize = 64;
    private readonly XfsVolume _volume;
    private readonly bool _leaveOpen;
    private readonly XfsNode _root;
    private readonly XfsOpenOptions _options;
    private XfsFileSystem? _reader;
    private XfsWritableTree? _tree;
    private XfsFormatOptions? _rebuild;
    private readonly Dictionary<ulong, Dictionary<string, ulong>> _directories = [];
    private bool _disposed;
    private bool _broken;

    private XfsFileSystem(XfsVolume volume, bool leaveOpen, XfsOpenOptions options)
    {
        _volume = volume;
        _leaveOpen = leaveOpen;
        _options = options;
        XfsInode root = volume.ReadInode(volume.SuperBlock.RootInode);
        if (root.Type != UnixFileType.Directory)
        {
            FormatError.Throw("XFS root inode", -1, "is not a directory.");
        }

        _root = new XfsNode(root);
    }

    /// <inheritdoc />
    public bool IsReadOnly => _tree is null;

    /// <summary>Block size in bytes.</summary>
    public int BlockSize => _volume.SuperBlock.BlockSize;

    /// <summary>Number of data blocks.</summary>
    public long BlockCount => _volume.SuperBlock.DataBlocks;

    /// <summary>The file-system UUID (<c>sb_uuid</c>).</summary>
    public Guid Uuid => _volume.SuperBlock.Uuid;

    /// <summary>The volume label (<c>sb_fname</c>).</summary>
    public string Label => _volume.SuperBlock.Label;

    /// <summary>The superblock version: 5 (metadata CRCs) or 4.</summary>
    public int Version => _volume.SuperBlock.Version;

    /// <summary>Incompatible features (none on version 4).</summary>
    public XfsIncompatibleFeatures IncompatibleFeatures => _volume.SuperBlock.Incompatible;

    /// <summary>Read-only compatible features (none on version 4).</summary>
    public XfsReadOnlyCompatibleFeatures ReadOnlyCompatibleFeatures => _volume.SuperBlock.ReadOnlyCompatible;

    XfsNode IPathWalker<XfsNode>.Root => _root;

    /// <summary>Whether the device starts with the XFS superblock magic (a cheap probe; does not validate).</summary>
    public static bool IsXfs(BlockDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        Span<byte> magic = stackalloc byte[4];
        return device.Length >= 512 && device.Read(0, magic) == 4 && BinaryPrimitives.ReadUInt32BigEndian(magic) == XfsSuperBlock.Magic;
    }

    /// <summary>Opens the XFS file system on <paramref name="device"/> for reading.</summary>
    /// <param name="device">The device holding the file system from byte 0.</param>
    /// <param name="options">Checksum policy; null for <see cref="XfsOpenOptions.Default"/>.</param>
    /// <param name="leaveOpen">Whether disposing the file system leaves <paramref name="device"/> open.</param>
    /// <exception cref="InvalidDataException">The superblock or root inode is corrupt; opened for writing, also any AG header,
    /// AG btree, directory, attribute or log record the load reads.</exception>
    /// <exception cref="NotSupportedException">The file system uses a feature this reader does not support.</exception>
    public static XfsFileSystem Open(BlockDevice device, XfsOpenOptions? options = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(device);
        options ??= XfsOpenOptions.Default;
        if (device.Length < 512)
        {
            FormatError.Throw("XFS superblock", 0, "the device is too small to hold an XFS file system.");
        }

        byte[] sector = new byte[(int)Math.Min(device.Length, 32768)];
        device.ReadExactly(0, sector);
        XfsSuperBlock sb = XfsSuperBlock.Parse(sector, device.Length, options.VerifyChecksums || options.Writable);
        var fs = new XfsFileSystem(new XfsVolume(device, sb, options.VerifyChecksums || options.Writable), leaveOpen, options);
        if (options.Writable)
        {
            fs._rebuild = XfsWriteCheck.Check(device, sb);
            XfsAgHeaders.Validate(fs._volume);
            fs.LoadTree();
        }

        return fs;
    }

    /// <summary>Reads the tree of the device (as it is now) into the changeable tree.</summary>
    private void LoadTree()
    {
        _reader = OpenReader();
        _tree = XfsWritableTree.Load(_reader);
    }

    /// <summary>A reader of the device as it is now (the changeable tree reads unchanged file content through it).</summary>
    private XfsFileSystem OpenReader()
    {
        BlockDevice device = _volume.Device;
        byte[] sector = new byte[(int)Math.Min(device.Length, 32768)];
        device.ReadExactly(0, sector);
        XfsSuperBlock sb = XfsSuperBlock.Parse(sector, device.Length, verifyChecksum: true);
        return new XfsFileSystem(new XfsVolume(device, sb, verifyChecksums: true), leaveOpen: true, XfsOpenOptions.Default);
    }

    /// <summary>Opens the content of inode <paramref name="number"/> (a regular file) for reading.</summary>
    internal Stream OpenInode(ulong number)
    {
        XfsInode inode = _volume.ReadInode(number);
        if (inode.Type != UnixFileType.RegularFile)
        {
            FormatError.Throw($"XFS inode {number}", -1, "is no longer a regular file.");
        }

        return new XfsFileStream(_volume, inode.Size, XfsBlockMap.Read(_volume, inode, attributeFork: false));
    }

    /// <summary>The data-fork extents of inode <paramref name="number"/> (a regular file), or null when it is no longer one.</summary>
    internal XfsExtent[]? DataExtentsOf(ulong number)
    {
        XfsInode inode = _volume.ReadInode(number);
        return inode.Type == UnixFileType.RegularFile && inode.Format is XfsForkFormat.Extents or XfsForkFormat.Btree
            ? XfsBlockMap.Read(_volume, inode, attributeFork: false)
            : inode.Type == UnixFileType.RegularFile ? [] : null;
    }

    /// <summary>
    /// Writes an empty XFS file system over the whole of <paramref name="device"/> as <c>mkfs.xfs</c> 6.1 lays it out for
    /// the profile: allocation groups, headers, free-space, inode, free-inode and refcount btrees, the root directory
    /// and realtime inodes in the first inode chunk, and a clean internal log.
    /// </summary>
    /// <param name="device">A writable device; its length is the file-system size (rounded down to whole blocks).</param>
    /// <param name="options">Profile, geometry and the identifiers that make the result reproducible; null for the defaults.</param>
    /// <exception cref="ArgumentException">The device is too small, or an option is out of range.</exception>
    /// <exception cref="NotSupportedException">The device is not writable.</exception>
    public static void Format(BlockDevice device, XfsFormatOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (!device.CanWrite)
        {
            throw new NotSupportedException("The device is not writable.");
        }

        options ??= new XfsFormatOptions();
        new XfsBuilder(XfsBuilder.EmptyTree(options), options, CancellationToken.None).Build(device, null);
    }

    /// <summary>
    /// Formats <paramref name="device"/> and fills it with the tree of <paramref name="source"/> in one pass (like
    /// <c>mkfs.xfs -p</c>, but bulk-loaded): types, permission bits, owners, nanosecond times, sizes, link targets, device
    /// numbers, hard links, extended attributes (<c>user.</c>, <c>trusted.</c>, <c>security.</c>, POSIX ACLs) and holes are preserved.
    /// </summary>
    /// <param name="device">A writable device; its length is the file-system size (see <see cref="ComputeBuildSize"/>).</param>
    /// <param name="source">The tree to copy; its root directory's mode, owner, times and xattrs go to the new root.</param>
    /// <param name="options">Format options and size margins; null for the defaults.</param>
    /// <param name="cancellationToken">Stops the build; the device then holds an incomplete file system.</param>
    /// <exception cref="OperationCanceledException">The build was cancelled.</exception>
    /// <exception cref="IOException">The tree does not fit on the device, or reading the source failed.</exception>
    /// <exception cref="ArgumentException">An option is out of range, the device is too small, or a POSIX ACL xattr of the source is malformed.</exception>
    /// <exception cref="NotSupportedException">The device is not writable, the profile is not written, or the tree has something
    /// this builder cannot store (a name over 255 bytes, a symlink target over 1023 bytes, xattrs needing more than one leaf
    /// block, an xattr outside the user/trusted/security namespaces and POSIX ACLs).</exception>
    public static void Build(BlockDevice device, IFileSystem source, XfsBuildOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(source);
        if (!device.CanWrite)
        {
            throw new NotSupportedException("The device is not writable.");
        }

        options = ValidateBuildOptions(options);
        (List<XfsBuildItem> items, _) = XfsTreeScanner.Scan(source, sizingOnly: false, cancellationToken);
        new XfsBuilder(items, options.Format, cancellationToken).Build(device, source);
    }

    /// <summary>Builds from a host directory (through <see cref="Host.HostDirectoryFileSystem"/>); see <see cref="Build(BlockDevice, IFileSystem, XfsBuildOptions?, CancellationToken)"/>.</summary>
    /// <exception cref="DirectoryNotFoundException"><paramref name="sourceDirectory"/> does not exist.</exception>
    /// <exception cref="PlatformNotSupportedException">Not running on Linux (reading host metadata needs statx and llistxattr).</exception>
    public static void Build(BlockDevice device, string sourceDirectory, XfsBuildOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentException.ThrowIfNullOrEmpty(sourceDirectory);
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("Building from a host directory needs Linux (statx, llistxattr).");
        }

        using var source = new Host.HostDirectoryFileSystem(sourceDirectory);
        Build(device, source, options, cancellationToken);
    }

    /// <summary>
    /// The smallest device size in bytes (to 1 MiB) that <see cref="Build(BlockDevice, IFileSystem, XfsBuildOptions?, CancellationToken)"/>
    /// can fill with <paramref name="source"/>, plus <see cref="XfsBuildOptions.ExtraPercent"/> and <see cref="XfsBuildOptions.ExtraBytes"/>,
    /// rounded up to the block size. Reads the tree's metadata, not its content.
    /// </summary>
    /// <exception cref="ArgumentException">An option is out of range, or a POSIX ACL xattr of the source is malformed.</exception>
    /// <exception cref="NotSupportedException">The tree has something XFS cannot hold (see <see cref="Build(BlockDevice, IFileSystem, XfsBuildOptions?, CancellationToken)"/>).</exception>
    public static long ComputeBuildSize(IFileSystem source, XfsBuildOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        options = ValidateBuildOptions(options);
        (List<XfsBuildItem> items, _) = XfsTreeScanner.Scan(source, sizingOnly: true, CancellationToken.None);
        long min = new XfsBuilder(items, options.Format, CancellationToken.None).SmallestSize();
        long size = min + (min / 100 * options.ExtraPercent) + options.ExtraBytes;
        int bs = options.Format.BlockSize;
        return (size + bs - 1) / bs * bs;
    }

    private static XfsBuildOptions ValidateBuildOptions(XfsBuildOptions? options)
    {
        options ??= new XfsBuildOptions();
        ArgumentNullException.ThrowIfNull(options.Format, nameof(options));
        if (options.ExtraPercent is < 0 or > 1000)
        {
            throw new ArgumentException("ExtraPercent must be between 0 and 1000.", nameof(options));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(options.ExtraBytes, nameof(options));
        return options;
    }

    /// <inheritdoc />
    public UnixFileInfo GetEntry(string path)
    {
        if (Tree() is { } t)
        {
            return t.GetEntry(path);
        }

        ResolvedPath<XfsNode> r = Existing(path, followFinal: false);
        return ToInfo(r.Node!.Inode, r.Path);
    }

    /// <inheritdoc />
    public bool Exists(string path)
    {
        if (Tree() is { } t)
        {
            return t.Exists(path);
        }

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
        if (Tree() is { } t)
        {
            return t.EnumerateDirectory(path);
        }

        ResolvedPath<XfsNode> r = Existing(path, followFinal: true);
        if (r.Node!.Inode.Type != UnixFileType.Directory)
        {
            throw new IOException($"'{path}' is not a directory.");
        }

        Dictionary<string, ulong> entries = GetDirectory(r.Node.Inode);
        var list = new List<UnixFileInfo>(entries.Count);
        foreach (KeyValuePair<string, ulong> kv in entries)
        {
            list.Add(ToInfo(_volume.ReadInode(kv.Value), FileSystemPath.Combine(r.Path, kv.Key)));
        }

        return list;
    }

    /// <inheritdoc />
    public Stream OpenFile(string path, FileMode mode, FileAccess access)
    {
        if (Tree() is { } t)
        {
            return t.OpenFile(path, mode, access);
        }

        PathResolver.ValidateOpen(mode, access, IsReadOnly);
        XfsInode inode = PathResolver.ResolveExisting(this, path, followFinal: true).Node!.Inode;
        if (inode.Type == UnixFileType.Directory)
        {
            throw new UnauthorizedAccessException($"'{path}' is a directory.");
        }

        if (inode.Type != UnixFileType.RegularFile)
        {
            throw new IOException($"'{path}' is not a regular file.");
        }

        return new XfsFileStream(_volume, inode.Size, XfsBlockMap.Read(_volume, inode, attributeFork: false));
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, byte[]> GetXattrs(string path)
    {
        if (Tree() is { } t)
        {
            return t.GetXattrs(path);
        }

        XfsInode inode = Existing(path, followFinal: false).Node!.Inode;
        return XfsAttributeReader.Read(_volume, inode);
    }

    /// <inheritdoc />
    public void CreateDirectory(string path, UnixFileMode mode = UnixFileModeBits.Directory) => Writable().CreateDirectory(path, mode);

    /// <inheritdoc />
    public void CreateSymbolicLink(string path, string target) => Writable().CreateSymbolicLink(path, target);

    /// <inheritdoc />
    public void CreateHardLink(string path, string existingPath) => Writable().CreateHardLink(path, existingPath);

    /// <inheritdoc />
    public void CreateDevice(string path, UnixFileType type, int major, int minor, UnixFileMode mode = UnixFileModeBits.Device) =>
        Writable().CreateDevice(path, type, major, minor, mode);

    /// <inheritdoc />
    public void CreateFifo(string path, UnixFileMode mode = UnixFileModeBits.File) => Writable().CreateFifo(path, mode);

    /// <inheritdoc />
    public void CreateSocket(string path, UnixFileMode mode = UnixFileModeBits.Directory) => Writable().CreateSocket(path, mode);

    /// <inheritdoc />
    public void Delete(string path) => Writable().Delete(path);

    /// <inheritdoc />
    public void Rename(string sourcePath, string destinationPath) => Writable().Rename(sourcePath, destinationPath);

    /// <inheritdoc />
    public void SetMode(string path, UnixFileMode mode) => Writable().SetMode(path, mode);

    /// <inheritdoc />
    public void SetOwner(string path, uint userId, uint groupId) => Writable().SetOwner(path, userId, groupId);

    /// <inheritdoc />
    public void SetTimes(string path, UnixTime? accessTime, UnixTime? modificationTime) => Writable().SetTimes(path, accessTime, modificationTime);

    /// <inheritdoc />
    public void SetXattr(string path, string name, ReadOnlySpan<byte> value) => Writable().SetXattr(path, name, value);

    /// <inheritdoc />
    public bool RemoveXattr(string path, string name) => Writable().RemoveXattr(path, name);

    /// <summary>
    /// Writes the changes made since the last flush (when opened with <see cref="XfsOpenOptions.Writable"/>): the tree is
    /// laid out again into a scratch file, keeping every inode number and the data of every unchanged file where they are,
    /// and what differs is copied onto the device; see <see cref="XfsOpenOptions.Writable"/>.
    /// A flush that throws leaves the changes pending (a later flush, or Dispose, tries again) and the device as it was,
    /// unless the message says that undoing a failed copy failed too: then the device may be inconsistent and every
    /// further call on this object throws <see cref="IOException"/>.
    /// </summary>
    /// <exception cref="IOException">The tree no longer fits in the file system (the message starts "No space left"), the scratch
    /// file cannot be written, or writing the device failed.</exception>
    /// <exception cref="NotSupportedException">The tree holds something the writer cannot store; the device is unchanged.</exception>
    public void Flush()
    {
        ThrowIfDisposed();
        ThrowIfBroken();
        if (_tree is { Dirty: true } tree)
        {
            bool consistent = true;
            try
            {
                XfsSuperBlock sb = _volume.SuperBlock;
                Dictionary<long, ulong> inodes = XfsRewriter.Rewrite(_volume.Device, sb.DataBlocks * sb.BlockSize, _rebuild!, sb.SectorSize, tree, ref consistent);
                consistent = false;
                XfsFileSystem old = _reader!;
                _reader = OpenReader();
                old._volume.Retire();
                tree.Rebase(_reader, inodes);
                consistent = true;
            }
            finally
            {
                _broken |= !consistent;
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            if (!_broken)
            {
                Flush();
            }
        }
        finally
        {
            _disposed = true;
            _tree?.Dispose();
            if (!_leaveOpen)
            {
                _volume.Device.Dispose();
            }
        }
    }

    XfsNode? IPathWalker<XfsNode>.Lookup(XfsNode directory, string name)
    {
        if (directory.Inode.Type != UnixFileType.Directory)
        {
            return null;
        }

        return GetDirectory(directory.Inode).TryGetValue(name, out ulong ino) ? new XfsNode(_volume.ReadInode(ino)) : null;
    }

    bool IPathWalker<XfsNode>.IsDirectory(XfsNode node) => node.Inode.Type == UnixFileType.Directory;

    string? IPathWalker<XfsNode>.GetSymbolicLinkTarget(XfsNode node) =>
        node.Inode.Type == UnixFileType.SymbolicLink ? XfsSymbolicLink.ReadTarget(_volume, node.Inode) : null;

    private Dictionary<string, ulong> GetDirectory(XfsInode dir)
    {
        if (_directories.TryGetValue(dir.Number, out Dictionary<string, ulong>? cached))
        {
            return cached;
        }

        List<XfsDirectoryEntry> list = XfsDirectoryReader.Read(_volume, dir);
        var map = new Dictionary<string, ulong>(list.Count, StringComparer.Ordinal);
        foreach (XfsDirectoryEntry e in list)
        {
            if (!map.TryAdd(e.Name, e.Inode))
            {
                FormatError.Throw($"XFS directory {dir.Number}", -1, $"the name '{e.Name}' appears twice.");
            }
        }

        if (_directories.Count >= DirectoryCacheSize)
        {
            _directories.Clear();
        }

        _directories[dir.Number] = map;
        return map;
    }

    private ResolvedPath<XfsNode> Existing(string path, bool followFinal)
    {
        ThrowIfDisposed();
        return PathResolver.ResolveExisting(this, path, followFinal);
    }

    private UnixFileInfo ToInfo(XfsInode i, string path)
    {
        int major = 0;
        int minor = 0;
        if (i.Type is UnixFileType.CharacterDevice or UnixFileType.BlockDevice)
        {
            if (i.DataFork.Length < 4)
            {
                FormatError.Throw($"XFS inode {i.Number}", -1, "the device number does not fit in the fork.");
            }

            // Linux's XFS device encoding: 14-bit major above an 18-bit minor (sysv_encode_dev style).
            uint dev = BinaryPrimitives.ReadUInt32BigEndian(i.DataFork);
            major = (int)(dev >> 18);
            minor = (int)(dev & 0x3FFFF);
        }

        return new UnixFileInfo
        {
            Path = path,
            Type = i.Type,
            Mode = UnixFileModeBits.FromBits(i.RawMode),
            UserId = i.UserId,
            GroupId = i.GroupId,
            Size = i.Type is UnixFileType.RegularFile or UnixFileType.Directory or UnixFileType.SymbolicLink ? i.Size : 0,
            LinkCount = (int)Math.Min(i.LinkCount, int.MaxValue),
            Inode = (long)i.Number,
            AccessTime = i.AccessTime,
            ModificationTime = i.ModificationTime,
            ChangeTime = i.ChangeTime,
            CreationTime = i.CreationTime,
            DeviceMajor = major,
            DeviceMinor = minor,
            LinkTarget = i.Type == UnixFileType.SymbolicLink ? XfsSymbolicLink.ReadTarget(_volume, i) : null,
        };
    }

    private XfsWritableTree? Tree()
    {
        ThrowIfDisposed();
        ThrowIfBroken();
        return _tree;
    }

    private XfsWritableTree Writable()
    {
        ThrowIfDisposed();
        ThrowIfBroken();
        if (_tree is null)
        {
            FormatError.Unsupported("The XFS file system is open read-only; open it with XfsOpenOptions.Writable to change it.");
        }

        return _tree!;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private void ThrowIfBroken()
    {
        if (_broken)
        {
            throw new IOException("A write-back of this XFS file system failed and could not be undone: the file system on the device may be inconsistent; dispose this object and run xfs_repair.");
        }
    }
}
