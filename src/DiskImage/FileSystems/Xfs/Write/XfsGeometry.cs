using System.Numerics;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// The layout of a new XFS file system, chosen as mkfs.xfs 6.1 chooses it (<c>calc_default_ag_geometry</c>,
/// <c>calculate_log_size</c>, <c>calc_rootino</c>): allocation groups, the internal log in the middle group, the
/// per-group header and btree-root blocks, inode alignment and the root inode.
/// </summary>
internal sealed class XfsGeometry
{
    public const int SectorSize = 512;
    public const int InodeCoreSize = 176;
    public const int MinAgFreeList = 4;
    private const long MinAgBytes = 16L << 20;
    private const long RealisticSizeBytes = 300L << 20;
    private const long RealisticLogBytes = 64L << 20;
    private const long SmallLogBytes = 10L << 20;

    /// <summary>
    /// The smallest log with rmapbt: its transactions reserve more, and the kernel refuses to mount a 10 MiB log with 4 KiB
    /// blocks ("Log size 2560 blocks too small, minimum size is 3049 blocks"; mkfs.xfs 6.1 asks for 3075 below 1 GiB).
    /// </summary>
    private const long RmapSmallLogBytes = 16L << 20;
    private const long MaxLogBytes = (2048L - 10) << 20;
    private const long MaxAgBytes = 1L << 40;

    private XfsGeometry()
    {
    }

    public XfsFormatProfile Profile { get; private init; }

    public int BlockSize { get; private init; }

    public int BlockLog { get; private init; }

    public int InodeSize { get; private init; }

    public int InodeLog { get; private init; }

    public int InodesPerBlockLog { get; private init; }

    public long DataBlocks { get; private init; }

    public int AgCount { get; private init; }

    public int AgBlocks { get; private init; }

    public int AgBlockLog { get; private init; }

    public int LogBlocks { get; private init; }

    public int LogAg { get; private init; }

    public bool Sparse { get; private init; }

    public bool Reflink { get; private init; }

    public bool BigTime { get; private init; }

    public bool InobtCount { get; private init; }

    /// <summary>Whether the reverse-mapping btree (rmapbt) is kept.</summary>
    public bool Rmap { get; private init; }

    /// <summary>Whether inodes use the large extent counters (nrext64: 64-bit data, 32-bit attribute extent counts).</summary>
    public bool LargeExtentCounts { get; private init; }

    /// <summary>
    /// Blocks mkfs.xfs puts on each AGFL, and what the kernel keeps there for trees of one level
    /// (<c>xfs_alloc_min_freelist</c>: two per free-space btree, two more for the rmapbt).
    /// </summary>
    public int FreeListLength => Rmap ? 6 : MinAgFreeList;

    public XfsReadOnlyCompatibleFeatures ReadOnlyCompatible { get; private init; }

    public XfsIncompatibleFeatures Incompatible { get; private init; }

    /// <summary>Inode chunk alignment in blocks (<c>sb_inoalignmt</c>).</summary>
    public int InodeAlign { get; private init; }

    /// <summary>Sparse chunk alignment (<c>sb_spino_align</c>), 0 without sparse inodes.</summary>
    public int SparseAlign { get; private init; }

    /// <summary>Blocks of one 64-inode chunk.</summary>
    public int ChunkBlocks { get; private init; }

    public int DirBlockSize { get; private init; }

    public int DirBlockLog { get; private init; }

    /// <summary>Fixed blocks at the start of every AG: header sectors and btree roots.</summary>
    public int BnoRoot { get; private init; }

    public int CntRoot => BnoRoot + 1;

    public int InoRoot => BnoRoot + 2;

    public int FinoRoot => BnoRoot + 3;

    /// <summary>The rmapbt root (after the free-inode btree root), -1 without rmapbt.</summary>
    public int RmapRoot => Rmap ? BnoRoot + 4 : -1;

    public int RefcountRoot => Reflink ? BnoRoot + 4 + (Rmap ? 1 : 0) : -1;

    public int PreallocBlocks { get; private init; }

    /// <summary>AG block of the first inode chunk (the root directory's) in AG 0.</summary>
    public int RootChunkBlock { get; private init; }

    public ulong RootInode => (ulong)RootChunkBlock << InodesPerBlockLog;

    public int LiteralSize => InodeSize - InodeCoreSize;

    public long LogStart => ((long)LogAg << AgBlockLog) | (uint)PreallocBlocks;

