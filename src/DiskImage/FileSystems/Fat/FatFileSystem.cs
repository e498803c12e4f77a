using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Fat;

/// <summary>
/// A FAT12, FAT16 or FAT32 file system on a <see cref="BlockDevice"/> (an EFI system partition, a boot
/// floppy), read and written in managed code behind the <see cref="IFileSystem"/> contract. Every number read
/// from the device is validated; corrupt structures (cluster chains that loop or leave the volume, bad BPB
/// numbers) throw <see cref="InvalidDataException"/>. Not thread-safe.
/// </summary>
/// <remarks>
/// <para>Names: VFAT long names (checked by ordinal and checksum; orphan long-name entries are ignored and
/// the short name is used, as Linux does) and 8.3 names with the Windows NT lower-case flags. Lookups are
/// case-insensitive and also match the 8.3 alias ("LONGNA~1.TXT"). New names get the mtools / Windows NT
/// short name: an 8.3 name in one case per part is stored without long-name entries, any other name gets long
/// entries and an alias with a sequential "~n" tail.</para>
/// <para>What FAT cannot represent, mapped like a Linux <c>vfat</c> mount with default options run by root:
/// owners are always 0:0 (<see cref="SetOwner"/> is accepted and ignored); modes are 0755, and 0555 for a file with
/// the read-only attribute (<see cref="SetMode"/> sets that attribute when the owner write bit is clear and
/// ignores the other bits; directories ignore it); the change time equals the modification time; times are
/// UTC, modification times have 2-second precision, creation times 10 ms, access times a date.
/// Symbolic links, hard links, device nodes, FIFOs, sockets and extended attributes are refused with
/// <see cref="NotSupportedException"/> (<see cref="GetXattrs"/> returns none).</para>
/// </remarks>
public sealed class FatFileSystem : IFileSystem, IPathWalker<FatNode>
{
    private const int DirectoryCacheSize = 256;
    private readonly FatVolume _volume;
    private readonly bool _leaveOpen;
    private readonly Func<UnixTime> _clock;
    private readonly FatNode _root;
    private readonly Dictionary<uint, FatDirectory> _directories = [];
    private readonly FatEditor _editor;
    private bool _disposed;

    private FatFileSystem(FatVolume volume, FatOpenOptions options, bool leaveOpen)
    {
        _volume = volume;
        _leaveOpen = leaveOpen;
        _clock = options.Clock ?? (() => UnixTime.Now);
        _root = new FatNode { Key = volume.Boot.Type == FatType.Fat32 ? volume.Boot.RootCluster : 0 };
        _editor = new FatEditor(this, volume);
        Label = Directory(_root.Key).VolumeLabel is { Length: > 0 } l ? l : volume.Boot.Label;
    }

    /// <inheritdoc />
    public bool IsReadOnly => !_volume.Writable;

    /// <summary>The FAT type.</summary>
    public FatType Type => _volume.Boot.Type;

    /// <summary>The volume label (the root directory's label entry, else the boot sector's; empty for "NO NAME").</summary>
    public string Label { get; }

    /// <summary>The volume serial number (<c>BS_VolID</c>), shown by blkid as <c>XXXX-XXXX</c>.</summary>
    public uint VolumeId => _volume.Boot.VolumeId;

    /// <summary>Bytes per cluster.</summary>
    public int ClusterSize => _volume.Boot.ClusterSize;

    /// <summary>Number of data clusters.</summary>
    public int ClusterCount => _volume.Boot.ClusterCount;

    /// <summary>Number of free clusters.</summary>
    public int FreeClusters => _volume.Table.FreeClusters;

    FatNode IPathWalker<FatNode>.Root => _root;

    internal UnixTime Now => _clock();

    /// <summary>Whether the device starts with something that looks like a FAT boot sector (a cheap probe; does not validate).</summary>
    public static bool IsFat(BlockDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        Span<byte> s = stackalloc byte[512];
        return device.Length >= 512 && device.Read(0, s) == 512 && BinaryPrimitives.ReadUInt16LittleEndian(s[510..]) == 0xAA55 && FatBootSector.Probe(s);
    }

