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
internal sealed class OverlayTreeFileSystem(IFileSystem lower, InMemoryFileSystem upper) : ReadOnlyFileSystemView("The overlay tree is read-only.")
{
    private const long UpperInodeTag = 1L << 60;

    public override UnixFileInfo GetEntry(string path)
    {
        if (upper.Exists(path))
        {
            UnixFileInfo u = upper.GetEntry(path);
            return u.Type == UnixFileType.Directory && lower.Exists(path) ? lower.GetEntry(path) : Tag(u);
        }

        return lower.GetEntry(path);
    }

    public override bool Exists(string path) => upper.Exists(path) || lower.Exists(path);

    public override IEnumerable<UnixFileInfo> EnumerateDirectory(string path)
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

    public override IReadOnlyDictionary<string, byte[]> GetXattrs(string path) =>
        upper.Exists(path) && !(upper.GetEntry(path).Type == UnixFileType.Directory && lower.Exists(path)) ? upper.GetXattrs(path) : lower.GetXattrs(path);

    protected override Stream OpenRead(string path) =>
        upper.Exists(path) ? upper.OpenFile(path, FileMode.Open, FileAccess.Read) : lower.OpenFile(path, FileMode.Open, FileAccess.Read);

    private static string Child(string dir, string name) => dir == "/" ? "/" + name : dir + "/" + name;

    private static UnixFileInfo Tag(UnixFileInfo e) => e.With(e.Path, e.Inode | UpperInodeTag);
}
