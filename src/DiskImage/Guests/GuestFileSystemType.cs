namespace DiskImage.Guests;

/// <summary>What a guest volume holds, recognised by its content (never by a partition type code), as <c>blkid</c> does.</summary>
public enum GuestFileSystemType
{
    /// <summary>Nothing recognised: zeros, an unknown file system, encrypted data.</summary>
    Unknown,

    /// <summary>ext2: an ext superblock without a journal.</summary>
    Ext2,

    /// <summary>ext3: an ext superblock with a journal and no ext4-only feature.</summary>
    Ext3,

    /// <summary>ext4: an ext superblock with an ext4-only feature (extents, 64bit, flex_bg, ...).</summary>
    Ext4,

    /// <summary>XFS (<c>XFSB</c> at byte 0).</summary>
    Xfs,

    /// <summary>FAT12, FAT16 or FAT32 (<c>vfat</c>).</summary>
    Fat,

    /// <summary>Linux swap (<c>SWAPSPACE2</c> at the end of the first page).</summary>
    Swap,

    /// <summary>An LVM2 physical volume (<c>LABELONE</c> / <c>LVM2 001</c> in sectors 0–3).</summary>
    LvmPhysicalVolume,
}
