using System.Buffers;
using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// The bulk builder behind <see cref="XfsFileSystem.Format"/> and <see cref="XfsFileSystem.Build(BlockDevice, IFileSystem, XfsBuildOptions?, CancellationToken)"/>:
/// numbers every inode of the scanned tree into contiguous chunks from the root chunk on, lays out every fork
/// (shortform or leaf attributes, shortform/block/leaf/node directories, local or remote symlinks, extent lists or
/// bmbt), allocates blocks first-fit, then writes inodes, metadata and file data, and finally the btrees, AG
/// headers, log and superblocks with exact counters.
/// </summary>
internal sealed partial class XfsBuilder
{
    private const int RemoteHeader = 56;
    private const int CopyBufferBytes = 4 << 20;
    private readonly List<XfsBuildItem> _items;
    private readonly XfsFormatOptions _format;
    private readonly CancellationToken _cancellationToken;
    private readonly UnixTime _now;
    private XfsGeometry _g = null!;
    private XfsSpaceAllocator _space = null!;
    private XfsAgState[] _states = [];
    private List<(int Ag, int Block)> _chunks = [];
    private long _laidOutBytes = -1;
    private bool _preferLargest;

    public XfsBuilder(List<XfsBuildItem> items, XfsFormatOptions format, CancellationToken cancellationToken)
    {
        _items = items;
        _format = format;
        _cancellationToken = cancellationToken;
        _now = UnixTime.FromDateTimeOffset(format.Timestamp ?? DateTimeOffset.UtcNow);
    }

    /// <summary>
    /// A builder that writes over an existing file system of the same geometry, keeping what is there: every inode chunk
    /// of <paramref name="keptChunks"/> (read from <paramref name="original"/>), every item's <see cref="XfsBuildItem.KeptInode"/>
    /// and the <see cref="XfsBuildItem.KeptData"/> extents of unchanged files.
    /// </summary>
    public XfsBuilder(List<XfsBuildItem> items, XfsFormatOptions format, List<XfsExistingChunk>[] keptChunks, BlockDevice original)
        : this(items, format, CancellationToken.None)
    {
        _kept = keptChunks;
        _original = original;
    }

    /// <summary>Lays the tree out for a device of <paramref name="bytes"/> (a later <see cref="Build"/> of that size writes this layout).</summary>
    /// <exception cref="XfsLayoutConflictException">What exists cannot be kept in place.</exception>
    /// <exception cref="IOException">The tree does not fit.</exception>
    public void LayOut(long bytes)
    {
        Layout(XfsGeometry.Create(bytes, _format));
        _laidOutBytes = bytes;
    }

    /// <summary>An empty tree: the root directory only, owned by root, mode 0755, times from the options.</summary>
    public static List<XfsBuildItem> EmptyTree(XfsFormatOptions format)
    {
        UnixTime t = UnixTime.FromDateTimeOffset(format.Timestamp ?? DateTimeOffset.UtcNow);
        var info = new UnixFileInfo
        {
            Path = "/", Type = UnixFileType.Directory, Mode = UnixFileModeBits.Directory, UserId = 0, GroupId = 0, Size = 0, LinkCount = 2, Inode = 0,
            AccessTime = t, ModificationTime = t, ChangeTime = t, CreationTime = t,
        };
        var root = new XfsBuildItem(info, "/") { Children = [] };
        root.Parent = root;
        return [root];
    }

