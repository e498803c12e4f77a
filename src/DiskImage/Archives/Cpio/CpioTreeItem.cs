namespace DiskImage.Archives.Cpio;

/// <summary>
/// One file, directory, link or special node offered by an <see cref="ICpioTreeSource"/> to
/// <see cref="CpioArchiveBuilder"/>.
/// </summary>
public sealed class CpioTreeItem
{
    /// <summary>Creates an item.</summary>
    /// <param name="path">Path relative to the tree root, <c>/</c>-separated (a leading <c>/</c> or <c>./</c> is ignored).</param>
    /// <param name="entryType">The type.</param>
    public CpioTreeItem(string path, CpioEntryType entryType)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = path;
        EntryType = entryType;
        Mode = entryType switch
        {
            CpioEntryType.Directory => (UnixFileMode)0x1ED,
            CpioEntryType.SymbolicLink => (UnixFileMode)0x1FF,
            _ => (UnixFileMode)0x1A4,
        };
    }

    /// <summary>Path relative to the tree root.</summary>
    public string Path { get; }

    /// <summary>The type.</summary>
    public CpioEntryType EntryType { get; }

    /// <summary>Permission and special bits.</summary>
    public UnixFileMode Mode { get; set; }

    /// <summary>Owner user id.</summary>
    public uint Uid { get; set; }

    /// <summary>Owner group id.</summary>
    public uint Gid { get; set; }

    /// <summary>Modification time, seconds since the Unix epoch.</summary>
    public long ModificationTimeSeconds { get; set; }

    /// <summary>Data length of a regular file.</summary>
    public long Length { get; set; }

    /// <summary>Target of a symbolic link.</summary>
    public string? LinkTarget { get; set; }

    /// <summary>Device major number of a device node.</summary>
    public uint RDevMajor { get; set; }

    /// <summary>Device minor number of a device node.</summary>
    public uint RDevMinor { get; set; }

    /// <summary>
    /// Identity of the underlying file for hard link detection: regular files with equal non-null keys
    /// are one file with several names (e.g. the host's device and inode numbers).
    /// </summary>
    public object? HardLinkKey { get; set; }

    /// <summary>Opens the data of a regular file; called once, when the data is written.</summary>
    public Func<Stream>? OpenData { get; set; }
}

/// <summary>A tree of files to archive: a host directory, an in-memory tree, or a file system.</summary>
public interface ICpioTreeSource
{
    /// <summary>
    /// Every item of the tree, in any order; the builder sorts them and adds missing parent directories. A directory
    /// item whose path is <c>.</c> (or <c>/</c>, <c>./</c>) describes the root itself: it is written first, named
    /// <c>.</c>, as <c>find . | cpio -o</c> does, and the kernel gives its mode, owner and time to the root of rootfs.
    /// </summary>
    IEnumerable<CpioTreeItem> EnumerateItems();
}
