using System.Text;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Writes a tree (<see cref="ICpioTreeSource"/>) as a cpio archive the kernel can unpack: entries
/// sorted by byte order (parents before children, missing parents added), inodes numbered from 1 in
/// that order, device numbers zero, hard links grouped (one inode, data on the last link, as GNU
/// cpio does), owners and times optionally overridden or clamped. A root item (empty path) is written
/// first as <c>.</c>, like <c>find . | cpio -o</c>. The same tree content and options always give the
/// same bytes.
/// </summary>
public static class CpioArchiveBuilder
{
    /// <summary>Writes a complete archive (entries and trailer) of <paramref name="source"/> to <paramref name="destination"/>.</summary>
    /// <param name="destination">The stream receiving the archive.</param>
    /// <param name="source">The tree to archive.</param>
    /// <param name="options">Format, owners and times; null for the defaults.</param>
    /// <param name="cancellationToken">Stops the archive before the next entry or chunk of file data (the output is then incomplete).</param>
    public static void Write(Stream destination, ICpioTreeSource source, CpioBuildOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        options ??= new CpioBuildOptions();
        using var writer = new CpioWriter(destination, options.Format, leaveOpen: true)
        {
            TrailerAlignment = options.TrailerAlignment,
            DataAlignment = options.DataAlignment,
        };
        WriteEntries(writer, source, options, cancellationToken);
        writer.WriteTrailer();
    }

