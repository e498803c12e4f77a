using DiskImage.FileSystems.Host;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Walks a source tree once for <see cref="XfsBuilder"/>: every entry's metadata and xattrs (converted to XFS
/// namespaces), hard links folded into one item, directories sorted by name, items in depth-first order (the root first).
/// </summary>
internal static class XfsTreeScanner
{
    /// <summary>Longest symbolic-link target XFS stores (<c>XFS_SYMLINK_MAXLEN</c> less the NUL; xfs_repair rejects 1024).</summary>
    public const int MaxLinkTarget = 1023;

    /// <summary>Returns the items in inode order and the total regular-file bytes.</summary>
    /// <param name="source">The tree to read.</param>
    /// <param name="sizingOnly">Whether only sizes are needed: host symlinks are then not read (which would touch their atime).</param>
    /// <param name="cancellationToken">Stops the walk between directories.</param>
    public static (List<XfsBuildItem> Items, long DataBytes) Scan(IFileSystem source, bool sizingOnly, CancellationToken cancellationToken)
    {
        var host = source as HostDirectoryFileSystem;
        bool fast = host is not null && OperatingSystem.IsLinux();
#pragma warning disable CA1416 // 'fast' implies Linux.
        UnixFileInfo rootInfo = source.GetEntry("/");
        if (rootInfo.Type != UnixFileType.Directory)
        {
            throw new IOException("The root of the source is not a directory.");
        }

        var root = new XfsBuildItem(rootInfo, "/") { Children = [] };
        root.Parent = root;
        root.Attributes = Attributes(source.GetXattrs("/"), "/");
        var items = new List<XfsBuildItem> { root };
        var hardLinks = new Dictionary<long, XfsBuildItem>();
        var seenDirectories = new HashSet<long> { rootInfo.Inode };
        var pending = new Stack<XfsBuildItem>();
        pending.Push(root);
        var entries = new List<UnixFileInfo>();
        var sparse = new HashSet<string>(StringComparer.Ordinal);
        long dataBytes = 0;
        while (pending.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            XfsBuildItem dir = pending.Pop();
            entries.Clear();
            entries.AddRange(fast ? host!.EnumerateListedDirectory(dir.Path, readLinkTargets: !sizingOnly, sparse) : source.EnumerateDirectory(dir.Path));
            entries.Sort(static (a, b) => NameOf(a.Path).SequenceCompareTo(NameOf(b.Path)));
            var subdirs = new List<XfsBuildItem>();
            foreach (UnixFileInfo e in entries)
            {
                byte[] name = UnixPathEncoding.GetBytes(e.Name);
                if (name.Length is 0 or > 255)
                {
                    throw new NotSupportedException($"'{e.Path}': XFS names are 1 to 255 bytes long.");
                }

                XfsBuildItem item;
                if (e.Type != UnixFileType.Directory && e.LinkCount > 1 && hardLinks.TryGetValue(e.Inode, out XfsBuildItem? first))
                {
                    item = first;
                    item.Links++;
                }
                else
                {
                    item = new XfsBuildItem(e, e.Path);
                    IReadOnlyDictionary<string, byte[]> xattrs = fast && OperatingSystem.IsLinux() ? host!.GetXattrsOfListedEntry(e.Path) : source.GetXattrs(e.Path);
                    item.Attributes = Attributes(xattrs, e.Path);
                    items.Add(item);
                    switch (e.Type)
                    {
                        case UnixFileType.Directory:
                            if (host is null && !seenDirectories.Add(e.Inode))
                            {
                                throw new InvalidDataException($"'{e.Path}': directory cycle or hard-linked directory (inode {e.Inode} appears twice in the source tree).");
                            }

                            item.Children = [];
                            item.Parent = dir;
                            dir.Subdirectories++;
                            subdirs.Add(item);
                            break;
                        case UnixFileType.RegularFile:
                            if (e.Size < 0)
                            {
                                throw new IOException($"'{e.Path}' reports a negative size.");
                            }

                            dataBytes += e.Size;
                            if (fast && OperatingSystem.IsLinux() && sparse.Contains(e.Path))
                            {
                                item.DataRanges = host!.GetDataRangesOfListedEntry(e.Path, e.Size);
                            }

                            break;
                        case UnixFileType.SymbolicLink:
                            item.Target = e.LinkTarget is { } target ? UnixPathEncoding.GetBytes(target) : new byte[Math.Clamp(e.Size, 0, MaxLinkTarget + 1)];
                            if (item.Target.Length is 0 or > MaxLinkTarget)
                            {
                                throw new NotSupportedException($"'{e.Path}': XFS symbolic-link targets are 1 to {MaxLinkTarget} bytes long.");
                            }

                            break;
                    }

                    if (e.Type != UnixFileType.Directory && e.LinkCount > 1)
                    {
                        hardLinks[e.Inode] = item;
                    }
                }

                dir.Children!.Add((name, item));
            }

            for (int i = subdirs.Count - 1; i >= 0; i--)
            {
                pending.Push(subdirs[i]);
            }
        }

#pragma warning restore CA1416
        return (items, dataBytes);
    }

    /// <summary>The last component of a listed path, without allocating (ordinal order equals <see cref="string.CompareOrdinal(string, string)"/>'s).</summary>
    private static ReadOnlySpan<char> NameOf(string path) => path.AsSpan(path.LastIndexOf('/') + 1);

    private static List<XfsAttributeToWrite>? Attributes(IReadOnlyDictionary<string, byte[]> xattrs, string path) =>
        xattrs.Count == 0 ? null : XfsAttributeLayout.FromXattrs(xattrs, path);
}