    /// <summary>Opens the FAT file system on <paramref name="device"/>.</summary>
    /// <param name="device">The device holding the file system from byte 0.</param>
    /// <param name="options">Writability and clock; null for <see cref="FatOpenOptions.Default"/> (read-only).</param>
    /// <param name="leaveOpen">Whether disposing the file system leaves <paramref name="device"/> open.</param>
    /// <exception cref="InvalidDataException">The boot sector, the FAT or the root directory is corrupt.</exception>
    /// <exception cref="NotSupportedException">Writing was asked for a read-only device, or an unknown FAT32 version.</exception>
    public static FatFileSystem Open(BlockDevice device, FatOpenOptions? options = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(device);
        options ??= FatOpenOptions.Default;
        if (options.Writable && !device.CanWrite)
        {
            throw new NotSupportedException("The device is read-only; the FAT file system cannot be opened for writing.");
        }

        if (device.Length < 512)
        {
            FormatError.Throw("FAT boot sector", 0, "the device is too small to hold a FAT file system.");
        }

        byte[] sector = new byte[512];
        device.ReadExactly(0, sector);
        FatBootSector boot = FatBootSector.Parse(sector, device.Length);
        uint hint = 2;
        if (boot.FsInfoSector != 0)
        {
            device.ReadExactly((long)boot.FsInfoSector * boot.BytesPerSector, sector);
            if (BinaryPrimitives.ReadUInt32LittleEndian(sector) == 0x41615252 && BinaryPrimitives.ReadUInt32LittleEndian(sector.AsSpan(484)) == 0x61417272)
            {
                hint = BinaryPrimitives.ReadUInt32LittleEndian(sector.AsSpan(492));
            }
        }

        FatTable table = FatTable.Read(device, boot, hint);
        return new FatFileSystem(new FatVolume(device, boot, table, options.Writable), options, leaveOpen);
    }

    /// <summary>
    /// Formats <paramref name="device"/> as an empty FAT file system, choosing the type, cluster size, reserved
    /// sectors and root entries from its size as <c>mkfs.fat</c> 4.2 does. The same options give the same bytes.
    /// </summary>
    /// <exception cref="ArgumentException">The device is too small or too large for the requested type, or the label is invalid.</exception>
    public static void Format(BlockDevice device, FatFormatOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        FatFormatter.Format(device, options ?? new FatFormatOptions());
    }

    /// <summary>Returns the FAT attributes of an entry (the root directory has <see cref="FatAttributes.Directory"/>).</summary>
    public FatAttributes GetAttributes(string path)
    {
        ResolvedPath<FatNode> r = Existing(path, followFinal: false);
        return r.Node!.Entry?.Attributes ?? FatAttributes.Directory;
    }

    /// <summary>Sets the read-only, hidden, system and archive attributes of an entry (the other bits are kept).</summary>
    /// <exception cref="ArgumentException"><paramref name="attributes"/> holds other bits than those four.</exception>
    public void SetAttributes(string path, FatAttributes attributes)
    {
        const FatAttributes Settable = FatAttributes.ReadOnly | FatAttributes.Hidden | FatAttributes.System | FatAttributes.Archive;
        if ((attributes & ~Settable) != 0)
        {
            throw new ArgumentException("Only the read-only, hidden, system and archive attributes can be set.", nameof(attributes));
        }

        CheckWritable();
        ResolvedPath<FatNode> r = Existing(path, followFinal: false);
        if (r.IsRoot)
        {
            throw new IOException("The root directory has no attributes.");
        }

        _editor.UpdateEntry(r.Node!.ParentKey, r.Node.Entry!.Slot, e => e.Attributes = (e.Attributes & ~Settable) | attributes);
    }

