namespace DiskImage.FileSystems.Ext4;

/// <summary>The feature profile <see cref="Ext4FileSystem.Format"/> lays out (all profiles: 4 KiB blocks from 512 MiB,
/// 256-byte inodes, flex_bg 16, half_md4 signed directory hash, an internal journal and a resize inode by default).</summary>
public enum Ext4FormatProfile
{
    /// <summary>
    /// <c>mke2fs -t ext4</c> of e2fsprogs 1.47.0 on Debian 12: has_journal, ext_attr, resize_inode, dir_index,
    /// filetype, extent, 64bit, flex_bg, sparse_super, large_file, huge_file, dir_nlink, extra_isize, metadata_csum.
    /// </summary>
    Debian12,

    /// <summary>RHEL 7-like: as <see cref="Debian12"/> but with crc16 <c>uninit_bg</c> instead of metadata_csum and 32-bit descriptors
    /// (no 64bit, so at most 2^32 blocks).</summary>
    Rhel7,

    /// <summary><c>mke2fs -t ext4</c> on RHEL 8 (e2fsprogs 1.45.6): the same feature set as <see cref="Debian12"/>.</summary>
    Rhel8,

    /// <summary><c>mke2fs -t ext4</c> on RHEL 9 (e2fsprogs 1.46.5): the same feature set as <see cref="Debian12"/>.</summary>
    Rhel9,

    /// <summary>
    /// Upstream e2fsprogs 1.47.0 and later (e.g. Debian 13): <see cref="Debian12"/> plus metadata_csum_seed (the checksum
    /// seed stored in the superblock) and orphan_file (an orphan file, inode 12 after a plain format; only with a journal).
    /// </summary>
    Upstream,
}

/// <summary>Options for <see cref="Ext4FileSystem.Format"/>. Fixing <see cref="Uuid"/>, <see cref="HashSeed"/> and
/// <see cref="Timestamp"/> makes the result byte-for-byte reproducible.</summary>
public sealed class Ext4FormatOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static Ext4FormatOptions Default { get; } = new();

    /// <summary>Feature profile (default <see cref="Ext4FormatProfile.Debian12"/>).</summary>
    public Ext4FormatProfile Profile { get; init; } = Ext4FormatProfile.Debian12;

    /// <summary>Block size: 1024, 2048 or 4096; null chooses like mke2fs (1024 below 512 MiB, else 4096).</summary>
    public int? BlockSize { get; init; }

    /// <summary>Bytes of file system per inode; null chooses like mke2fs from the size (8192 below 3 MiB,
    /// 4096 below 512 MiB, 16384 below 4 TiB, 32768 below 16 TiB, else 65536).</summary>
    public int? BytesPerInode { get; init; }

    /// <summary>Inode size in bytes: 256 (default) or 128.</summary>
    public int InodeSize { get; init; } = 256;

    /// <summary>Percentage of blocks reserved for the super-user (default 5).</summary>
    public int ReservedBlocksPercent { get; init; } = 5;

    /// <summary>Journal size in blocks; null picks mke2fs's default for the file-system size; 0 omits the journal.</summary>
    public int? JournalBlocks { get; init; }

    /// <summary>File-system UUID; null draws a random one.</summary>
    public Guid? Uuid { get; init; }

    /// <summary>Directory hash seed; null draws a random one.</summary>
    public Guid? HashSeed { get; init; }

    /// <summary>Volume label (at most 16 bytes of UTF-8).</summary>
    public string Label { get; init; } = string.Empty;

    /// <summary>
    /// Whether to reserve descriptor blocks for online growth and write the resize inode (inode 7, feature resize_inode),
    /// as mke2fs does by default: enough reserved blocks to grow the file system 1024-fold, at most what 32-bit block
    /// numbers and one indirect block allow (small file systems get the inode with nothing reserved, as with mke2fs).
    /// Default true; ignored (no resize inode) at more than 2^32 - 1 blocks.
    /// </summary>
    public bool ResizeInode { get; init; } = true;

    /// <summary>Creation time written to the superblock and the initial inodes (1970–2106); null uses the current time.</summary>
    public DateTimeOffset? Timestamp { get; init; }
}
