namespace DiskImage.FileSystems;

/// <summary>
/// What <c>lstat</c> says about one entry of an <see cref="IFileSystem"/>: type, permissions,
/// owner, times with nanoseconds, size, link count, inode number, device numbers and symlink target.
/// </summary>
public sealed class UnixFileInfo
{
    /// <summary>Absolute '/'-separated path of the entry within its file system.</summary>
    public required string Path { get; init; }

    /// <summary>The last path component ("/" for the root directory).</summary>
    public string Name
    {
        get
        {
            if (Path.Length <= 1)
            {
                return "/";
            }

            int slash = Path.LastIndexOf('/');
            return Path[(slash + 1)..];
        }
    }

    /// <summary>The entry type.</summary>
    public required UnixFileType Type { get; init; }

    /// <summary>
    /// Permission bits including set-uid, set-gid and sticky (<c>st_mode &amp; 07777</c>); the file type is <see cref="Type"/>.
    /// </summary>
    public required UnixFileMode Mode { get; init; }

    /// <summary>Owner user id.</summary>
    public required uint UserId { get; init; }

    /// <summary>Owner group id.</summary>
    public required uint GroupId { get; init; }

    /// <summary>Size in bytes (for a symbolic link, the length of its target in bytes).</summary>
    public required long Size { get; init; }

    /// <summary>Number of hard links (<c>st_nlink</c>).</summary>
    public required int LinkCount { get; init; }

    /// <summary>Inode number, unique within the file system for the lifetime of the entry.</summary>
    public required long Inode { get; init; }

    /// <summary>Last access time (<c>atime</c>).</summary>
    public required UnixTime AccessTime { get; init; }

    /// <summary>Last content modification time (<c>mtime</c>).</summary>
    public required UnixTime ModificationTime { get; init; }

    /// <summary>Last status change time (<c>ctime</c>).</summary>
    public required UnixTime ChangeTime { get; init; }

    /// <summary>Creation (birth) time, or null when the file system does not record it for this entry.</summary>
    public UnixTime? CreationTime { get; init; }

    /// <summary>Major device number of a character or block device; 0 otherwise.</summary>
    public int DeviceMajor { get; init; }

    /// <summary>Minor device number of a character or block device; 0 otherwise.</summary>
    public int DeviceMinor { get; init; }

    /// <summary>Target of a symbolic link (UTF-8 decoded); null for other types.</summary>
    public string? LinkTarget { get; init; }

    /// <summary>Whether this is a directory.</summary>
    public bool IsDirectory => Type == UnixFileType.Directory;

    /// <summary>
    /// A copy of this entry with another path and inode number and each timestamp passed through
    /// <paramref name="time"/> (unchanged when null); this entry itself when nothing differs.
    /// </summary>
    internal UnixFileInfo With(string path, long inode, Func<UnixTime, UnixTime>? time = null)
    {
        if (path == Path && inode == Inode && time is null)
        {
            return this;
        }

        return new UnixFileInfo
        {
            Path = path,
            Type = Type,
            Mode = Mode,
            UserId = UserId,
            GroupId = GroupId,
            Size = Size,
            LinkCount = LinkCount,
            Inode = inode,
            AccessTime = time is null ? AccessTime : time(AccessTime),
            ModificationTime = time is null ? ModificationTime : time(ModificationTime),
            ChangeTime = time is null ? ChangeTime : time(ChangeTime),
            CreationTime = time is null || CreationTime is not { } c ? CreationTime : time(c),
            DeviceMajor = DeviceMajor,
            DeviceMinor = DeviceMinor,
            LinkTarget = LinkTarget,
        };
    }

    /// <inheritdoc />
    public override string ToString() => $"{Path} {Type} {Convert.ToString((int)Mode, 8)} {UserId}:{GroupId} {Size}";
}
