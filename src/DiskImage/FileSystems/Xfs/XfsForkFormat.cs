namespace DiskImage.FileSystems.Xfs;

/// <summary>How an inode fork stores its content (<c>di_format</c>, <c>di_aformat</c>).</summary>
internal enum XfsForkFormat : byte
{
    /// <summary>A device number (<c>XFS_DINODE_FMT_DEV</c>).</summary>
    Device = 0,

    /// <summary>Content inside the inode (<c>XFS_DINODE_FMT_LOCAL</c>).</summary>
    Local = 1,

    /// <summary>An array of extent records inside the inode (<c>XFS_DINODE_FMT_EXTENTS</c>).</summary>
    Extents = 2,

    /// <summary>The root of a block-map btree inside the inode (<c>XFS_DINODE_FMT_BTREE</c>).</summary>
    Btree = 3,
}