    public int AgLength(int ag) => ag == AgCount - 1 ? (int)(DataBlocks - ((long)ag * AgBlocks)) : AgBlocks;

    /// <summary>The smallest device size this geometry code accepts for <paramref name="options"/>.</summary>
    public static long MinimumBytes(XfsFormatOptions options) => 2 * MinAgBytes + (options.LogBlocks is { } l ? (long)l * options.BlockSize : SmallLog(options));

    private static long SmallLog(XfsFormatOptions options) => options.Profile == XfsFormatProfile.Upstream || options.ReverseMap ? RmapSmallLogBytes : SmallLogBytes;

    /// <summary>Chooses the geometry of a file system filling <paramref name="deviceBytes"/>.</summary>
    /// <exception cref="ArgumentException">An option is out of range or the device is too small.</exception>
    public static XfsGeometry Create(long deviceBytes, XfsFormatOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!Enum.IsDefined(options.Profile))
        {
            throw new ArgumentException($"Unknown XFS profile {options.Profile}.", nameof(options));
        }

        int bs = options.BlockSize;
        if (bs is not (1024 or 2048 or 4096))
        {
            throw new ArgumentException("The XFS block size must be 1024, 2048 or 4096.", nameof(options));
        }

        int isize = options.InodeSize;
        if (isize is not (512 or 1024 or 2048) || isize > bs && bs < 1024)
        {
            throw new ArgumentException("The XFS inode size must be 512, 1024 or 2048 (version 5 needs at least 512).", nameof(options));
        }

        if (System.Text.Encoding.UTF8.GetByteCount(options.Label) > 12)
        {
            throw new ArgumentException("The XFS label is at most 12 bytes.", nameof(options));
        }

        int blockLog = BitOperations.Log2((uint)bs);
        long dblocks = deviceBytes / bs;
        if (deviceBytes < MinimumBytes(options))
        {
            throw new ArgumentException($"The device ({deviceBytes} bytes) is too small for an XFS file system (at least {MinimumBytes(options)} bytes).", nameof(deviceBytes));
        }

        long agMin = MinAgBytes / bs;
        long agMaxBlocks = (MaxAgBytes - 1) >> blockLog;
        long agsize;
        if (options.AgCount is { } wanted)
        {
            if (wanted < 2)
            {
                throw new ArgumentException("An XFS file system needs at least 2 allocation groups.", nameof(options));
            }

            agsize = (dblocks / wanted) + (dblocks % wanted != 0 ? 1 : 0);
        }
        else if (dblocks >= (4L << 40) >> blockLog)
        {
            agsize = agMaxBlocks;
        }
        else
        {
            int shift = deviceBytes >= 128L << 20 ? 2 : deviceBytes >= 64L << 20 ? 1 : 1;
            agsize = dblocks >> shift;
            if ((dblocks & ((1L << shift) - 1)) != 0 && agsize < agMaxBlocks)
            {
                agsize++;
            }
        }

        if (agsize > agMaxBlocks || agsize < agMin)
        {
            throw new ArgumentException($"Allocation groups of {agsize} blocks are outside {agMin}–{agMaxBlocks}.", nameof(options));
        }

        long agcount = (dblocks / agsize) + (dblocks % agsize != 0 ? 1 : 0);
        if (dblocks % agsize != 0 && dblocks % agsize < agMin)
        {
            // mkfs.xfs drops a last group smaller than the minimum.
            agcount--;
            dblocks = agcount * agsize;
        }

        if (agcount < 2)
        {
            throw new ArgumentException("The device holds fewer than 2 allocation groups.", nameof(deviceBytes));
        }

        XfsFormatProfile p = options.Profile;
        bool sparse = p != XfsFormatProfile.Rhel7;
        bool reflink = p != XfsFormatProfile.Rhel7;
        bool bigtime = p is XfsFormatProfile.Debian12 or XfsFormatProfile.Rhel9 or XfsFormatProfile.Upstream;
        bool rmap = p == XfsFormatProfile.Upstream || options.ReverseMap;
        bool nrext64 = p == XfsFormatProfile.Upstream || options.LargeExtentCounts;
        int freeList = rmap ? 6 : MinAgFreeList;
        int hdrBlocks = Math.Max(1, 4 * SectorSize / bs);
        int prealloc = hdrBlocks + 4 + (rmap ? 1 : 0) + (reflink ? 1 : 0);
        int chunkBlocks = Math.Max(1, 64 * isize / bs);
        int clusterBlocks = Math.Max(1, 32 * isize / bs);
        int inodeAlign = sparse ? chunkBlocks : clusterBlocks;
        int rootBlock = RoundUp(prealloc + freeList, inodeAlign);

