using DiskImage.FileSystems;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// A read-only view of another file system whose timestamps later than a limit read as the limit (the
/// <c>SOURCE_DATE_EPOCH</c> clamp of reproducible builds). Everything else is passed through unchanged.
/// </summary>
internal sealed class ClampedTimeFileSystem(IFileSystem inner, UnixTime limit) : ReadOnlyFileSystemView("The clamped view is read-only.")
{
    public override UnixFileInfo GetEntry(string path) => Clamp(inner.GetEntry(path));

    public override bool Exists(string path) => inner.Exists(path);

    public override IEnumerable<UnixFileInfo> EnumerateDirectory(string path)
    {
        foreach (UnixFileInfo e in inner.EnumerateDirectory(path))
        {
            yield return Clamp(e);
        }
    }

    public override IReadOnlyDictionary<string, byte[]> GetXattrs(string path) => inner.GetXattrs(path);

    protected override Stream OpenRead(string path) => inner.OpenFile(path, FileMode.Open, FileAccess.Read);

    private UnixTime Min(UnixTime t) => t > limit ? limit : t;

    private UnixFileInfo Clamp(UnixFileInfo e) =>
        e.AccessTime <= limit && e.ModificationTime <= limit && e.ChangeTime <= limit && (e.CreationTime is null || e.CreationTime.Value <= limit)
            ? e
            : e.With(e.Path, e.Inode, Min);
}
