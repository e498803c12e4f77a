namespace DiskImage.FileSystems.Fat;

/// <summary>How <see cref="FatFileSystem.Open(IO.BlockDevice, FatOpenOptions?, bool)"/> treats the file system.</summary>
public sealed class FatOpenOptions
{
    /// <summary>The options used when none are given: read-only, current time.</summary>
    public static FatOpenOptions Default { get; } = new();

    /// <summary>
    /// Whether the file system is opened for writing. Default: false. Data and directory entries are written
    /// through; the FATs (every copy) and the FAT32 FSInfo free count and next-free hint on
    /// <see cref="FatFileSystem.Flush"/> and <see cref="FatFileSystem.Dispose"/>.
    /// </summary>
    public bool Writable { get; init; }

    /// <summary>The clock for the timestamps of changes; null for the current time. A fixed clock makes written images reproducible.</summary>
    public Func<UnixTime>? Clock { get; init; }
}