    /// <inheritdoc />
    public UnixFileInfo GetEntry(string path)
    {
        ResolvedPath<FatNode> r = Existing(path, followFinal: false);
        return ToInfo(r.Node!, r.Path);
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
        ResolvedPath<FatNode> r = Existing(path, followFinal: true);
        if (!r.Node!.IsDirectory)
        {
            throw new IOException($"'{path}' is not a directory.");
        }

        FatDirectory dir = Directory(r.Node.Key);
        var list = new List<UnixFileInfo>(dir.Entries.Count);
        foreach (FatDirectoryEntry e in dir.Entries.ToArray())
        {
            list.Add(ToInfo(NodeFor(e, r.Node.Key), FileSystemPath.Combine(r.Path, e.Name)));
        }

        return list;
    }

    /// <inheritdoc />
    public Stream OpenFile(string path, FileMode mode, FileAccess access)
    {
        ThrowIfDisposed();
        PathResolver.ValidateOpen(mode, access, IsReadOnly);
        ResolvedPath<FatNode> r = PathResolver.Resolve(this, path, followFinal: true);
        if (r.IsRoot || r.Node is { IsDirectory: true })
        {
            throw new UnauthorizedAccessException($"'{path}' is a directory.");
        }

        FatDirectoryEntry entry;
        if (r.Node is null)
        {
            if (mode is FileMode.Open or FileMode.Truncate)
            {
                throw new FileNotFoundException($"Could not find '{path}'.", path);
            }

            entry = _editor.CreateEntry(r.Parent.Key, r.Name, r.Path, FatAttributes.Archive, 0);
        }
        else
        {
            if (mode == FileMode.CreateNew)
            {
                throw new IOException($"'{path}' already exists.");
            }

            entry = r.Node.Entry!;
        }

        var chain = new List<uint>();
        _volume.Table.ReadChain(entry.FirstCluster, chain, _volume.Boot.ClusterCount, $"'{r.Path}'");
        if ((long)chain.Count * ClusterSize < entry.Size)
        {
            FormatError.Throw("FAT directory entry", -1, $"'{r.Path}': the size {entry.Size} needs more clusters than its chain has ({chain.Count}).");
        }

        uint parentKey = r.Node?.ParentKey ?? r.Parent.Key;
        int slot = entry.Slot;
        bool canWrite = (access & FileAccess.Write) != 0;
        var stream = new FatFileStream(
            _volume,
            chain,
            entry.Size,
            (access & FileAccess.Read) != 0,
            canWrite,
            mode == FileMode.Append,
            canWrite ? (first, size) => _editor.UpdateFileContent(parentKey, slot, first, size) : null);
        if (r.Node is not null && mode is FileMode.Create or FileMode.Truncate)
        {
            stream.SetLength(0);
        }

        return stream;
    }

    /// <inheritdoc />
    public void CreateDirectory(string path, UnixFileMode mode = UnixFileModeBits.Directory)
    {
        UnixFileModeBits.ToBits(mode, nameof(mode));
        CheckWritable();
        ResolvedPath<FatNode> r = PathResolver.Resolve(this, path, followFinal: false);
        if (r.Node is not null)
        {
            throw new IOException($"'{path}' already exists.");
        }

        _editor.CreateDirectory(r.Parent.Key, r.Name, r.Path);
    }

    /// <inheritdoc />
    public void CreateSymbolicLink(string path, string target) => Refuse("symbolic links");

    /// <inheritdoc />
    public void CreateHardLink(string path, string existingPath) => Refuse("hard links");

    /// <inheritdoc />
    public void CreateDevice(string path, UnixFileType type, int major, int minor, UnixFileMode mode = UnixFileModeBits.Device) => Refuse("device nodes");

    /// <inheritdoc />
    public void CreateFifo(string path, UnixFileMode mode = UnixFileModeBits.File) => Refuse("named pipes");

    /// <inheritdoc />
    public void CreateSocket(string path, UnixFileMode mode = UnixFileModeBits.Directory) => Refuse("sockets");

