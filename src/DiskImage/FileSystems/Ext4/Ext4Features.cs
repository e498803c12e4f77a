namespace DiskImage.FileSystems.Ext4;

/// <summary>Compatible features (<c>s_feature_compat</c>): an implementation that does not know one may still read and write.</summary>
[Flags]
public enum Ext4CompatibleFeatures : uint
{
    /// <summary>No features.</summary>
    None = 0,

    /// <summary>Directory preallocation (<c>dir_prealloc</c>).</summary>
    DirPrealloc = 0x1,

    /// <summary>AFS server inodes (<c>imagic_inodes</c>).</summary>
    ImagicInodes = 0x2,

    /// <summary>A jbd2 journal exists (<c>has_journal</c>).</summary>
    HasJournal = 0x4,

    /// <summary>Extended attributes (<c>ext_attr</c>).</summary>
    ExtendedAttributes = 0x8,

    /// <summary>Reserved GDT blocks for online growth (<c>resize_inode</c>).</summary>
    ResizeInode = 0x10,

    /// <summary>Hash-indexed directories (<c>dir_index</c>).</summary>
    DirIndex = 0x20,

    /// <summary>Lazy block-group initialisation (<c>lazy_bg</c>).</summary>
    LazyBlockGroups = 0x40,

    /// <summary>Backup superblocks only in the two groups of <c>s_backup_bgs</c> (<c>sparse_super2</c>).</summary>
    SparseSuper2 = 0x200,

    /// <summary>Fast-commit journal area (<c>fast_commit</c>).</summary>
    FastCommit = 0x400,

    /// <summary>Inode numbers never change (<c>stable_inodes</c>).</summary>
    StableInodes = 0x800,

    /// <summary>Orphan tracking in a dedicated file (<c>orphan_file</c>).</summary>
    OrphanFile = 0x1000,
}

/// <summary>Incompatible features (<c>s_feature_incompat</c>): an implementation that does not know one must not read the file system.</summary>
[Flags]
public enum Ext4IncompatibleFeatures : uint
{
    /// <summary>No features.</summary>
    None = 0,

    /// <summary>Compression (never finished; <c>compression</c>).</summary>
    Compression = 0x1,

    /// <summary>Directory entries record the file type (<c>filetype</c>).</summary>
    FileType = 0x2,

    /// <summary>The journal needs recovery (<c>needs_recovery</c>).</summary>
    Recover = 0x4,

    /// <summary>This is an external journal device (<c>journal_dev</c>).</summary>
    JournalDevice = 0x8,

    /// <summary>Meta block groups (<c>meta_bg</c>).</summary>
    MetaBlockGroups = 0x10,

    /// <summary>Extent trees (<c>extent</c>).</summary>
    Extents = 0x40,

    /// <summary>64-bit block numbers and 64-byte group descriptors (<c>64bit</c>).</summary>
    SixtyFourBit = 0x80,

    /// <summary>Multiple-mount protection (<c>mmp</c>).</summary>
    MultipleMountProtection = 0x100,

    /// <summary>Flexible block groups (<c>flex_bg</c>).</summary>
    FlexBlockGroups = 0x200,

    /// <summary>Large xattr values in inodes (<c>ea_inode</c>).</summary>
    ExtendedAttributeInodes = 0x400,

    /// <summary>Data in directory entries (<c>dirdata</c>).</summary>
    DirData = 0x1000,

    /// <summary>Checksum seed stored in the superblock (<c>metadata_csum_seed</c>).</summary>
    ChecksumSeed = 0x2000,

    /// <summary>Directories over 2 GiB and 3-level htrees (<c>largedir</c>).</summary>
    LargeDirectories = 0x4000,

    /// <summary>Small files and directories stored inside the inode (<c>inline_data</c>).</summary>
    InlineData = 0x8000,

    /// <summary>Encrypted files (<c>encrypt</c>).</summary>
    Encrypt = 0x10000,

    /// <summary>Case-insensitive directories (<c>casefold</c>).</summary>
    CaseFold = 0x20000,
}

/// <summary>Read-only compatible features (<c>s_feature_ro_compat</c>): an implementation that does not know one may read but not write.</summary>
[Flags]
public enum Ext4ReadOnlyCompatibleFeatures : uint
{
    /// <summary>No features.</summary>
    None = 0,

    /// <summary>Backup superblocks only in groups 0, 1 and powers of 3, 5, 7 (<c>sparse_super</c>).</summary>
    SparseSuper = 0x1,

    /// <summary>Files of 2 GiB and more (<c>large_file</c>).</summary>
    LargeFile = 0x2,

    /// <summary>B-tree directories (never used; <c>btree_dir</c>).</summary>
    BTreeDirectories = 0x4,

    /// <summary><c>i_blocks</c> in file-system blocks for huge files (<c>huge_file</c>).</summary>
    HugeFile = 0x8,

    /// <summary>crc16 group-descriptor checksums and uninitialised groups (<c>uninit_bg</c>/<c>gdt_csum</c>).</summary>
    GroupDescriptorChecksum = 0x10,

    /// <summary>More than 65,000 subdirectories (<c>dir_nlink</c>).</summary>
    DirNLink = 0x20,

    /// <summary>Inodes reserve space beyond 128 bytes (<c>extra_isize</c>).</summary>
    ExtraInodeSize = 0x40,

    /// <summary>Quota inodes (<c>quota</c>).</summary>
    Quota = 0x100,

    /// <summary>Allocation in clusters of several blocks (<c>bigalloc</c>).</summary>
    BigAlloc = 0x200,

    /// <summary>crc32c checksums on all metadata (<c>metadata_csum</c>).</summary>
    MetadataChecksum = 0x400,

    /// <summary>Replicas (never used; <c>replica</c>).</summary>
    Replica = 0x800,

    /// <summary>Read-only file system image (<c>read-only</c>).</summary>
    ReadOnly = 0x1000,

    /// <summary>Project quotas (<c>project</c>).</summary>
    Project = 0x2000,

    /// <summary>Blocks shared between files (<c>shared_blocks</c>).</summary>
    SharedBlocks = 0x4000,

    /// <summary>fs-verity files (<c>verity</c>).</summary>
    Verity = 0x8000,

    /// <summary>The orphan file holds entries (<c>orphan_present</c>).</summary>
    OrphanPresent = 0x10000,
}