    /// <summary>Whether the tree fits a device of <paramref name="bytes"/> (a dry layout).</summary>
    public bool Fits(long bytes)
    {
        try
        {
            Layout(XfsGeometry.Create(bytes, _format));
            return true;
        }
        catch (IOException)
        {
            return false;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>The smallest device size (a multiple of 1 MiB) the tree fits, found by dry layouts.</summary>
    /// <exception cref="NotSupportedException">The tree has something XFS cannot hold.</exception>
    public long SmallestSize()
    {
        const long MiB = 1L << 20;
        long lo = (XfsGeometry.MinimumBytes(_format) + MiB - 1) / MiB;
        if (Fits(lo * MiB))
        {
            return lo * MiB;
        }

        long hi = lo * 2;
        while (!Fits(hi * MiB))
        {
            lo = hi;
            hi *= 2;
            if (hi > (1L << 44) / MiB)
            {
                throw new IOException("The tree does not fit in any XFS file system this builder lays out.");
            }
        }

        // lo does not fit, hi does; the log grows at 300 MiB, so check the answer's neighbours stay fitting.
        while (hi - lo > 1)
        {
            long mid = lo + ((hi - lo) / 2);
            if (Fits(mid * MiB))
            {
                hi = mid;
            }
            else
            {
                lo = mid;
            }
        }

        return hi * MiB;
    }

    /// <summary>Lays out and writes the whole file system onto <paramref name="device"/>.</summary>
    public void Build(BlockDevice device, IFileSystem? source)
    {
        XfsGeometry g = _laidOutBytes == device.Length ? _g : XfsGeometry.Create(device.Length, _format);
        if (_laidOutBytes != device.Length)
        {
            Layout(g);
        }

        byte[] uuid = (_format.Uuid ?? Guid.NewGuid()).ToByteArray(bigEndian: true);
        var writer = new XfsForkWriter(g, device, uuid, source, _cancellationToken);
        if (_kept is not null)
        {
            WriteInodesInPlace(g, device, writer, uuid);
        }
        else
        {
            WriteInodes(g, device, writer, uuid);
        }

        var ag = new XfsAgWriter(g, device, uuid);
        (long icount, long ifree, long fdblocks) = ag.WriteGroups(_space, _states);
        if (_kept is null)
        {
            // Written over in place, the log stays as it is: clean (checked at open) and older than everything written.
            ag.WriteLog();
        }

        ag.WriteSuperblocks(_format.Label, icount, ifree, fdblocks);
        device.Flush();
    }

    private void WriteInodes(XfsGeometry g, BlockDevice device, XfsForkWriter writer, byte[] uuid)
    {
        byte[][] chunkBuffers = new byte[_chunks.Count][];
        int perChunk = 64;
        for (int c = 0; c < _chunks.Count; c++)
        {
            byte[] buf = new byte[g.ChunkBlocks * g.BlockSize];
            for (int i = 0; i < perChunk; i++)
            {
                XfsNewInode.WriteFree(buf.AsSpan(i * g.InodeSize, g.InodeSize), uuid, InodeOf(c * perChunk + i));
            }

            chunkBuffers[c] = buf;
        }

        for (int k = 0; k < _items.Count + 2; k++)
        {
            _cancellationToken.ThrowIfCancellationRequested();
            Span<byte> inode = chunkBuffers[k / perChunk].AsSpan((k % perChunk) * g.InodeSize, g.InodeSize);
            if (k is 1 or 2)
            {
                var rt = new XfsNewInode
                {
                    Mode = 0x8000, LinkCount = 1, ModificationTime = _now, ChangeTime = _now, CreationTime = _now, AccessTime = default,
                    Flags = (ushort)(k == 1 ? 0x4 : 0),
                };
                rt.WriteTo(inode, g, uuid, InodeOf(k));
                XfsChecksum.Update(inode, 100);
                continue;
            }

            XfsBuildItem item = _items[k == 0 ? 0 : k - 2];
            writer.Write(item, inode);
        }

        writer.Finish();

        for (int c = 0; c < _chunks.Count; c++)
        {
            device.Write(g.ByteOffset(_chunks[c].Ag, _chunks[c].Block), chunkBuffers[c]);
        }
    }

    private ulong InodeOf(int k)
    {
        (int ag, int block) = _chunks[k / 64];
        int within = k % 64;
        int perBlock = 1 << _g.InodesPerBlockLog;
        return _g.InodeNumber(ag, block + (within / perBlock), within % perBlock);
    }

    private void Layout(XfsGeometry g)
    {
        _g = g;
        _space = new XfsSpaceAllocator(g);
        _states = new XfsAgState[g.AgCount];
        if (_kept is not null)
        {
            LayoutInPlace(g);
            return;
        }

        for (int ag = 0; ag < g.AgCount; ag++)
        {
            _states[ag] = new XfsAgState();
            _space.Reserve(ag, 0, g.PreallocBlocks);
            if (ag == g.LogAg)
            {
                _space.Reserve(ag, g.PreallocBlocks, g.LogBlocks);
            }

            for (int i = 0; i < g.FreeListLength; i++)
            {
                _states[ag].FreeList.Add(_space.AllocateIn(ag, 1, 1));
            }
        }

        _space.Reserve(0, g.RootChunkBlock, g.ChunkBlocks);
        int total = _items.Count + 2;
        int chunkCount = (total + 63) / 64;
        _chunks = new List<(int Ag, int Block)>(chunkCount) { (0, g.RootChunkBlock) };
        for (int c = 1; c < chunkCount; c++)
        {
            _chunks.Add(_space.AllocateContiguous(g.ChunkBlocks, g.InodeAlign));
        }

        for (int c = 0; c < chunkCount; c++)
        {
            int used = Math.Min(64, total - (c * 64));
            ulong mask = used == 64 ? 0 : ~0UL << used;
            _states[_chunks[c].Ag].Chunks.Add(((uint)(_chunks[c].Block << g.InodesPerBlockLog), mask, 0));
        }

        for (int ag = 0; ag < g.AgCount; ag++)
        {
            XfsAgState st = _states[ag];
            st.Chunks.Sort(static (a, b) => a.StartAgino.CompareTo(b.StartAgino));
            int extra = XfsShortBtreeWriter.BlocksNeeded(st.Chunks.Count, g.BlockSize, 16, 4) - 1;
            for (int i = 0; i < extra; i++)
            {
                int b = _space.AllocateIn(ag, 1, 1);
                if (b < 0)
                {
                    throw new IOException("The tree does not fit in the XFS file system (no room for the inode btree).");
                }

                st.InobtBlocks.Add(b);
            }
        }

        for (int k = 0; k < _items.Count; k++)
        {
            _items[k].Inode = InodeOf(k == 0 ? 0 : k + 2);
        }

        LayoutItems();
    }

    private void LayoutItems()
    {
        foreach (XfsBuildItem item in _items)
        {
            _cancellationToken.ThrowIfCancellationRequested();
            LayoutItem(item);
        }

        // Free-space btrees taller than a root leaf (and the rmapbt) take their blocks from the head of a longer free
        // extent (so the number of free extents, and the blocks they need, stay as counted).
        List<XfsRmap>[]? maps = _g.Rmap ? XfsRmapLayout.InodeMappings(_g, _items) : null;
        for (int ag = 0; ag < _g.AgCount; ag++)
        {
            int need = XfsShortBtreeWriter.BlocksNeeded(_space.Free(ag).Count, _g.BlockSize, 8, 8) - 1;
            int rmapNeed = 0;
            if (maps is not null)
            {
                XfsRmapLayout.AddGroupMetadata(_g, ag, _states[ag], maps[ag]);
                XfsRmapLayout.SortAndMerge(maps[ag]);
                // The run taken below adds at most one record.
                rmapNeed = XfsRmapBtreeWriter.BlocksNeeded(maps[ag].Count + 1, _g.BlockSize) - 1;
            }

            int total = (2 * need) + rmapNeed;
            int b = -1;
            if (total > 0)
            {
                b = _space.TakeKeepingCount(ag, total);
                if (b < 0)
                {
                    throw new NotSupportedException($"AG {ag} has {_space.Free(ag).Count} free extents and no free extent to hold their btrees.");
                }

                for (int i = 0; i < need; i++)
                {
                    _states[ag].BnoBlocks.Add(b + i);
                    _states[ag].CntBlocks.Add(b + need + i);
                }

                for (int i = 0; i < rmapNeed; i++)
                {
                    _states[ag].RmapBlocks.Add(b + (2 * need) + i);
                }
            }

            if (maps is not null)
            {
                _states[ag].RmapRecords = RmapRecords(ag, maps[ag], b, total);
            }
        }
    }

    /// <summary>
    /// The group's rmapbt records once the btree blocks <paramref name="run"/>..+<paramref name="length"/> are taken; rmapbt
    /// blocks the records turn out not to need (the run merged with a neighbour) are given back from the run's tail.
    /// </summary>
    private byte[] RmapRecords(int ag, List<XfsRmap> maps, int run, int length)
    {
        XfsAgState st = _states[ag];
        var all = new List<XfsRmap>(maps.Count + 1);
        all.AddRange(maps);
        if (length > 0)
        {
            all.Add(new XfsRmap((uint)run, (uint)length, XfsRmapLayout.OwnAg, 0));
        }

        XfsRmapLayout.SortAndMerge(all);
        int surplus = st.RmapBlocks.Count - (XfsRmapBtreeWriter.BlocksNeeded(all.Count, _g.BlockSize) - 1);
        if (surplus > 0)
        {
            _space.GiveBack(ag, run + length - surplus, surplus);
            st.RmapBlocks.RemoveRange(st.RmapBlocks.Count - surplus, surplus);
            return RmapRecords(ag, maps, run, length - surplus);
        }

        return XfsRmapLayout.Pack(all);
    }

    private void LayoutItem(XfsBuildItem item)
    {
        XfsGeometry g = _g;
        int lit = g.LiteralSize;
        item.DataExtents.Clear();
        item.AttrExtents.Clear();
        item.BmbtBlocks = null;
        item.LocalData = null;
        item.LocalAttributes = null;
        item.DataBlocks = null;
        item.AttrBlocks = null;
        item.ForkOffset = 0;
        item.Size = 0;
        UnixFileType type = item.Info.Type;
        bool device = type is UnixFileType.CharacterDevice or UnixFileType.BlockDevice or UnixFileType.Fifo or UnixFileType.Socket;
        List<XfsDirectoryEntryToWrite>? entries = null;
        int localData = -1;
        if (type == UnixFileType.RegularFile)
        {
            AllocateFileData(item);
            item.Size = item.Info.Size;
        }
        else if (type == UnixFileType.Directory)
        {
            entries = new List<XfsDirectoryEntryToWrite>(item.Children!.Count);
            foreach ((byte[] name, XfsBuildItem child) in item.Children)
            {
                entries.Add(new XfsDirectoryEntryToWrite(name, child.Inode, FileType(child.Info.Type)));
            }

            localData = XfsDirectoryLayout.ShortformSize(item.Parent!.Inode, entries);
        }
        else if (type == UnixFileType.SymbolicLink)
        {
            localData = item.Target!.Length;
        }

        int dataSpace = lit;
        List<XfsAttributeToWrite>? attrs = item.Attributes;
        if (attrs is { Count: > 0 })
        {
            int sf = XfsAttributeLayout.ShortformSize(attrs);
            if (device)
            {
                item.ForkOffset = 1;
                if (sf >= 0 && sf <= lit - 8)
                {
                    item.LocalAttributes = XfsAttributeLayout.Shortform(attrs);
                }
                else
                {
                    LayoutAttributeLeaf(item, attrs);
                }
            }
            else
            {
                int dsize = type == UnixFileType.RegularFile ? item.DataExtents.Count * 16 : 0;
                int off = -1;
                if (sf >= 0)
                {
                    off = PlaceFork(lit, sf, localData >= 0 && localData + ((sf + 7) & ~7) <= lit ? localData : dsize);
                }

                if (off > 0)
                {
                    item.LocalAttributes = XfsAttributeLayout.Shortform(attrs);
                }
                else
                {
                    LayoutAttributeLeaf(item, attrs);
                    off = PlaceFork(lit, item.AttrExtents.Count * 16, 0);
                    if (off <= 0)
                    {
                        throw new NotSupportedException($"'{item.Path}': its attribute fork needs {item.AttrExtents.Count} extents, more than the inode holds.");
                    }
                }

                item.ForkOffset = off;
            }

            dataSpace = device ? 8 : item.ForkOffset * 8;
        }

        switch (type)
        {
            case UnixFileType.Directory:
                XfsDirectoryLayout dir = XfsDirectoryLayout.Create(g, item.Inode, item.Parent!.Inode, entries!, dataSpace);
                item.Size = dir.Size;
                if (dir.Local is not null)
                {
                    item.LocalData = dir.Local;
                }
                else
                {
                    item.DataBlocks = dir.Blocks;
                    AllocateBlocks(dir.Blocks, g.DirBlockSize >> g.BlockLog, item.DataExtents);
                }

                break;
            case UnixFileType.SymbolicLink:
                item.Size = item.Target!.Length;
                if (item.Target.Length <= dataSpace)
                {
                    item.LocalData = item.Target;
                }
                else
                {
                    // One header per contiguous extent (xfs_symlink, and xfs_repair reads it that way): one extent, one header.
                    int blocks = (item.Target.Length + g.BlockSize - RemoteHeader - 1) / (g.BlockSize - RemoteHeader);
                    item.DataBlocks = [RemoteSymlink(item.Target, blocks * g.BlockSize)];
                    (int sag, int sblock) = _space.AllocateContiguous(blocks);
                    item.DataExtents.Add(new XfsExtentToWrite(0, g.FsBlock(sag, sblock), blocks));
                }

                break;
        }

        if (item.DataExtents.Count * 16 > dataSpace)
        {
            int n = XfsBmbtWriter.BlocksNeeded(item.DataExtents.Count, g.BlockSize, dataSpace);
            item.BmbtBlocks = new List<ulong>(n);
            for (int i = 0; i < n; i++)
            {
                (int ag, int b, _) = _space.AllocatePart(1);
                item.BmbtBlocks.Add(g.FsBlock(ag, b));
            }
        }
    }

    /// <summary>The attribute fork offset (8-byte units) for <paramref name="attrBytes"/> of attributes as the kernel places it
    /// (<c>xfs_attr_shortform_bytesfit</c>), or -1 when the data fork would get less than it needs.</summary>
    private static int PlaceFork(int literal, int attrBytes, int dataBytes)
    {
        if (attrBytes > literal)
        {
            return -1;
        }

        int off = (literal - attrBytes) >> 3;
        int max = (literal - 20) >> 3;
        if (off >= max)
        {
            off = max;
        }

        int min = (Math.Max(dataBytes, 52) + 7) >> 3;
        return off >= min ? off : -1;
    }

    private void LayoutAttributeLeaf(XfsBuildItem item, List<XfsAttributeToWrite> attrs)
    {
        int blocks = XfsAttributeLayout.LeafBlocks(attrs, _g.BlockSize, item.Path);
        item.AttrBlocks = XfsAttributeLayout.Leaf(attrs, _g.BlockSize);
        AllocateRun(blocks, 0, item.AttrExtents);
    }

    private void AllocateFileData(XfsBuildItem item)
    {
        int bs = _g.BlockSize;
        long fileBlocks = (item.Info.Size + bs - 1) / bs;
        if (item.DataInPlace)
        {
            item.DataExtents.AddRange(item.KeptData!);
            return;
        }

        _preferLargest = _kept is not null;
        try
        {
            AllocateFileRanges(item, fileBlocks);
        }
        finally
        {
            _preferLargest = false;
        }
    }

    private void AllocateFileRanges(XfsBuildItem item, long fileBlocks)
    {
        int bs = _g.BlockSize;
        if (item.DataRanges is null)
        {
            AllocateRun(fileBlocks, 0, item.DataExtents);
            return;
        }

        long done = 0;
        foreach ((long offset, long length) in item.DataRanges)
        {
            long lb = Math.Max(offset / bs, done);
            long le = Math.Min((offset + length + bs - 1) / bs, fileBlocks);
            if (le > lb)
            {
                AllocateRun(le - lb, lb, item.DataExtents);
                done = le;
            }
        }
    }

    /// <summary>Allocates the runs of consecutive logical blocks that <paramref name="blocks"/> cover.</summary>
    private void AllocateBlocks(List<XfsMetadataBlock> blocks, int fsbsPerBlock, List<XfsExtentToWrite> into)
    {
        var logical = new List<long>(blocks.Count);
        foreach (XfsMetadataBlock b in blocks)
        {
            logical.Add(b.LogicalBlock);
        }

        logical.Sort();
        for (int i = 0; i < logical.Count;)
        {
            int j = i + 1;
            while (j < logical.Count && logical[j] == logical[j - 1] + fsbsPerBlock)
            {
                j++;
            }

            AllocateRun((long)(j - i) * fsbsPerBlock, logical[i], into);
            i = j;
        }
    }

    private void AllocateRun(long count, long logical, List<XfsExtentToWrite> into)
    {
        while (count > 0)
        {
            (int ag, int block, int n) = _preferLargest ? _space.AllocateLargest(count) : _space.AllocatePart(count);
            ulong fsb = _g.FsBlock(ag, block);
            if (into.Count > 0 && into[^1] is var last && last.Logical + last.Count == logical && last.FsBlock + (ulong)last.Count == fsb &&
                last.Count + n <= XfsSpaceAllocator.MaxExtentLength)
            {
                into[^1] = last with { Count = last.Count + n };
            }
            else
            {
                into.Add(new XfsExtentToWrite(logical, fsb, n));
            }

            logical += n;
            count -= n;
        }
    }

    private static XfsMetadataBlock RemoteSymlink(byte[] target, int length)
    {
        byte[] b = new byte[length];
        BinaryPrimitives.WriteUInt32BigEndian(b, 0x58534C4D);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(8), target.Length);
        target.CopyTo(b.AsSpan(RemoteHeader));
        return new XfsMetadataBlock(0, b, XfsHeaderKind.Remote);
    }

    /// <summary>The <c>XFS_DIR3_FT_*</c> value of a file type.</summary>
    internal static byte FileType(UnixFileType type) => type switch
    {
        UnixFileType.RegularFile => 1,
        UnixFileType.Directory => 2,
        UnixFileType.CharacterDevice => 3,
        UnixFileType.BlockDevice => 4,
        UnixFileType.Fifo => 5,
        UnixFileType.Socket => 6,
        UnixFileType.SymbolicLink => 7,
        _ => 0,
    };

    internal static int CopyBuffer => CopyBufferBytes;

    internal static ArrayPool<byte> Pool => ArrayPool<byte>.Shared;
}
