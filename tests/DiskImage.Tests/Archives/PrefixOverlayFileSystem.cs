using DiskImage.FileSystems;

namespace DiskImage.Tests.Archives;

/// <summary>
/// A read-only guest view for tests: <paramref name="lower"/> everywhere except under the (symlink-free) directory
/// <paramref name="prefix"/>, which shows <paramref name="upper"/>'s root. Used to plant the host's kernel modules into
/// the debootstrap guest, which has none.
/// </summary>
internal sealed class PrefixOverlayFileSystem(IFileSystem lower, string prefix, IFileSystem upper) : ReadOnlyFileSystemView("The overlay is read-only.")
{
    public override UnixFileInfo GetEntry(string path)
    {
        IFileSystem fs = Route(path, out string p);
        return fs == upper ? Rebase(fs.GetEntry(p)) : fs.GetEntry(p);
    }

    public override bool Exists(string path) => Route(path, out string p).Exists(p);

    public override IEnumerable<UnixFileInfo> EnumerateDirectory(string path)
    {
        IFileSystem fs = Route(path, out string p);
        return fs == upper ? fs.EnumerateDirectory(p).Select(Rebase) : fs.EnumerateDirectory(p);
    }

    protected override Stream OpenRead(string path) => Route(path, out string p).OpenFile(p, FileMode.Open, FileAccess.Read);

    public override IReadOnlyDictionary<string, byte[]> GetXattrs(string path) => Route(path, out string p).GetXattrs(p);

    /// <summary>An entry of <paramref name="upper"/> with its path as seen in the overlay (under the prefix).</summary>
    private UnixFileInfo Rebase(UnixFileInfo e) => e.With(e.Path == "/" ? prefix : prefix + e.Path, e.Inode);

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

    public override void Dispose()
    {
        lower.Dispose();
        upper.Dispose();
    }
}
