namespace DiskImage.FileSystems.Ext4;

/// <summary>How <see cref="Ext4FileSystem.Open(IO.BlockDevice, Ext4OpenOptions?, bool)"/> treats the file system.</summary>
public sealed class Ext4OpenOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static Ext4OpenOptions Default { get; } = new();

    /// <summary>
    /// Whether metadata checksums (superblock, group descriptors, inodes, extent blocks, directory
    /// blocks, htree nodes, xattr blocks) are verified on read. A mismatch throws
    /// <see cref="InvalidDataException"/>. Default: true. Ignored when <see cref="Writable"/> is set:
    /// writing always verifies (a change must never trust a damaged structure).
    /// </summary>
    public bool VerifyChecksums { get; init; } = true;

    /// <summary>
    /// Whether a file system whose journal needs recovery (a snapshot of a running system) may be read
    /// as it is, without replaying the journal; recent changes may then be missing. Default: false
    /// (<see cref="NotSupportedException"/>). Never allowed together with <see cref="Writable"/>.
    /// </summary>
    public bool AllowJournalRecoveryNeeded { get; init; }

    /// <summary>
    /// Whether the file system is opened for writing. Default: false. Opening for writing is refused with
    /// <see cref="NotSupportedException"/> when the device is read-only, the journal needs recovery or
    /// holds transactions, the file system is not clean or has errors, orphan inodes are pending, or a
    /// feature is set that the writer does not maintain (bigalloc, encrypt, casefold, verity, quota,
    /// project, mmp, shared_blocks, the read-only feature, or unknown read-only-compatible bits).
    /// Changes are written through to the device; counters, bitmaps and descriptors on
    /// <see cref="Ext4FileSystem.Flush"/> and <see cref="Ext4FileSystem.Dispose"/>. Before its first change the
    /// file system is marked not clean on the device (<c>EXT4_VALID_FS</c> cleared in <c>s_state</c>), and marked
    /// clean again by the flush once everything else is written: after a crash in between, e2fsck checks it fully
    /// ("was not cleanly unmounted") and opening it for writing is refused until it has been checked.
    /// </summary>
    public bool Writable { get; init; }

    /// <summary>
    /// The clock for the timestamps of changes (inode times, <c>s_wtime</c>); null for the current time.
    /// A fixed clock makes written images reproducible.
    /// </summary>
    public Func<UnixTime>? Clock { get; init; }
}
