using DiskImage.FileSystems;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// A read-only view of another file system whose timestamps later than a limit read as the limit (the
/// <c>SOURCE_DATE_EPOCH</c> clamp of reproducible builds). Everything else is passed through unchanged.
/// </summary>
internal sealed class ClampedTimeFileSystem(IFileSystem inner, UnixTime limit) : IFileSystem
{
    public bool IsReadOnly => true;

    public UnixFileInfo GetEntry(string path) => Clamp(inner.GetEntry(path));

    public bool Exists(string path) => inner.Exists(path);

    public IEnumerable<UnixFileInfo> EnumerateDirectory(string path)
    {
        foreach (UnixFileInfo e in inner.EnumerateDirectory(path))
        {
            yield return Clamp(e);
        }
    }

    public Stream OpenFile(string path, FileMode mode, FileAccess access) =>
        mode == FileMode.Open && access == FileAccess.Read ? inner.OpenFile(path, mode, access) : throw ReadOnly();

    public IReadOnlyDictionary<string, byte[]> GetXattrs(string path) => inner.GetXattrs(path);

    public void CreateDirectory(string path, UnixFileMode mode = UnixFileModeBits.Directory) => throw ReadOnly();

    public void CreateSymbolicLink(string path, string target) => throw ReadOnly();

    public void CreateHardLink(string path, string existingPath) => throw ReadOnly();

    public void CreateDevice(string path, UnixFileType type, int major, int minor, UnixFileMode mode = UnixFileModeBits.Device) => throw ReadOnly();

    public void CreateFifo(string path, UnixFileMode mode = UnixFileModeBits.File) => throw ReadOnly();

    public void CreateSocket(string path, UnixFileMode mode = UnixFileModeBits.Directory) => throw ReadOnly();

    public void Delete(string path) => throw ReadOnly();

    public void Rename(string sourcePath, string destinationPath) => throw ReadOnly();

    public void SetMode(string path, UnixFileMode mode) => throw ReadOnly();

    public void SetOwner(string path, uint userId, uint groupId) => throw ReadOnly();

    public void SetTimes(string path, UnixTime? accessTime, UnixTime? modificationTime) => throw ReadOnly();

    public void SetXattr(string path, string name, ReadOnlySpan<byte> value) => throw ReadOnly();

    public bool RemoveXattr(string path, string name) => throw ReadOnly();

    public void Flush()
    {
    }

    public void Dispose()
    {
    }

    private static NotSupportedException ReadOnly() => new("The clamped view is read-only.");

    private UnixTime Min(UnixTime t) => t > limit ? limit : t;

    private UnixFileInfo Clamp(UnixFileInfo e)
    {
        if (e.AccessTime <= limit && e.ModificationTime <= limit && e.ChangeTime <= limit && (e.CreationTime is null || e.CreationTime.Value <= limit))
        {
            return e;
        }

        return new UnixFileInfo
        {
            Path = e.Path,
            Type = e.Type,
            Mode = e.Mode,
            UserId = e.UserId,
            GroupId = e.GroupId,
            Size = e.Size,
            LinkCount = e.LinkCount,
            Inode = e.Inode,
            AccessTime = Min(e.AccessTime),
            ModificationTime = Min(e.ModificationTime),
            ChangeTime = Min(e.ChangeTime),
            CreationTime = e.CreationTime is { } c ? Min(c) : null,
            DeviceMajor = e.DeviceMajor,
            DeviceMinor = e.DeviceMinor,
            LinkTarget = e.LinkTarget,
        };
    }
}
