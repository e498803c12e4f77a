using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// A read-only union of two trees for building a file system from: an entry of <c>upper</c> hides the entry of
/// <c>lower</c> at the same path, and directories present in both list the children of both. Paths are taken as
/// given (the builders walk the tree by its own directory entries, so no path crosses a symbolic link). Inode
/// numbers of entries that come from <c>upper</c> are moved out of <c>lower</c>'s range, so hard-link and cycle
/// detection of the builders keep working.
/// </summary>
internal sealed class OverlayTreeFileSystem(IFileSystem lower, InMemoryFileSystem upper) : IFileSystem
{
    private const long UpperInodeTag = 1L << 60;

    public bool IsReadOnly => true;

    public UnixFileInfo GetEntry(string path)
    {
        if (upper.Exists(path))
        {
            UnixFileInfo u = upper.GetEntry(path);
            return u.Type == UnixFileType.Directory && lower.Exists(path) ? lower.GetEntry(path) : Tag(u);
        }

        return lower.GetEntry(path);
    }

    public bool Exists(string path) => upper.Exists(path) || lower.Exists(path);

    public IEnumerable<UnixFileInfo> EnumerateDirectory(string path)
    {
        bool inUpper = upper.Exists(path) && upper.GetEntry(path).Type == UnixFileType.Directory;
        bool inLower = lower.Exists(path) && lower.GetEntry(path).Type == UnixFileType.Directory;
        if (!inUpper)
        {
            return lower.EnumerateDirectory(path);
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<UnixFileInfo>();
        foreach (UnixFileInfo e in upper.EnumerateDirectory(path))
        {
            names.Add(e.Name);
            if (e.Name is "." or "..")
            {
                continue;
            }

            list.Add(e.Type == UnixFileType.Directory && inLower && lower.Exists(Child(path, e.Name)) ? lower.GetEntry(Child(path, e.Name)) : Tag(e));
        }

        if (inLower)
        {
            foreach (UnixFileInfo e in lower.EnumerateDirectory(path))
            {
                if (names.Add(e.Name) && e.Name is not "." and not "..")
                {
                    list.Add(e);
                }
            }
        }

        return list;
    }

    public Stream OpenFile(string path, FileMode mode, FileAccess access)
    {
        if (mode != FileMode.Open || access != FileAccess.Read)
        {
            throw ReadOnly();
        }

        return upper.Exists(path) ? upper.OpenFile(path, mode, access) : lower.OpenFile(path, mode, access);
    }

    public IReadOnlyDictionary<string, byte[]> GetXattrs(string path) =>
        upper.Exists(path) && !(upper.GetEntry(path).Type == UnixFileType.Directory && lower.Exists(path)) ? upper.GetXattrs(path) : lower.GetXattrs(path);

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

    private static string Child(string dir, string name) => dir == "/" ? "/" + name : dir + "/" + name;

    private static NotSupportedException ReadOnly() => new("The overlay tree is read-only.");

    private static UnixFileInfo Tag(UnixFileInfo e) => new()
    {
        Path = e.Path,
        Type = e.Type,
        Mode = e.Mode,
        UserId = e.UserId,
        GroupId = e.GroupId,
        Size = e.Size,
        LinkCount = e.LinkCount,
        Inode = e.Inode | UpperInodeTag,
        AccessTime = e.AccessTime,
        ModificationTime = e.ModificationTime,
        ChangeTime = e.ChangeTime,
        CreationTime = e.CreationTime,
        DeviceMajor = e.DeviceMajor,
        DeviceMinor = e.DeviceMinor,
        LinkTarget = e.LinkTarget,
    };
}