    /// <inheritdoc />
    public void Delete(string path)
    {
        CheckWritable();
        ResolvedPath<FatNode> r = Existing(path, followFinal: false);
        if (r.IsRoot)
        {
            throw new IOException("The root directory cannot be deleted.");
        }

        _editor.Delete(r.Node!, path);
    }

    /// <inheritdoc />
    public void Rename(string sourcePath, string destinationPath)
    {
        CheckWritable();
        ResolvedPath<FatNode> s = Existing(sourcePath, followFinal: false);
        ResolvedPath<FatNode> d = PathResolver.Resolve(this, destinationPath, followFinal: false);
        FileSystemWriteChecks.CheckRenameEnds(s, d, destinationPath);
        _editor.Rename(s, d, sourcePath, destinationPath);
    }

    /// <inheritdoc />
    /// <remarks>Only the owner write bit of a file's mode is kept, as the read-only attribute; directories ignore the mode.</remarks>
    public void SetMode(string path, UnixFileMode mode)
    {
        int bits = UnixFileModeBits.ToBits(mode, nameof(mode));
        CheckWritable();
        ResolvedPath<FatNode> r = Existing(path, followFinal: false);
        if (r.Node!.IsDirectory)
        {
            return;
        }

        bool readOnly = (bits & 0x80) == 0;
        _editor.UpdateEntry(r.Node.ParentKey, r.Node.Entry!.Slot, e => e.Attributes = readOnly ? e.Attributes | FatAttributes.ReadOnly : e.Attributes & ~FatAttributes.ReadOnly);
    }

    /// <inheritdoc />
    /// <remarks>FAT has no owners: the call is accepted and ignored (every entry belongs to 0:0).</remarks>
    public void SetOwner(string path, uint userId, uint groupId)
    {
        CheckWritable();
        Existing(path, followFinal: false);
    }

    /// <inheritdoc />
    /// <remarks>The modification time keeps 2-second precision, the access time its date; times are clamped to 1980–2107. The root has no times.</remarks>
    public void SetTimes(string path, UnixTime? accessTime, UnixTime? modificationTime)
    {
        CheckWritable();
        ResolvedPath<FatNode> r = Existing(path, followFinal: false);
        if (r.IsRoot)
        {
            return;
        }

        _editor.UpdateEntry(r.Node!.ParentKey, r.Node.Entry!.Slot, e =>
        {
            if (accessTime is { } a)
            {
                e.AccessDate = FatTime.FromUnix(a).Date;
            }

            if (modificationTime is { } m)
            {
                (e.WriteDate, e.WriteTime, _) = FatTime.FromUnix(m);
            }
        });
    }

    /// <inheritdoc />
    /// <remarks>FAT has no extended attributes: always empty.</remarks>
    public IReadOnlyDictionary<string, byte[]> GetXattrs(string path)
    {
        Existing(path, followFinal: false);
        return new Dictionary<string, byte[]>();
    }

    /// <inheritdoc />
    public void SetXattr(string path, string name, ReadOnlySpan<byte> value) => Refuse("extended attributes");

    /// <inheritdoc />
    /// <remarks>FAT has no extended attributes: always false.</remarks>
    public bool RemoveXattr(string path, string name)
    {
        CheckWritable();
        Existing(path, followFinal: false);
        return false;
    }

    /// <inheritdoc />
    public void Flush()
    {
        ThrowIfDisposed();
        if (!IsReadOnly)
        {
            _volume.Flush();
            _volume.Device.Flush();
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
            if (!IsReadOnly)
            {
                _volume.Flush();
                _volume.Device.Flush();
            }
        }
        finally
        {
            _disposed = true;
            if (!_leaveOpen)
            {
                _volume.Device.Dispose();
            }
        }
    }

    FatNode? IPathWalker<FatNode>.Lookup(FatNode directory, string name)
    {
        FatDirectoryEntry? e = Directory(directory.Key).Find(name);
        return e is null ? null : NodeFor(e, directory.Key);
    }

