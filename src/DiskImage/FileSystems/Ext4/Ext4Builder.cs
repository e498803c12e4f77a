using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using DiskImage.FileSystems.Host;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// The bulk builder behind <see cref="Ext4FileSystem.Build(BlockDevice, IFileSystem, Ext4BuildOptions?, CancellationToken)"/>: scans the
/// source tree once (metadata and xattrs), numbers the inodes in tree order, plans every block on top of the
/// <see cref="Ext4Formatter"/> layout (data in contiguous runs, extent-tree blocks after their file, shared xattr
/// blocks), then writes everything in block order through one coalescing buffer, reading each file once.
/// Directories are linear (as <c>mke2fs -d</c> writes them).
/// </summary>
internal sealed class Ext4Builder
{
    internal const uint RootInode = 2;
    internal const uint LostAndFoundInode = 11;
    internal const int MaxExtentLength = 32768;
    internal const int InodeExtraSize = 32;

    internal readonly IFileSystem _source;
    internal readonly Ext4BuildOptions _options;
    internal readonly CancellationToken _cancellationToken;
    internal readonly List<Item> _items = [];
    private long _dataBytes;
    private Ext4BuildLayout? _layout;
    private Ext4BuildWriter? _writer;

    public Ext4Builder(IFileSystem source, Ext4BuildOptions options, CancellationToken cancellationToken = default)
    {
        _source = source;
        _options = options;
        _cancellationToken = cancellationToken;
        ArgumentNullException.ThrowIfNull(options.Format, nameof(options));
        if (options.ExtraPercent is < 0 or > 1000)
        {
            throw new ArgumentException("ExtraPercent must be between 0 and 1000.", nameof(options));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(options.ExtraBytes, nameof(options));
    }

    /// <summary>Plans where the scanned tree goes.</summary>
    internal Ext4BuildLayout Layout => _layout ??= new Ext4BuildLayout(this);

    /// <summary>Writes the planned tree.</summary>
    internal Ext4BuildWriter Writer => _writer ??= new Ext4BuildWriter(this);

    /// <summary>Walks the source: every entry's metadata and xattrs, hard links resolved, inode numbers assigned.</summary>
    /// <param name="sizingOnly">Whether only sizes are needed: host symlinks are then not read (which would touch their atime).</param>
    public void Scan(bool sizingOnly = false)
    {
        var host = _source as HostDirectoryFileSystem;
        UnixFileInfo rootInfo = _source.GetEntry("/");
        if (rootInfo.Type != UnixFileType.Directory)
        {
            throw new IOException("The root of the source is not a directory.");
        }

        var root = new Item(rootInfo, "/") { Ino = RootInode, Children = [] };
        root.Xattrs = Ext4BuildWriter.PrepareXattrs(_source.GetXattrs("/"), "/");
        var hardLinks = new Dictionary<long, Item>();
        var ordered = new List<Item> { root };
        Item? lostAndFound = null;
        uint next = LostAndFoundInode + 1;
        var pending = new Stack<Item>();
        pending.Push(root);
        var seenDirectories = new HashSet<long> { _source.GetEntry("/").Inode };
        var entries = new List<UnixFileInfo>();
        var sparse = new HashSet<string>(StringComparer.Ordinal);
        var names = new List<byte[]>();
        while (pending.Count > 0)
        {
            _cancellationToken.ThrowIfCancellationRequested();
            Item dir = pending.Pop();
            entries.Clear();
            entries.AddRange(host is not null && OperatingSystem.IsLinux() ? host.EnumerateDirectory(dir.Path, readLinkTargets: !sizingOnly, sparse) : _source.EnumerateDirectory(dir.Path));
            entries.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
            var subdirs = new List<Item>();
            foreach (UnixFileInfo e in entries)
            {
                byte[] name = UnixPathEncoding.GetBytes(e.Name);
                if (name.Length is 0 or > 255)
                {
                    throw new NotSupportedException($"'{e.Path}': ext4 names are 1 to 255 bytes long.");
                }

                Item item;
                if (e.Type != UnixFileType.Directory && e.LinkCount > 1 && hardLinks.TryGetValue(e.Inode, out Item? first))
                {
                    item = first;
                    item.Links++;
                }
                else
                {
                    item = new Item(e, e.Path) { Links = 1 };
                    item.Xattrs = Ext4BuildWriter.PrepareXattrs(host is not null && OperatingSystem.IsLinux() ? host.GetXattrsOfListedEntry(e.Path) : _source.GetXattrs(e.Path), e.Path);
                    // The root's lost+found (of whatever type) takes inode 11, which e2fsck expects in use.
                    if (dir == root && e.Name == "lost+found")
                    {
                        item.Ino = LostAndFoundInode;
                        lostAndFound = item;
                    }
                    else
                    {
                        item.Ino = next++;
                        ordered.Add(item);
                    }

                    switch (e.Type)
                    {
                        case UnixFileType.Directory:
                            // A source whose directories form a cycle (a corrupt image) would never end; a host
                            // directory cannot be hard-linked, and host inode numbers repeat across mounts.
                            if (host is null && !seenDirectories.Add(e.Inode))
                            {
                                throw new InvalidDataException($"'{e.Path}': directory cycle or hard-linked directory (inode {e.Inode} appears twice in the source tree).");
                            }

                            item.Depth = dir.Depth + 1;
                            item.Children = [];
                            item.Parent = dir.Ino;
                            dir.Subdirectories++;
                            subdirs.Add(item);
                            break;
                        case UnixFileType.RegularFile:
                            if (e.Size < 0)
                            {
                                throw new IOException($"'{e.Path}' reports a negative size.");
                            }

                            _dataBytes += e.Size;
                            if (host is not null && OperatingSystem.IsLinux() && sparse.Contains(e.Path))
                            {
                                item.DataRanges = host.GetDataRangesOfListedEntry(e.Path, e.Size);
                            }

                            if (e.LinkCount > 1)
                            {
                                hardLinks[e.Inode] = item;
                            }

                            break;
                        case UnixFileType.SymbolicLink:
                            item.Target = e.LinkTarget is { } target ? UnixPathEncoding.GetBytes(target) : new byte[Math.Clamp(e.Size, 0, 1 << 16)];
                            if (item.Target.Length == 0)
                            {
                                throw new NotSupportedException($"'{e.Path}': a symbolic link with an empty target.");
                            }

                            goto default;
                        default:
                            if (e.LinkCount > 1)
                            {
                                hardLinks[e.Inode] = item;
                            }

                            break;
                    }
                }

                dir.Children!.Add(new Child(name, item));
            }

            for (int i = subdirs.Count - 1; i >= 0; i--)
            {
                pending.Push(subdirs[i]);
            }
        }

        if (lostAndFound is null)
        {
            UnixTime now = UnixTime.FromDateTimeOffset(DateTimeOffset.UtcNow);
            var info = new UnixFileInfo
            {
                Path = "/lost+found", Type = UnixFileType.Directory, Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, UserId = 0, GroupId = 0, Size = 0,
                LinkCount = 2, Inode = 0, AccessTime = now, ModificationTime = now, ChangeTime = now,
            };
            lostAndFound = new Item(info, "/lost+found") { Ino = LostAndFoundInode, Children = [], Parent = RootInode, Links = 1, Synthetic = true };
            root.Children.Add(new Child("lost+found"u8.ToArray(), lostAndFound));
            root.Subdirectories++;
        }

        ordered.Insert(1, lostAndFound);
        _items.AddRange(ordered);
    }

    /// <summary>The smallest fitting size plus the margins, rounded up to the block size.</summary>
    public long ComputeSize()
    {
        const long SmallLimit = 512L << 20;
        int? fixedBs = _options.Format.BlockSize;
        long min;
        if (fixedBs is null && Fits(SmallLimit - 1024))
        {
            min = Search(60 << 10, SmallLimit - 1024, 1024);
        }
        else
        {
            int bs = fixedBs ?? 4096;
            long lo = fixedBs is null ? SmallLimit : 60L << 10;
            min = SearchUp(lo, bs);
        }

        int finalBs = fixedBs ?? (min < SmallLimit ? 1024 : 4096);
        long wanted = checked(min + (min * _options.ExtraPercent / 100) + _options.ExtraBytes);
        long size = (wanted + finalBs - 1) / finalBs * finalBs;
        if (fixedBs is null && size >= SmallLimit)
        {
            size = (size + 4095) / 4096 * 4096;
        }

        return Fits(size) ? size : SearchUp(size, fixedBs ?? 4096);
    }

    /// <summary>Smallest fitting size at or above <paramref name="lo"/>: doubling, then bisection.</summary>
    private long SearchUp(long lo, int granularity)
    {
        long hi = Math.Max(lo, 1L << 20);
        while (!Fits(hi))
        {
            lo = hi;
            hi = checked(hi * 2);
            if (hi > 1L << 60)
            {
                throw new NotSupportedException("The tree does not fit in any file-system size Format supports with these options.");
            }
        }

        return Search(lo, hi, granularity);
    }

    /// <summary>Bisection keeping <c>Fits(hi)</c> true.</summary>
    private long Search(long lo, long hi, int granularity)
    {
        lo = lo / granularity * granularity;
        hi = (hi + granularity - 1) / granularity * granularity;
        while (hi - lo > granularity)
        {
            long mid = (lo + ((hi - lo) / 2)) / granularity * granularity;
            if (Fits(mid))
            {
                hi = mid;
            }
            else
            {
                lo = mid;
            }
        }

        return hi;
    }

    private bool Fits(long size)
    {
        try
        {
            var engine = new Ext4Formatter(null, size, _options.Format);
            engine.Layout();
            _ = Layout.Plan(engine);
            return true;
        }
        catch (Ext4NoSpaceException)
        {
            return false;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Formats the device and writes the planned tree.</summary>
    public void Build(BlockDevice device)
    {
        var engine = new Ext4Formatter(device, _options.Format);
        engine.Layout();
        Ext4BuildLayout.Placement[] plan;
        try
        {
            plan = Layout.Plan(engine);
        }
        catch (Ext4NoSpaceException)
        {
            long needed = ComputeSize();
            throw new IOException($"The tree ({_items.Count} inodes, {_dataBytes} bytes of file data) does not fit in {device.Length} bytes; it needs at least {needed} bytes with these options.");
        }

        Writer.Write(engine, device, plan);
    }

    /// <summary>One inode of the tree (hard links share one).</summary>
    internal sealed class Item(UnixFileInfo info, string path)
    {
        public UnixFileInfo Info { get; } = info;

        public string Path { get; } = path;

        public uint Ino { get; set; }

        public int Links { get; set; } = 1;

        public List<Child>? Children { get; set; }

        public uint Parent { get; set; } = RootInode;

        public int Subdirectories { get; set; }

        public int Depth { get; set; }

        public byte[] Target { get; set; } = [];

        /// <summary>Where a sparse regular file has data (byte offset, length); null when all of it counts.</summary>
        public List<(long Offset, long Length)>? DataRanges { get; set; }

        public Ext4BuildWriter.XattrSet? Xattrs { get; set; }

        public bool Synthetic { get; init; }
    }

    internal readonly record struct Child(byte[] Name, Item Item);

    internal sealed class ByteArrayComparer : IEqualityComparer<byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj)
        {
            var h = new HashCode();
            h.AddBytes(obj);
            return h.ToHashCode();
        }
    }
}

internal static class SpanCopyExtensions
{
    /// <summary>Copies <paramref name="source"/> into the start of <paramref name="destination"/>.</summary>
    public static void CopyFrom(this Span<byte> destination, ReadOnlySpan<byte> source) => source.CopyTo(destination);
}
