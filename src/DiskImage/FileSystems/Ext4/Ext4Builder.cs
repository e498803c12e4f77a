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
    private const uint RootInode = 2;
    private const uint LostAndFoundInode = 11;
    private const int MaxExtentLength = 32768;
    private const int InodeExtraSize = 32;
    private const int WriteBufferBytes = 4 << 20;

    private readonly IFileSystem _source;
    private readonly Ext4BuildOptions _options;
    private readonly CancellationToken _cancellationToken;
    private readonly List<Item> _items = [];
    private long _dataBytes;

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
        root.Xattrs = PrepareXattrs(_source.GetXattrs("/"), "/");
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
                    item.Xattrs = PrepareXattrs(host is not null && OperatingSystem.IsLinux() ? host.GetXattrsOfListedEntry(e.Path) : _source.GetXattrs(e.Path), e.Path);
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
            _ = Plan(engine);
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
        Placement[] plan;
        try
        {
            plan = Plan(engine);
        }
        catch (Ext4NoSpaceException)
        {
            long needed = ComputeSize();
            throw new IOException($"The tree ({_items.Count} inodes, {_dataBytes} bytes of file data) does not fit in {device.Length} bytes; it needs at least {needed} bytes with these options.");
        }

        Write(engine, device, plan);
    }

    /// <summary>Where one inode's blocks go.</summary>
    private sealed class Placement
    {
        public List<(long Start, long Count)> Runs { get; } = [];

        /// <summary>The logical block of each run (runs of sparse files leave holes between them).</summary>
        public List<long> Logical { get; } = [];

        public long[] TreeBlocks { get; set; } = [];

        public SharedXattrBlock? XattrBlock { get; set; }

        public int DirectoryBlocks { get; set; }
    }

    private sealed class SharedXattrBlock(byte[] content, long block)
    {
        public byte[] Content { get; } = content;

        public long Block { get; } = block;

        public int References { get; set; }

        public bool Written { get; set; }
    }

    private Placement[] Plan(Ext4Formatter engine)
    {
        int bs = engine.BlockSize;
        var plan = new Placement[_items.Count];
        var shared = new Dictionary<byte[], SharedXattrBlock>(ByteArrayComparer.Instance);
        // The Upstream profile's orphan file takes the inode after the tree's last one (when the file system has a
        // journal; without one this keeps one inode more than needed).
        uint reserved = _options.Format.Profile == Ext4FormatProfile.Upstream ? 1u : 0u;
        if (_items.Count > 2 && (long)_items[^1].Ino + reserved > engine.InodeCount)
        {
            throw new Ext4NoSpaceException();
        }

        for (int i = 0; i < _items.Count; i++)
        {
            Item item = _items[i];
            var p = new Placement();
            plan[i] = p;
            long blocks = 0;
            switch (item.Info.Type)
            {
                case UnixFileType.Directory:
                    p.DirectoryBlocks = item.Synthetic ? engine.LostAndFoundBlocks : CountDirectoryBlocks(item, bs, engine.MetadataChecksum);
                    blocks = p.DirectoryBlocks;
                    break;
                case UnixFileType.RegularFile when item.DataRanges is not null:
                    PlaceSparse(engine, item, p, bs);
                    break;
                case UnixFileType.RegularFile:
                    blocks = (item.Info.Size + bs - 1) / bs;
                    break;
                case UnixFileType.SymbolicLink when item.Target!.Length >= 60:
                    if (item.Target.Length >= bs)
                    {
                        throw new NotSupportedException($"'{item.Path}': a symbolic link target of {item.Target.Length} bytes does not fit in one {bs}-byte block.");
                    }

                    blocks = 1;
                    break;
            }

            long logical = 0;
            while (blocks > 0)
            {
                (long s, long c) = engine.AllocateRun(Math.Min(blocks, MaxExtentLength));
                p.Runs.Add((s, c));
                p.Logical.Add(logical);
                logical += c;
                blocks -= c;
            }

            int treeBlocks = CountTreeBlocks(p.Runs.Count, bs);
            if (treeBlocks > 0)
            {
                p.TreeBlocks = new long[treeBlocks];
                for (int t = 0; t < treeBlocks; t++)
                {
                    p.TreeBlocks[t] = engine.AllocateRun(1).Start;
                }
            }

            if (item.Xattrs is { } xattrs)
            {
                byte[]? blockContent = xattrs.BlockContent(bs, engine.InodeSize, item.Path);
                if (blockContent is not null)
                {
                    if (!shared.TryGetValue(blockContent, out SharedXattrBlock? sx))
                    {
                        sx = new SharedXattrBlock(blockContent, engine.AllocateRun(1).Start);
                        shared.Add(blockContent, sx);
                    }

                    sx.References++;
                    p.XattrBlock = sx;
                }
            }

            engine.MarkInodeUsed(item.Ino, item.Info.Type == UnixFileType.Directory);
            if (item.Ino == LostAndFoundInode)
            {
                // The journal follows the root and lost+found, as in Format.
                engine.AllocateJournal();
            }
        }

        return plan;
    }

    /// <summary>Allocates only the blocks a sparse file has data in (block-aligned, merged), keeping its holes.</summary>
    private static void PlaceSparse(Ext4Formatter engine, Item item, Placement p, int bs)
    {
        long fileBlocks = (item.Info.Size + bs - 1) / bs;
        long end = -1;
        long first = 0;
        void Flush()
        {
            long logical = first;
            while (logical < end)
            {
                (long s, long c) = engine.AllocateRun(Math.Min(end - logical, MaxExtentLength));
                p.Runs.Add((s, c));
                p.Logical.Add(logical);
                logical += c;
            }
        }

        foreach ((long offset, long length) in item.DataRanges!)
        {
            long lb = offset / bs;
            long le = Math.Min((offset + length + bs - 1) / bs, fileBlocks);
            if (le <= lb)
            {
                continue;
            }

            if (end >= 0 && lb <= end)
            {
                end = Math.Max(end, le);
                continue;
            }

            if (end >= 0)
            {
                Flush();
            }

            first = lb;
            end = le;
        }

        if (end >= 0)
        {
            Flush();
        }

        if (fileBlocks > uint.MaxValue)
        {
            throw new NotSupportedException($"'{item.Path}' is larger than ext4 extents address.");
        }
    }

    /// <summary>Index and leaf blocks an extent tree over <paramref name="extents"/> needs beyond the four in-inode entries.</summary>
    private static int CountTreeBlocks(int extents, int bs)
    {
        if (extents <= 4)
        {
            return 0;
        }

        int perBlock = (bs - 12) / 12;
        int total = 0;
        int level = extents;
        int depth = 0;
        while (level > 4)
        {
            level = (level + perBlock - 1) / perBlock;
            total += level;
            if (++depth > 4)
            {
                throw new NotSupportedException("The file needs an extent tree deeper than ext4 allows.");
            }
        }

        return total;
    }

    private static int DirectoryRecordLength(int nameLength) => (8 + nameLength + 3) & ~3;

    private static int CountDirectoryBlocks(Item dir, int bs, bool csum)
    {
        int usable = bs - (csum ? 12 : 0);
        int blocks = 1;
        int off = 24; // "." and ".."
        foreach (Child c in dir.Children!)
        {
            int rec = DirectoryRecordLength(c.Name.Length);
            if (off + rec > usable)
            {
                blocks++;
                off = 0;
            }

            off += rec;
        }

        return blocks;
    }

    private static void RenderDirectory(Item dir, Span<byte> blocks, int bs, Ext4Formatter engine)
    {
        blocks.Clear();
        int usable = bs - (engine.MetadataChecksum ? 12 : 0);
        int block = 0;
        int off = 0;
        int last = -1;
        void Add(Span<byte> all, uint ino, ReadOnlySpan<byte> name, byte type)
        {
            int rec = DirectoryRecordLength(name.Length);
            if (off + rec > usable)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(all[((block * bs) + last + 4)..], (ushort)(usable - last));
                block++;
                off = 0;
            }

            Span<byte> e = all[((block * bs) + off)..];
            BinaryPrimitives.WriteUInt32LittleEndian(e, ino);
            BinaryPrimitives.WriteUInt16LittleEndian(e[4..], (ushort)rec);
            e[6] = (byte)name.Length;
            e[7] = type;
            name.CopyTo(e[8..]);
            last = off;
            off += rec;
        }

        Add(blocks, dir.Ino, "."u8, 2);
        Add(blocks, dir.Parent, ".."u8, 2);
        foreach (Child c in dir.Children!)
        {
            Add(blocks, c.Item.Ino, c.Name, Ext4DirectoryLeaf.DirectoryEntryType(c.Item.Info.Type));
        }

        BinaryPrimitives.WriteUInt16LittleEndian(blocks[((block * bs) + last + 4)..], (ushort)(usable - last));
        int count = blocks.Length / bs;
        for (int b = 0; b < count; b++)
        {
            engine.SealDirBlock(dir.Ino, blocks.Slice(b * bs, bs));
        }
    }

    private void Write(Ext4Formatter engine, BlockDevice device, Placement[] plan)
    {
        int bs = engine.BlockSize;
        engine.BeginWriting();
        using var writer = new BlockWriter(device, bs, WriteBufferBytes);
        byte[] raw = new byte[engine.InodeSize];
        byte[] block = new byte[bs];
        for (int i = 0; i < _items.Count; i++)
        {
            _cancellationToken.ThrowIfCancellationRequested();
            Item item = _items[i];
            Placement p = plan[i];
            switch (item.Info.Type)
            {
                case UnixFileType.Directory:
                    if (item.Synthetic)
                    {
                        writer.Flush();
                        engine.WriteEmptyLostAndFound(p.Runs, RootInode);
                    }
                    else
                    {
                        byte[] dirBuf = ArrayPool<byte>.Shared.Rent(p.DirectoryBlocks * bs);
                        try
                        {
                            Span<byte> all = dirBuf.AsSpan(0, p.DirectoryBlocks * bs);
                            RenderDirectory(item, all, bs, engine);
                            EmitRuns(writer, p.Runs, all, bs);
                        }
                        finally
                        {
                            ArrayPool<byte>.Shared.Return(dirBuf);
                        }
                    }

                    break;
                case UnixFileType.RegularFile:
                    CopyFile(item, p, writer, bs);
                    break;
                case UnixFileType.SymbolicLink when p.Runs.Count == 1:
                    Array.Clear(block);
                    item.Target.CopyTo(block, 0);
                    writer.Reserve(p.Runs[0].Start, 1).CopyFrom(block);
                    break;
            }

            Array.Clear(raw);
            WriteExtentTree(engine, item, p, raw, writer, block);
            if (p.XattrBlock is { } sx)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(0x68), (uint)sx.Block);
                BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(0x76), (ushort)(sx.Block >> 32));
                if (!sx.Written)
                {
                    sx.Written = true;
                    Span<byte> b = writer.Reserve(sx.Block, 1);
                    sx.Content.CopyTo(b);
                    BinaryPrimitives.WriteUInt32LittleEndian(b[4..], (uint)sx.References);
                    if (engine.MetadataChecksum)
                    {
                        Ext4XattrLayout.SetBlockChecksum(b, sx.Block, engine.ChecksumSeed);
                    }
                }
            }

            FillInode(engine, item, p, raw);
            engine.StoreInode(item.Ino, raw);
        }

        writer.Flush();
        engine.Finish();
    }

    private static void EmitRuns(BlockWriter writer, List<(long Start, long Count)> runs, ReadOnlySpan<byte> data, int bs)
    {
        int off = 0;
        foreach ((long start, long count) in runs)
        {
            long done = 0;
            while (done < count)
            {
                int n = (int)Math.Min(count - done, writer.MaxBlocks);
                data.Slice(off, n * bs).CopyTo(writer.Reserve(start + done, n));
                off += n * bs;
                done += n;
            }
        }
    }

    private void CopyFile(Item item, Placement p, BlockWriter writer, int bs)
    {
        if (p.Runs.Count == 0)
        {
            return;
        }

        long size = item.Info.Size;
        using Stream s = _source.OpenFile(item.Path, FileMode.Open, FileAccess.Read);
        long position = 0;
        for (int r = 0; r < p.Runs.Count; r++)
        {
            (long start, long count) = p.Runs[r];
            long offset = p.Logical[r] * bs;
            if (offset != position)
            {
                s.Seek(offset, SeekOrigin.Begin);
                position = offset;
            }

            long done = 0;
            while (done < count)
            {
                _cancellationToken.ThrowIfCancellationRequested();
                int n = (int)Math.Min(count - done, writer.MaxBlocks);
                Span<byte> span = writer.Reserve(start + done, n);
                int want = (int)Math.Clamp(size - position, 0, span.Length);
                int got = want > 0 ? s.ReadAtLeast(span[..want], want, throwOnEndOfStream: false) : 0;

                // A file that shrank since the scan reads as zeros up to its scanned size.
                span[got..].Clear();
                position += want;
                if (got < want)
                {
                    s.Seek(position, SeekOrigin.Begin);
                }

                done += n;
            }
        }
    }

    /// <summary>Sets <c>i_block</c> (extent root, fast symlink or device) and writes the extent-tree blocks.</summary>
    private static void WriteExtentTree(Ext4Formatter engine, Item item, Placement p, byte[] raw, BlockWriter writer, byte[] block)
    {
        Span<byte> iblock = raw.AsSpan(0x28, 60);
        switch (item.Info.Type)
        {
            case UnixFileType.SymbolicLink when p.Runs.Count == 0:
                item.Target.CopyTo(iblock);
                return;
            case UnixFileType.CharacterDevice or UnixFileType.BlockDevice:
                uint major = (uint)item.Info.DeviceMajor;
                uint minor = (uint)item.Info.DeviceMinor;
                if (major < 256 && minor < 256)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(iblock, (major << 8) | minor);
                }
                else
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(iblock[4..], (minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & ~0xFFu) << 12));
                }

                return;
            case UnixFileType.Fifo or UnixFileType.Socket:
                return;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(0x20), Ext4Inode.ExtentsFlag);
        int bs = engine.BlockSize;
        int perBlock = (bs - 12) / 12;

        // Level 0 entries are the extents; each level above indexes the one below until four remain for the inode.
        var level = new List<(uint Logical, long Start, long Count)>(p.Runs.Count);
        for (int r = 0; r < p.Runs.Count; r++)
        {
            level.Add(((uint)p.Logical[r], p.Runs[r].Start, p.Runs[r].Count));
        }

        int depth = 0;
        int treeIndex = 0;
        while (level.Count > 4)
        {
            var upper = new List<(uint Logical, long Start, long Count)>((level.Count + perBlock - 1) / perBlock);
            for (int first = 0; first < level.Count; first += perBlock)
            {
                int n = Math.Min(perBlock, level.Count - first);
                long node = p.TreeBlocks[treeIndex++];
                Array.Clear(block);
                WriteNode(block, level, first, n, perBlock, depth);
                engine.SealExtentBlock(item.Ino, block);
                writer.Reserve(node, 1).CopyFrom(block);
                upper.Add((level[first].Logical, node, 0));
            }

            level = upper;
            depth++;
        }

        WriteNode(iblock, level, 0, level.Count, 4, depth);
    }

    private static void WriteNode(Span<byte> node, List<(uint Logical, long Start, long Count)> entries, int first, int count, int max, int depth)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(node, 0xF30A);
        BinaryPrimitives.WriteUInt16LittleEndian(node[2..], (ushort)count);
        BinaryPrimitives.WriteUInt16LittleEndian(node[4..], (ushort)max);
        BinaryPrimitives.WriteUInt16LittleEndian(node[6..], (ushort)depth);
        for (int i = 0; i < count; i++)
        {
            (uint logical, long start, long length) = entries[first + i];
            Span<byte> e = node[(12 + (i * 12))..];
            BinaryPrimitives.WriteUInt32LittleEndian(e, logical);
            if (depth == 0)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(e[4..], (ushort)length);
                BinaryPrimitives.WriteUInt16LittleEndian(e[6..], (ushort)(start >> 32));
                BinaryPrimitives.WriteUInt32LittleEndian(e[8..], (uint)start);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(e[4..], (uint)start);
                BinaryPrimitives.WriteUInt16LittleEndian(e[8..], (ushort)(start >> 32));
            }
        }
    }

    private static void FillInode(Ext4Formatter engine, Item item, Placement p, byte[] raw)
    {
        UnixFileInfo info = item.Info;
        int bs = engine.BlockSize;
        long size;
        ushort links;
        switch (info.Type)
        {
            case UnixFileType.Directory:
                size = (long)p.DirectoryBlocks * bs;
                links = item.Subdirectories + 2 >= 65000 ? (ushort)1 : (ushort)(item.Subdirectories + 2);
                break;
            case UnixFileType.RegularFile:
                size = info.Size;
                links = (ushort)Math.Min(item.Links, 65000);
                break;
            case UnixFileType.SymbolicLink:
                size = item.Target!.Length;
                links = (ushort)Math.Min(item.Links, 65000);
                break;
            default:
                size = 0;
                links = (ushort)Math.Min(item.Links, 65000);
                break;
        }

        if (item.Links > 65000)
        {
            throw new NotSupportedException($"'{item.Path}' has {item.Links} hard links; ext4 allows 65000.");
        }

        ushort mode = (ushort)((int)info.Type | ((int)info.Mode & 0xFFF));
        if (item.Synthetic)
        {
            var t = new UnixTime(engine.Seconds, 0);
            engine.InitInode(raw, mode, 0, 0, links, size, t, t, t, t);
        }
        else
        {
            engine.InitInode(raw, mode, info.UserId, info.GroupId, links, size, info.AccessTime, info.ChangeTime, info.ModificationTime, info.CreationTime ?? info.ChangeTime);
        }
        long blocks = p.TreeBlocks.Length + (p.XattrBlock is null ? 0 : 1);
        foreach ((long _, long c) in p.Runs)
        {
            blocks += c;
        }

        engine.SetBlockCount(raw, blocks);
        if (item.Xattrs is { } x && engine.HasExtra)
        {
            x.WriteInodeArea(raw.AsSpan(0x80 + InodeExtraSize));
        }
    }

    /// <summary>
    /// Converts the source's xattrs to their on-disk entries in block order. A name ext4 cannot store gives
    /// <see cref="NotSupportedException"/>; a POSIX ACL value that is not a valid ACL gives <see cref="ArgumentException"/>.
    /// </summary>
    private static XattrSet? PrepareXattrs(IReadOnlyDictionary<string, byte[]> xattrs, string path)
    {
        if (xattrs.Count == 0)
        {
            return null;
        }

        var list = new List<Ext4XattrEntry>(xattrs.Count);
        foreach ((string name, byte[] value) in xattrs)
        {
            byte index;
            byte[] suffix;
            try
            {
                (index, suffix) = Ext4XattrLayout.ParseName(name);
            }
            catch (ArgumentException e)
            {
                throw new NotSupportedException($"'{path}': ext4 cannot store the xattr '{name}': {e.Message}", e);
            }

            byte[] stored = value;
            if (index is Ext4XattrLayout.PosixAclAccessIndex or Ext4XattrLayout.PosixAclDefaultIndex)
            {
                try
                {
                    stored = Ext4PosixAcl.ToDisk(value);
                }
                catch (ArgumentException e)
                {
                    throw new ArgumentException($"'{path}': the xattr '{name}' of the source: {e.Message}", "source", e);
                }
            }

            list.Add(new Ext4XattrEntry(index, suffix, stored));
        }

        list.Sort(Ext4XattrLayout.CompareBlockOrder);
        return new XattrSet(list);
    }

    /// <summary>An inode's xattrs, split between the in-inode area and one block (as the kernel does: in-inode first).</summary>
    private sealed class XattrSet(List<Ext4XattrEntry> entries)
    {
        private List<Ext4XattrEntry>? _inInode;
        private List<Ext4XattrEntry>? _inBlock;
        private int _inodeSize;

        private void Split(int inodeSize)
        {
            if (_inInode is not null && _inodeSize == inodeSize)
            {
                return;
            }

            _inodeSize = inodeSize;
            _inInode = [];
            _inBlock = [];
            int space = Ext4XattrLayout.InodeCapacity(inodeSize, InodeExtraSize);
            int used = 4; // end marker
            foreach (Ext4XattrEntry e in entries)
            {
                if (used + e.Footprint <= space)
                {
                    _inInode.Add(e);
                    used += e.Footprint;
                }
                else
                {
                    _inBlock.Add(e);
                }
            }
        }

        /// <summary>The xattr block (refcount and checksum zero), or null when everything fits in the inode.</summary>
        public byte[]? BlockContent(int bs, int inodeSize, string path)
        {
            Split(inodeSize);
            if (_inBlock!.Count == 0)
            {
                return null;
            }

            int need = Ext4XattrLayout.BlockHeaderSize + Ext4XattrLayout.Required(_inBlock);
            if (need > Ext4XattrLayout.BlockHeaderSize + Ext4XattrLayout.BlockCapacity(bs))
            {
                throw new NotSupportedException($"'{path}': its extended attributes need {need} bytes, more than one {bs}-byte block (ea_inode is not supported).");
            }

            byte[] b = new byte[bs];
            Ext4XattrLayout.WriteBlock(b, _inBlock, 0);
            return b;
        }

        /// <summary>Writes the in-inode area (magic, entries, values from its end); <paramref name="tail"/> starts at <c>0x80 + i_extra_isize</c>.</summary>
        public void WriteInodeArea(Span<byte> tail)
        {
            if (_inInode is { Count: > 0 })
            {
                Ext4XattrLayout.WriteInodeArea(tail, _inInode);
            }
        }
    }

    /// <summary>One inode of the tree (hard links share one).</summary>
    private sealed class Item(UnixFileInfo info, string path)
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

        public XattrSet? Xattrs { get; set; }

        public bool Synthetic { get; init; }
    }

    private readonly record struct Child(byte[] Name, Item Item);

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>
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

    /// <summary>Coalesces writes of consecutive blocks into large positional writes.</summary>
    private sealed class BlockWriter : IDisposable
    {
        private readonly BlockDevice _device;
        private readonly int _bs;
        private readonly byte[] _buffer;
        private long _start;
        private int _count;

        public BlockWriter(BlockDevice device, int bs, int bytes)
        {
            _device = device;
            _bs = bs;
            _buffer = ArrayPool<byte>.Shared.Rent(bytes);
            MaxBlocks = bytes / bs;
        }

        public int MaxBlocks { get; }

        /// <summary>The buffer for blocks <paramref name="block"/>..+<paramref name="count"/> (contents undefined; the caller fills all of it).</summary>
        public Span<byte> Reserve(long block, int count)
        {
            if (_count > 0 && (block != _start + _count || _count + count > MaxBlocks))
            {
                Flush();
            }

            if (_count == 0)
            {
                _start = block;
            }

            Span<byte> span = _buffer.AsSpan(_count * _bs, count * _bs);
            _count += count;
            return span;
        }

        public void Flush()
        {
            if (_count == 0)
            {
                return;
            }

            _device.Write(_start * _bs, _buffer.AsSpan(0, _count * _bs));
            _count = 0;
        }

        public void Dispose() => ArrayPool<byte>.Shared.Return(_buffer);
    }
}

internal static class SpanCopyExtensions
{
    /// <summary>Copies <paramref name="source"/> into the start of <paramref name="destination"/>.</summary>
    public static void CopyFrom(this Span<byte> destination, ReadOnlySpan<byte> source) => source.CopyTo(destination);
}
