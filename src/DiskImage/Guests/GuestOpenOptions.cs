using DiskImage.FileSystems;

namespace DiskImage.Guests;

/// <summary>How <see cref="Guest.Open(IO.BlockDevice, GuestOpenOptions?, bool)"/> opens a disk and its file systems.</summary>
public sealed class GuestOpenOptions
{
    /// <summary>The defaults: read-only, sector size detected, journals must be clean.</summary>
    public static GuestOpenOptions Default { get; } = new();

    /// <summary>
    /// Whether the file systems are opened for writing (ext4 and FAT; XFS stays read-only until its writer can
    /// open existing file systems). Default: false. The disk must be writable.
    /// </summary>
    public bool Writable { get; init; }

    /// <summary>The logical sector size of the partition table (512 or 4096), or 0 to detect it. Default 0.</summary>
    public int SectorSize { get; init; }

    /// <summary>
    /// Whether an ext4 file system whose journal needs recovery is read as it is (read-only guests only).
    /// Default: false (such a file system is refused when it is opened).
    /// </summary>
    public bool AllowJournalRecoveryNeeded { get; init; }

    /// <summary>The clock for the timestamps of changes; null for the current time.</summary>
    public Func<UnixTime>? Clock { get; init; }
}
