using DiskImage.FileSystems;

namespace DiskImage.Tests.Archives;

/// <summary>
/// A read-only guest view for tests: <paramref name="lower"/> everywhere except under the (symlink-free) directory
/// <paramref name="prefix"/>, which shows <paramref name="upper"/>'s root. Used to plant the host's kernel modules into
/// the debootstrap guest, which has none.
/// </summary>
internal sealed class PrefixOverlayFileSystem(IFileSystem lower, string prefix, IFileSystem upper) : IFileSystem
{
    public bool IsReadOnly => true;

    public UnixFileInfo GetEntry(string path)
    {
        IFileSystem fs = Route(path, out string p);
        return fs == upper ? Rebase(fs.GetEntry(p)) : fs.GetEntry(p);
    }

    public bool Exists(string path) => Route(path, out string p).Exists(p);

    public IEnumerable<UnixFileInfo> EnumerateDirectory(string path)
    {
        IFileSystem fs = Route(path, out string p);
        return fs == upper ? fs.EnumerateDirectory(p).Select(Rebase) : fs.EnumerateDirectory(p);
    }

    public Stream OpenFile(string path, FileMode mode, FileAccess access) => Route(path, out string p).OpenFile(p, mode, access);

    public IReadOnlyDictionary<string, byte[]> GetXattrs(string path) => Route(path, out string p).GetXattrs(p);

    /// <summary>An entry of <paramref name="upper"/> with its path as seen in the overlay (under the prefix).</summary>
    private UnixFileInfo Rebase(UnixFileInfo e) => new()
    {
        Path = e.Path == "/" ? prefix : prefix + e.Path,
        Type = e.Type,
        Mode = e.Mode,
        UserId = e.UserId,
        GroupId = e.GroupId,
        Size = e.Size,
        LinkCount = e.LinkCount,
        Inode = e.Inode,
        AccessTime = e.AccessTime,
        ModificationTime = e.ModificationTime,
        ChangeTime = e.ChangeTime,
        CreationTime = e.CreationTime,
        DeviceMajor = e.DeviceMajor,
        DeviceMinor = e.DeviceMinor,
        LinkTarget = e.LinkTarget,
    };

    private IFileSystem Route(string path, out string routed)
    {
        string normalized = "/" + string.Join('/', path.Split('/', StringSplitOptions.RemoveEmptyEntries));
        if (normalized == prefix || normalized.StartsWith(prefix + "/", StringComparison.Ordinal))
        {
            routed = normalized.Length == prefix.Length ? "/" : normalized[prefix.Length..];
            return upper;
        }

        routed = path;
        return lower;
    }

    public void CreateDirectory(string path, UnixFileMode mode = UnixFileModeBits.Directory) => throw new NotSupportedException();

    public void CreateSymbolicLink(string path, string target) => throw new NotSupportedException();

    public void CreateHardLink(string path, string existingPath) => throw new NotSupportedException();

    public void CreateDevice(string path, UnixFileType type, int major, int minor, UnixFileMode mode = UnixFileModeBits.Device) => throw new NotSupportedException();

    public void CreateFifo(string path, UnixFileMode mode = UnixFileModeBits.File) => throw new NotSupportedException();

    public void CreateSocket(string path, UnixFileMode mode = UnixFileModeBits.Directory) => throw new NotSupportedException();

    public void Delete(string path) => throw new NotSupportedException();

    public void Rename(string sourcePath, string destinationPath) => throw new NotSupportedException();

    public void SetMode(string path, UnixFileMode mode) => throw new NotSupportedException();

    public void SetOwner(string path, uint userId, uint groupId) => throw new NotSupportedException();

    public void SetTimes(string path, UnixTime? accessTime, UnixTime? modificationTime) => throw new NotSupportedException();

    public void SetXattr(string path, string name, ReadOnlySpan<byte> value) => throw new NotSupportedException();

    public bool RemoveXattr(string path, string name) => throw new NotSupportedException();

    public void Flush()
    {
    }

    public void Dispose()
    {
        lower.Dispose();
        upper.Dispose();
    }
}