    bool IPathWalker<FatNode>.IsDirectory(FatNode node) => node.IsDirectory;

    string? IPathWalker<FatNode>.GetSymbolicLinkTarget(FatNode node) => null;

    /// <summary>The directory whose contents have key <paramref name="key"/>, from the cache or the device.</summary>
    internal FatDirectory Directory(uint key)
    {
        if (_directories.TryGetValue(key, out FatDirectory? d))
        {
            return d;
        }

        if (_directories.Count >= DirectoryCacheSize)
        {
            _directories.Clear();
        }

        d = FatDirectory.Load(_volume, key);
        _directories[key] = d;
        return d;
    }

    /// <summary>Adds a directory just created to the cache, or forgets a deleted one (<paramref name="directory"/> null).</summary>
    internal void CacheDirectory(uint key, FatDirectory? directory)
    {
        if (directory is null)
        {
            _directories.Remove(key);
        }
        else
        {
            _directories[key] = directory;
        }
    }

    /// <summary>The node of an entry of the directory with key <paramref name="parentKey"/>.</summary>
    internal FatNode NodeFor(FatDirectoryEntry e, uint parentKey)
    {
        uint key = 0;
        if (e.IsDirectory)
        {
            key = e.FirstCluster;
            if (key < 2 || key > _volume.Table.LastCluster)
            {
                FormatError.Throw("FAT directory entry", -1, $"the directory '{e.Name}' starts at cluster {key}, outside the volume.");
            }
        }

        return new FatNode { Entry = e, ParentKey = parentKey, Key = key };
    }

    /// <summary>Resolves a path that must exist.</summary>
    internal ResolvedPath<FatNode> Existing(string path, bool followFinal)
    {
        ThrowIfDisposed();
        return PathResolver.ResolveExisting(this, path, followFinal);
    }

    internal void CheckWritable()
    {
        ThrowIfDisposed();
        if (IsReadOnly)
        {
            PathResolver.ThrowReadOnly();
        }
    }

    private UnixFileInfo ToInfo(FatNode node, string path)
    {
        FatDirectoryEntry? e = node.Entry;
        if (e is null)
        {
            FatDirectory root = Directory(node.Key);
            var epoch = new UnixTime(0, 0);
            return new UnixFileInfo
            {
                Path = path, Type = UnixFileType.Directory, Mode = UnixFileModeBits.Directory, UserId = 0, GroupId = 0,
                Size = root.ByteLength, LinkCount = 2 + root.SubdirectoryCount, Inode = 1,
                AccessTime = epoch, ModificationTime = epoch, ChangeTime = epoch,
            };
        }

        long size = e.Size;
        int links = 1;
        long inode = (1L << 32) + ((long)node.ParentKey << 16) + e.Slot;
        if (e.IsDirectory)
        {
            FatDirectory d = Directory(node.Key);
            size = d.ByteLength;
            links = 2 + d.SubdirectoryCount;
            inode = node.Key == _root.Key ? 1 : node.Key;
        }

        UnixTime mtime = FatTime.ToUnix(e.WriteDate, e.WriteTime, 0);
        return new UnixFileInfo
        {
            Path = path,
            Type = e.IsDirectory ? UnixFileType.Directory : UnixFileType.RegularFile,
            Mode = !e.IsDirectory && (e.Attributes & FatAttributes.ReadOnly) != 0 ? UnixFileModeBits.FromBits(0x16D) : UnixFileModeBits.Directory,
            UserId = 0,
            GroupId = 0,
            Size = size,
            LinkCount = links,
            Inode = inode,
            AccessTime = FatTime.ToUnix(e.AccessDate, 0, 0),
            ModificationTime = mtime,
            ChangeTime = mtime,
            CreationTime = FatTime.ToUnix(e.CreationDate, e.CreationTime, e.CreationHundredths),
        };
    }

    private void Refuse(string what)
    {
        ThrowIfDisposed();
        throw new NotSupportedException($"FAT file systems cannot store {what}.");
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