        long logBlocks;
        if (options.LogBlocks is { } fixedLog)
        {
            logBlocks = fixedLog;
        }
        else if (deviceBytes >= RealisticSizeBytes)
        {
            logBlocks = Math.Max(RealisticLogBytes >> blockLog, (dblocks << blockLog) / 2048 >> blockLog);
            logBlocks = Math.Min(logBlocks, agsize - prealloc - freeList - 1);
            logBlocks = Math.Min(logBlocks, MaxLogBytes >> blockLog);
        }
        else
        {
            logBlocks = SmallLog(options) >> blockLog;
        }

        int logAg = (int)(agcount / 2);
        long logAgLength = logAg == agcount - 1 ? dblocks - (logAg * agsize) : agsize;
        if (logBlocks < 512 || logBlocks * bs < SmallLog(options) || prealloc + logBlocks + freeList + 1 > logAgLength)
        {
            throw new ArgumentException($"A log of {logBlocks} blocks is too small ({SmallLog(options) >> 20} MiB and 512 blocks at least) or does not fit in an allocation group.", nameof(options));
        }

        return new XfsGeometry
        {
            Profile = p,
            BlockSize = bs,
            BlockLog = blockLog,
            InodeSize = isize,
            InodeLog = BitOperations.Log2((uint)isize),
            InodesPerBlockLog = blockLog - BitOperations.Log2((uint)isize),
            DataBlocks = dblocks,
            AgCount = (int)agcount,
            AgBlocks = (int)agsize,
            AgBlockLog = BitOperations.Log2((uint)agsize - 1) + 1,
            LogBlocks = (int)logBlocks,
            LogAg = logAg,
            Sparse = sparse,
            Reflink = reflink,
            BigTime = bigtime,
            InobtCount = bigtime,
            Rmap = rmap,
            LargeExtentCounts = nrext64,
            ReadOnlyCompatible = XfsReadOnlyCompatibleFeatures.FreeInodeBtree | (reflink ? XfsReadOnlyCompatibleFeatures.Reflink : 0) |
                (bigtime ? XfsReadOnlyCompatibleFeatures.InodeBtreeCounts : 0) | (rmap ? XfsReadOnlyCompatibleFeatures.ReverseMapBtree : 0),
            Incompatible = XfsIncompatibleFeatures.FileType | (sparse ? XfsIncompatibleFeatures.SparseInodes : 0) | (bigtime ? XfsIncompatibleFeatures.BigTime : 0) |
                (nrext64 ? XfsIncompatibleFeatures.LargeExtentCounts : 0),
            InodeAlign = inodeAlign,
            SparseAlign = sparse ? clusterBlocks : 0,
            ChunkBlocks = chunkBlocks,
            DirBlockSize = Math.Max(4096, bs),
            DirBlockLog = BitOperations.Log2((uint)(Math.Max(4096, bs) / bs)),
            BnoRoot = hdrBlocks,
            PreallocBlocks = prealloc,
            RootChunkBlock = rootBlock,
        };
    }

    /// <summary>The file-system block number of AG block <paramref name="agbno"/> of <paramref name="ag"/>.</summary>
    public ulong FsBlock(int ag, long agbno) => ((ulong)ag << AgBlockLog) | (ulong)agbno;

    /// <summary>The byte offset of AG block <paramref name="agbno"/> of <paramref name="ag"/>.</summary>
    public long ByteOffset(int ag, long agbno) => (((long)ag * AgBlocks) + agbno) << BlockLog;

    /// <summary>The 512-byte disk address of AG block <paramref name="agbno"/> (<c>XFS_AGB_TO_DADDR</c>).</summary>
    public ulong DiskAddress(int ag, long agbno) => (ulong)ByteOffset(ag, agbno) >> 9;

    /// <summary>The inode number of slot <paramref name="slot"/> of AG block <paramref name="agbno"/>.</summary>
    public ulong InodeNumber(int ag, long agbno, int slot) => ((ulong)ag << (AgBlockLog + InodesPerBlockLog)) | ((ulong)agbno << InodesPerBlockLog) | (uint)slot;

    private static int RoundUp(int value, int align) => (value + align - 1) / align * align;
}
