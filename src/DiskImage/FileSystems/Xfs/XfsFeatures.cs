namespace DiskImage.FileSystems.Xfs;

/// <summary>Incompatible features of a version 5 XFS superblock (<c>sb_features_incompat</c>).</summary>
[Flags]
public enum XfsIncompatibleFeatures : uint
{
    /// <summary>No feature.</summary>
    None = 0,

    /// <summary>Directory entries record the file type (<c>XFS_SB_FEAT_INCOMPAT_FTYPE</c>).</summary>
    FileType = 0x1,

    /// <summary>Sparse inode chunks (<c>XFS_SB_FEAT_INCOMPAT_SPINODES</c>).</summary>
    SparseInodes = 0x2,

    /// <summary>Metadata UUID separate from the user-visible one (<c>XFS_SB_FEAT_INCOMPAT_META_UUID</c>).</summary>
    MetaUuid = 0x4,

    /// <summary>64-bit nanosecond timestamps reaching 2486 (<c>XFS_SB_FEAT_INCOMPAT_BIGTIME</c>).</summary>
    BigTime = 0x8,

    /// <summary>xfs_repair must run before the file system is mounted (<c>XFS_SB_FEAT_INCOMPAT_NEEDSREPAIR</c>).</summary>
    NeedsRepair = 0x10,

    /// <summary>64-bit data fork and 32-bit attribute fork extent counters (<c>XFS_SB_FEAT_INCOMPAT_NREXT64</c>).</summary>
    LargeExtentCounts = 0x20,

    /// <summary>Atomic file content exchange (<c>XFS_SB_FEAT_INCOMPAT_EXCHRANGE</c>).</summary>
    ExchangeRange = 0x40,

    /// <summary>Directory parent pointers stored as attributes (<c>XFS_SB_FEAT_INCOMPAT_PARENT</c>).</summary>
    ParentPointers = 0x80,
}

/// <summary>Read-only compatible features of a version 5 XFS superblock (<c>sb_features_ro_compat</c>).</summary>
[Flags]
public enum XfsReadOnlyCompatibleFeatures : uint
{
    /// <summary>No feature.</summary>
    None = 0,

    /// <summary>Free inode btree (<c>XFS_SB_FEAT_RO_COMPAT_FINOBT</c>).</summary>
    FreeInodeBtree = 0x1,

    /// <summary>Reverse mapping btree (<c>XFS_SB_FEAT_RO_COMPAT_RMAPBT</c>).</summary>
    ReverseMapBtree = 0x2,

    /// <summary>Shared extents and the refcount btree (<c>XFS_SB_FEAT_RO_COMPAT_REFLINK</c>).</summary>
    Reflink = 0x4,

    /// <summary>Inode btree block counters in the AGI (<c>XFS_SB_FEAT_RO_COMPAT_INOBTCNT</c>).</summary>
    InodeBtreeCounts = 0x8,
}