    /// <summary>Writes the entries of <paramref name="source"/> to <paramref name="writer"/> (no trailer).</summary>
    /// <param name="writer">The writer receiving the entries.</param>
    /// <param name="source">The tree to archive.</param>
    /// <param name="options">Format, owners and times; null for the defaults.</param>
    /// <param name="cancellationToken">Stops before the next entry or chunk of file data.</param>
    public static void WriteEntries(CpioWriter writer, ICpioTreeSource source, CpioBuildOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(writer);
        foreach (Planned p in Plan(source, options ?? new CpioBuildOptions(), cancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            Stream? data = p.Open?.Invoke();
            try
            {
                p.Entry.DataStreamCore = data;
                writer.WriteEntry(p.Entry);
            }
            finally
            {
                data?.Dispose();
                p.Entry.DataStreamCore = null;
            }
        }
    }

    /// <summary>Asynchronously writes a complete archive of <paramref name="source"/>.</summary>
    public static async Task WriteAsync(Stream destination, ICpioTreeSource source, CpioBuildOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        options ??= new CpioBuildOptions();
        var writer = new CpioWriter(destination, options.Format, leaveOpen: true)
        {
            TrailerAlignment = options.TrailerAlignment,
            DataAlignment = options.DataAlignment,
        };
        await using (writer.ConfigureAwait(false))
        {
            foreach (Planned p in Plan(source, options, cancellationToken))
            {
                Stream? data = p.Open?.Invoke();
                try
                {
                    p.Entry.DataStreamCore = data;
                    await writer.WriteEntryAsync(p.Entry, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    if (data is not null)
                    {
                        await data.DisposeAsync().ConfigureAwait(false);
                    }

                    p.Entry.DataStreamCore = null;
                }
            }

            await writer.WriteTrailerAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Normalizes a tree path: strips leading <c>/</c> and <c>./</c>, collapses <c>.</c> and empty components, rejects <c>..</c>.</summary>
    internal static string NormalizePath(string path)
    {
        var parts = new List<string>();
        foreach (string part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                throw new ArgumentException($"Path '{path}' contains '..'.", nameof(path));
            }

            parts.Add(part);
        }

        return string.Join('/', parts);
    }

    private static List<Planned> Plan(ICpioTreeSource source, CpioBuildOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        long? clamp = options.EffectiveClamp();
        var byPath = new Dictionary<string, CpioTreeItem>(StringComparer.Ordinal);
        CpioTreeItem? root = null;
        foreach (CpioTreeItem item in source.EnumerateItems())
        {
            string path = NormalizePath(item.Path);
            if (path.Length == 0)
            {
                // The root itself: written as "." when it is a directory.
                if (item.EntryType == CpioEntryType.Directory && root is null)
                {
                    root = item;
                }
                else
                {
                    throw new ArgumentException(root is null ? "The root of the tree is not a directory." : "The tree holds its root twice.", nameof(source));
                }

                continue;
            }

            if (!byPath.TryAdd(path, item))
            {
                throw new ArgumentException($"The tree holds '{path}' twice.", nameof(source));
            }
        }

        // Missing parents become plain directories.
        foreach (string path in byPath.Keys.ToArray())
        {
            int slash = path.LastIndexOf('/');
            while (slash > 0)
            {
                string parent = path[..slash];
                if (byPath.TryGetValue(parent, out CpioTreeItem? existing))
                {
                    if (existing.EntryType != CpioEntryType.Directory)
                    {
                        throw new ArgumentException($"'{parent}' is not a directory but has children.", nameof(source));
                    }

                    break;
                }

                byPath.Add(parent, new CpioTreeItem(parent, CpioEntryType.Directory) { ModificationTimeSeconds = clamp ?? 0 });
                slash = parent.LastIndexOf('/');
            }
        }

        var ordered = new List<(byte[] Key, string Path, CpioTreeItem Item)>(byPath.Count);
        foreach (KeyValuePair<string, CpioTreeItem> kv in byPath)
        {
            ordered.Add((DiskImage.FileSystems.UnixPathEncoding.GetBytes(kv.Key), kv.Key, kv.Value));
        }

        ordered.Sort(static (a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));

        // Directory link counts: 2 + subdirectories.
        var subdirs = new Dictionary<string, uint>(StringComparer.Ordinal);
        foreach ((_, string path, CpioTreeItem item) in ordered)
        {
            int slash = path.LastIndexOf('/');
            if (item.EntryType == CpioEntryType.Directory && slash > 0)
            {
                string parent = path[..slash];
                subdirs[parent] = subdirs.GetValueOrDefault(parent) + 1;
            }
        }

        // Hard link groups: count members and find the last one in archive order.
        var groups = new Dictionary<object, LinkGroup>();
        foreach ((_, _, CpioTreeItem item) in ordered)
        {
            if (item.EntryType == CpioEntryType.RegularFile && item.HardLinkKey is { } key)
            {
                if (!groups.TryGetValue(key, out LinkGroup? g))
                {
                    g = new LinkGroup();
                    groups.Add(key, g);
                }

                g.Count++;
                g.Last = item;
            }
        }

        var plan = new List<Planned>(ordered.Count + 1);
        uint nextInode = 1;
        if (root is not null)
        {
            uint topDirectories = 0;
            foreach ((_, string path, CpioTreeItem item) in ordered)
            {
                if (item.EntryType == CpioEntryType.Directory && !path.Contains('/', StringComparison.Ordinal))
                {
                    topDirectories++;
                }
            }

            long rootTime = root.ModificationTimeSeconds;
            var dot = new CpioEntry(CpioEntryType.Directory, ".")
            {
                Format = options.Format,
                Mode = root.Mode & (UnixFileMode)0xFFF,
                Uid = options.Uid ?? root.Uid,
                Gid = options.Gid ?? root.Gid,
                NLink = 2 + topDirectories,
                Inode = nextInode++,
            };
            dot.ModificationTimeSeconds = CpioEntry.ClampSeconds(clamp is { } rc && rootTime > rc ? rc : rootTime);
            plan.Add(new Planned(dot, null));
        }
        foreach ((_, string path, CpioTreeItem item) in ordered)
        {
            var entry = new CpioEntry(item.EntryType, path)
            {
                Format = options.Format,
                Mode = item.Mode & (UnixFileMode)0xFFF,
                Uid = options.Uid ?? item.Uid,
                Gid = options.Gid ?? item.Gid,
                NLink = 1,
            };
            long mtime = item.ModificationTimeSeconds;
            if (clamp is { } c && mtime > c)
            {
                mtime = c;
            }

            entry.ModificationTimeSeconds = CpioEntry.ClampSeconds(mtime);
            Func<Stream>? open = null;
            switch (item.EntryType)
            {
                case CpioEntryType.Directory:
                    entry.NLink = 2 + subdirs.GetValueOrDefault(path);
                    entry.Inode = nextInode++;
                    break;
                case CpioEntryType.SymbolicLink:
                    entry.LinkName = item.LinkTarget ?? throw new ArgumentException($"Symbolic link '{path}' has no target.", nameof(source));
                    entry.Inode = nextInode++;
                    break;
                case CpioEntryType.RegularFile:
                    if (item.Length > CpioLimits.MaxFileSize)
                    {
                        throw new NotSupportedException($"'{path}' is {item.Length} bytes; cpio newc/crc holds at most {CpioLimits.MaxFileSize} bytes per file.");
                    }

                    if (item.HardLinkKey is { } key && groups.TryGetValue(key, out LinkGroup? group) && group.Count > 1)
                    {
                        group.Inode ??= nextInode++;
                        entry.Inode = group.Inode.Value;
                        entry.NLink = (uint)group.Count;
                        bool carriesData = ReferenceEquals(group.Last, item);
                        entry.RawLength = carriesData ? item.Length : 0;
                        open = carriesData && item.Length > 0 ? item.OpenData : null;
                    }
                    else
                    {
                        entry.Inode = nextInode++;
                        entry.RawLength = item.Length;
                        open = item.Length > 0 ? item.OpenData : null;
                    }

                    if (entry.RawLength > 0 && open is null)
                    {
                        throw new ArgumentException($"Regular file '{path}' has data but no OpenData.", nameof(source));
                    }

                    break;
                default:
                    entry.RDevMajor = item.RDevMajor;
                    entry.RDevMinor = item.RDevMinor;
                    entry.Inode = nextInode++;
                    break;
            }

            plan.Add(new Planned(entry, open is null ? null : () => new ExactLengthStream(open(), entry.RawLength, path, cancellationToken)));
        }

        return plan;
    }

    private sealed class LinkGroup
    {
        public int Count;
        public CpioTreeItem? Last;
        public uint? Inode;
    }

    private readonly record struct Planned(CpioEntry Entry, Func<Stream>? Open);
}

/// <summary>Reads exactly the declared length of a source file, failing clearly if it changed size while being archived.</summary>
internal sealed class ExactLengthStream(Stream inner, long length, string name, CancellationToken cancellationToken = default) : ReadOnlyStreamBase
{
    private long _read;

    public override int Read(Span<byte> buffer)
    {
        cancellationToken.ThrowIfCancellationRequested();
        long left = length - _read;
        if (left <= 0)
        {
            return 0;
        }

        int n = inner.Read(buffer.Length > left ? buffer[..(int)left] : buffer);
        if (n == 0)
        {
            throw new IOException($"'{name}' shrank while being archived (expected {length} bytes, got {_read}).");
        }

        _read += n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
