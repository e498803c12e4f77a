namespace DiskImage.FileSystems.Xfs;

/// <summary>Options for <see cref="XfsFileSystem.Open"/>.</summary>
public sealed class XfsOpenOptions
{
    /// <summary>The defaults: read-only, checksums verified.</summary>
    public static XfsOpenOptions Default { get; } = new();

    /// <summary>
    /// Whether the CRCs of version 5 metadata (superblock, inodes, btree, directory, attribute and
    /// symbolic-link blocks) are verified on read; a mismatch throws <see cref="InvalidDataException"/>.
    /// Default true.
    /// </summary>
    public bool VerifyChecksums { get; init; } = true;

    /// <summary>
    /// Whether the file system is opened for writing. Default: false. Every entry's metadata and xattrs are then held
    /// in memory (file content stays on the device until a file is written), changes follow the
    /// <see cref="IFileSystem"/> contract exactly, and <see cref="XfsFileSystem.Flush"/> (and Dispose) writes them back
    /// by laying the metadata out again in place — same UUID, label, block and inode size, allocation-group count, log
    /// size and feature profile; every inode chunk, inode number and unchanged file's data extents kept where they are —
    /// into a scratch file in the temporary directory and copying the pieces that differ onto the device. A flush is all or nothing: when the tree does not fit
    /// (<see cref="IOException"/> "No space left") nothing is written, and when a device write fails the overwritten
    /// pieces are put back from an undo file; either way the changes stay pending for the next flush (or Dispose).
    /// Only when putting back fails too is the device left possibly inconsistent, and the object then refuses
    /// every call. While copying, the superblock carries <c>needsrepair</c>, so a process killed mid-copy leaves a
    /// file system the kernel and this writer refuse until <c>xfs_repair</c> has run. A stream left open across a flush
    /// keeps working (a read stream over content on the device throws <see cref="IOException"/> once that file is written or deleted).
    /// Checksums are always verified, and a damaged file system — allocation-group headers or btrees out of range, a
    /// directory reached twice (a cycle) — is refused with <see cref="InvalidDataException"/> before anything is written.
    /// Opening for writing is refused with <see cref="NotSupportedException"/> when the device is read-only, the file
    /// system is version 4, its log needs recovery, it has a realtime section, an external log, quotas, needsrepair,
    /// directory blocks other than max(4096, block size), or a feature set other than that of a
    /// <see cref="XfsFormatProfile"/> (Rhel7, Rhel8, Rhel9/Debian12, each optionally with rmapbt and nrext64 — the
    /// reverse-mapping btree is rebuilt at every flush), or a geometry the formatter cannot lay out (one allocation
    /// group, a log under 10 MiB, or under 16 MiB with rmapbt).
    /// </summary>
    public bool Writable { get; init; }
}
