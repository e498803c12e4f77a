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
    /// Whether a file system whose journal needs recovery (a snapshot of a running system) may be opened read-only
    /// as it is, without replaying the journal; recent changes may then be missing. Default: false
    /// (<see cref="NotSupportedException"/>). Ignored with <see cref="Writable"/>, which replays the journal.
    /// </summary>
    public bool AllowJournalRecoveryNeeded { get; init; }

    /// <summary>
    /// Whether the file system is opened for writing. Default: false. A journal that needs recovery is replayed
    /// first, as a kernel mount does. Opening for writing is refused with <see cref="NotSupportedException"/> when
    /// the device is read-only, the journal holds transactions without needs_recovery or uses features this writer
    /// does not produce (v1 checksums, fast commits), the file system is not clean or has errors, orphan inodes are
    /// pending, or a feature is set that the writer does not maintain (bigalloc, verity, quota, project, mmp,
    /// shared_blocks, the read-only feature, or unknown read-only-compatible bits). On encrypt and casefold file
    /// systems, changes inside encrypted or casefolded directories are refused; the rest is writable.
    /// Each change is an all-or-nothing operation whose metadata joins a running transaction in memory (file data
    /// goes to the device first); a failed operation is undone. The transaction is committed through the jbd2
    /// journal (then checkpointed in place and the journal emptied), or, without a journal, written in place with
    /// the file system marked not clean meanwhile, when it grows large, on <see cref="Ext4FileSystem.Flush"/> and
    /// on <see cref="Ext4FileSystem.Dispose"/>: a crash at any point leaves a file system e2fsck and the kernel
    /// accept (after replaying the journal).
    /// </summary>
    public bool Writable { get; init; }

    /// <summary>
    /// The clock for the timestamps of changes (inode times, <c>s_wtime</c>); null for the current time.
    /// A fixed clock makes written images reproducible.
    /// </summary>
    public Func<UnixTime>? Clock { get; init; }
}
