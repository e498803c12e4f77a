using System.Runtime.Versioning;
using DiskImage.Interop;

namespace DiskImage.FileSystems.Host;

/// <summary>
/// A read-only <see cref="IFileSystem"/> over a directory of the host (Linux): every entry as <c>lstat</c>
/// reports it (type, mode, owner, nanosecond times, size, link count, inode, device numbers, link target)
/// and its extended attributes (<c>llistxattr</c>/<c>lgetxattr</c>). The source for
/// <see cref="Ext4.Ext4FileSystem.Build(IO.BlockDevice, IFileSystem, Ext4.Ext4BuildOptions?, CancellationToken)"/>.
/// </summary>
/// <remarks>
/// Symbolic links are resolved inside the tree, as the <see cref="IFileSystem"/> contract says (an absolute
/// target starts at <see cref="RootDirectory"/>), so nothing outside the directory is reached through a link.
/// Mount points below the root are crossed (their inode numbers may then collide with the root device's).
/// Names are read as bytes (<c>getdents64</c>) and kept through <see cref="UnixPathEncoding"/>, so names that are not valid UTF-8 reach the caller intact. Directories and files are opened with <c>O_NOATIME</c> when
/// permitted (owner or root), so reading the tree leaves its access times as they were.
/// </remarks>
[SupportedOSPlatform("linux")]
public sealed class HostDirectoryFileSystem : IFileSystem, IPathWalker<HostDirectoryFileSystem.HostNode>
{
    private readonly HostNode _root;

    /// <summary>Opens the tree under <paramref name="rootDirectory"/> (a symbolic link to a directory is followed).</summary>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    /// <exception cref="PlatformNotSupportedException">Not running on Linux.</exception>
    public HostDirectoryFileSystem(string rootDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(rootDirectory);
        if (!UnixNative.IsSupported)
        {
            throw new PlatformNotSupportedException("HostDirectoryFileSystem needs Linux (statx, llistxattr).");
        }

        string full = System.IO.Path.GetFullPath(rootDirectory);
        if (!UnixNative.TryLStat(System.IO.Path.Combine(full, "."), out UnixStat st) || st.FileType != UnixFileType.Directory)
        {
            throw new DirectoryNotFoundException($"Directory '{rootDirectory}' does not exist.");
        }

        RootDirectory = System.IO.Path.TrimEndingDirectorySeparator(full);
        _root = new HostNode(RootDirectory, st);
    }

    /// <summary>The host directory this file system shows (full path).</summary>
    public string RootDirectory { get; }

    /// <inheritdoc />
    public bool IsReadOnly => true;

    HostNode IPathWalker<HostNode>.Root => _root;

    /// <inheritdoc />
    public UnixFileInfo GetEntry(string path)
    {
        ResolvedPath<HostNode> r = PathResolver.ResolveExisting(this, path, followFinal: false);
        return Describe(r.Path, r.Node!);
    }

    /// <inheritdoc />
    public bool Exists(string path)
    {
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
    public IEnumerable<UnixFileInfo> EnumerateDirectory(string path) => EnumerateDirectory(path, readLinkTargets: true);

    /// <summary>
    /// Lists a directory; without <paramref name="readLinkTargets"/> symbolic links come without
    /// <see cref="UnixFileInfo.LinkTarget"/> (their <see cref="UnixFileInfo.Size"/> is the target length), because
    /// <c>readlink</c> updates a link's access time and a sizing pass must not change what the build pass reads.
    /// </summary>
    /// <param name="path">The directory.</param>
    /// <param name="readLinkTargets">Whether to read symbolic-link targets.</param>
    /// <param name="sparseFiles">Receives the paths of regular files with fewer blocks allocated than their size (candidates for holes).</param>
    internal IEnumerable<UnixFileInfo> EnumerateDirectory(string path, bool readLinkTargets, ICollection<string>? sparseFiles = null)
    {
        ResolvedPath<HostNode> r = PathResolver.ResolveExisting(this, path, followFinal: true);
        HostNode dir = r.Node!;
        if (dir.Stat.FileType != UnixFileType.Directory)
        {
            throw new IOException($"'{path}' is not a directory.");
        }

        string prefix = r.Path == "/" ? "/" : r.Path + "/";
        return Enumerate(dir, prefix, readLinkTargets, sparseFiles);
    }

    /// <summary>
    /// As <see cref="EnumerateDirectory(string, bool, ICollection{string}?)"/> for a directory whose path came from an earlier
    /// listing (every component a real directory): no resolution (no <c>lstat</c> per path component), and a directory
    /// replaced by a symbolic link since is refused rather than followed.
    /// </summary>
    internal IEnumerable<UnixFileInfo> EnumerateListedDirectory(string path, bool readLinkTargets, ICollection<string>? sparseFiles) =>
        path == "/" ? EnumerateDirectory(path, readLinkTargets, sparseFiles) : Enumerate(RootDirectory + path, path + "/", readLinkTargets, sparseFiles, listed: true);

    private static IEnumerable<UnixFileInfo> Enumerate(HostNode dir, string prefix, bool readLinkTargets, ICollection<string>? sparseFiles) =>
        Enumerate(dir.HostPath, prefix, readLinkTargets, sparseFiles, listed: false);

    private static IEnumerable<UnixFileInfo> Enumerate(string dirHostPath, string prefix, bool readLinkTargets, ICollection<string>? sparseFiles, bool listed)
    {
        foreach (string name in UnixNative.ReadDirectory(dirHostPath, listed))
        {
            // An entry removed while listing is skipped.
            string host = dirHostPath + "/" + name;
            if (UnixNative.TryLStat(host, out UnixStat st))
            {
                if (sparseFiles is not null && st.FileType == UnixFileType.RegularFile && st.Blocks * 512 < st.Size)
                {
                    sparseFiles.Add(prefix + name);
                }

                yield return Describe(prefix + name, new HostNode(host, st), readLinkTargets);
            }
        }
    }

    /// <inheritdoc />
    public Stream OpenFile(string path, FileMode mode, FileAccess access)
    {
        PathResolver.ValidateOpen(mode, access, readOnly: true);
        HostNode node = PathResolver.ResolveExisting(this, path, followFinal: true).Node!;
        if (node.Stat.FileType == UnixFileType.Directory)
        {
            throw new UnauthorizedAccessException($"'{path}' is a directory.");
        }

        if (node.Stat.FileType != UnixFileType.RegularFile)
        {
            throw new IOException($"'{path}' is not a regular file ({node.Stat.FileType}).");
        }

        return new FileStream(UnixNative.OpenNoAtime(node.HostPath, directory: false), FileAccess.Read, 1);
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, byte[]> GetXattrs(string path)
    {
        HostNode node = PathResolver.ResolveExisting(this, path, followFinal: false).Node!;
        return UnixNative.ListXattrs(node.HostPath);
    }

    /// <summary>
    /// The xattrs of an entry whose path came from <see cref="EnumerateDirectory(string, bool, ICollection{string}?)"/> (every component a real
    /// directory): no resolution, so no final symbolic link is read (which would touch its atime).
    /// </summary>
    internal IReadOnlyDictionary<string, byte[]> GetXattrsOfListedEntry(string path) =>
        UnixNative.ListXattrs(path == "/" ? RootDirectory : RootDirectory + path);

    /// <summary>
    /// Opens a regular file whose path came from <see cref="EnumerateDirectory(string, bool, ICollection{string}?)"/> for
    /// positional reads (<see cref="RandomAccess"/>): no resolution (one <c>openat</c> instead of an <c>lstat</c> per path
    /// component), no <see cref="FileStream"/>; a final symbolic link is refused rather than followed.
    /// </summary>
    internal Microsoft.Win32.SafeHandles.SafeFileHandle OpenListedFile(string path) =>
        UnixNative.OpenNoAtime(RootDirectory + path, directory: false, listedFile: true);

    /// <summary>The data ranges of a listed regular file (see <see cref="UnixNative.GetDataRanges"/>); null when unknown.</summary>
    internal List<(long Offset, long Length)>? GetDataRangesOfListedEntry(string path, long size) =>
        UnixNative.GetDataRanges(RootDirectory + path, size);

    /// <inheritdoc />
    public void CreateDirectory(string path, UnixFileMode mode = UnixFileModeBits.Directory) => PathResolver.ThrowReadOnly();

    /// <inheritdoc />
    public void CreateSymbolicLink(string path, string target) => PathResolver.ThrowReadOnly();

    /// <inheritdoc />
    public void CreateHardLink(string path, string existingPath) => PathResolver.ThrowReadOnly();

    /// <inheritdoc />
    public void CreateDevice(string path, UnixFileType type, int major, int minor, UnixFileMode mode = UnixFileModeBits.Device) => PathResolver.ThrowReadOnly();

    /// <inheritdoc />
    public void CreateFifo(string path, UnixFileMode mode = UnixFileModeBits.File) => PathResolver.ThrowReadOnly();

    /// <inheritdoc />
    public void CreateSocket(string path, UnixFileMode mode = UnixFileModeBits.Directory) => PathResolver.ThrowReadOnly();

    /// <inheritdoc />
    public void Delete(string path) => PathResolver.ThrowReadOnly();

    /// <inheritdoc />
    public void Rename(string sourcePath, string destinationPath) => PathResolver.ThrowReadOnly();

    /// <inheritdoc />
    public void SetMode(string path, UnixFileMode mode) => PathResolver.ThrowReadOnly();

    /// <inheritdoc />
    public void SetOwner(string path, uint userId, uint groupId) => PathResolver.ThrowReadOnly();

    /// <inheritdoc />
    public void SetTimes(string path, UnixTime? accessTime, UnixTime? modificationTime) => PathResolver.ThrowReadOnly();

    /// <inheritdoc />
    public void SetXattr(string path, string name, ReadOnlySpan<byte> value) => PathResolver.ThrowReadOnly();

    /// <inheritdoc />
    public bool RemoveXattr(string path, string name)
    {
        PathResolver.ThrowReadOnly();
        return false;
    }

    /// <inheritdoc />
    public void Flush()
    {
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }

    HostNode? IPathWalker<HostNode>.Lookup(HostNode directory, string name)
    {
        if (name.Contains('/', StringComparison.Ordinal))
        {
            return null;
        }

        string host = directory.HostPath + "/" + name;
        return UnixNative.TryLStat(host, out UnixStat st) ? new HostNode(host, st) : null;
    }

    bool IPathWalker<HostNode>.IsDirectory(HostNode node) => node.Stat.FileType == UnixFileType.Directory;

    string? IPathWalker<HostNode>.GetSymbolicLinkTarget(HostNode node) =>
        node.Stat.FileType == UnixFileType.SymbolicLink ? UnixNative.ReadLink(node.HostPath) : null;

    private static UnixFileInfo Describe(string path, HostNode node, bool readLinkTarget = true)
    {
        UnixStat s = node.Stat;
        bool isDevice = s.FileType is UnixFileType.CharacterDevice or UnixFileType.BlockDevice;
        return new UnixFileInfo
        {
            Path = path,
            Type = s.FileType,
            Mode = UnixFileModeBits.FromBits(s.Mode),
            UserId = s.Uid,
            GroupId = s.Gid,
            Size = s.Size,
            LinkCount = (int)Math.Min(s.NLink, int.MaxValue),
            Inode = (long)s.Inode,
            AccessTime = s.AccessTime,
            ModificationTime = s.ModificationTime,
            ChangeTime = s.ChangeTime,
            CreationTime = s.BirthTime,
            DeviceMajor = isDevice ? (int)s.RDevMajor : 0,
            DeviceMinor = isDevice ? (int)s.RDevMinor : 0,
            LinkTarget = s.FileType == UnixFileType.SymbolicLink && readLinkTarget ? UnixNative.ReadLink(node.HostPath) : null,
        };
    }

    /// <summary>One host entry: its host path and what <c>lstat</c> said.</summary>
    internal sealed class HostNode(string hostPath, UnixStat stat)
    {
        public string HostPath { get; } = hostPath;

        public UnixStat Stat { get; } = stat;
    }
}
