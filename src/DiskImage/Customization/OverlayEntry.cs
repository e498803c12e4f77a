using DiskImage.FileSystems;

namespace DiskImage.Customization;

/// <summary>
/// One path as a dry run has planned it: its type and attributes, and where its content and children come
/// from (bytes held here, or an entry of a file system: the guest's own, moved or copied, or the host's).
/// </summary>
internal sealed class OverlayEntry
{
    public required UnixFileType Type { get; init; }

    public UnixFileMode Mode { get; set; }

    public uint UserId { get; set; }

    public uint GroupId { get; set; }

    /// <summary>Content of a regular file written by an operation; null when it comes from <see cref="BackingFileSystem"/>.</summary>
    public byte[]? Data { get; set; }

    public string? LinkTarget { get; init; }

    /// <summary>The file system holding this entry's content and children, or null for an entry made by the plan.</summary>
    public IFileSystem? BackingFileSystem { get; init; }

    /// <summary>The entry's path in <see cref="BackingFileSystem"/>.</summary>
    public string? BackingPath { get; init; }

    /// <summary>Size of a regular file's content.</summary>
    public long Size { get; set; }

    public UnixFileInfo ToInfo(string path) => new()
    {
        Path = path,
        Type = Type,
        Mode = Mode,
        UserId = UserId,
        GroupId = GroupId,
        Size = Type == UnixFileType.SymbolicLink ? UnixPathEncoding.GetByteCount(LinkTarget!) : Data?.LongLength ?? Size,
        LinkCount = 1,
        Inode = 0,
        AccessTime = default,
        ModificationTime = default,
        ChangeTime = default,
        LinkTarget = LinkTarget,
    };

    public static OverlayEntry FromBacking(IFileSystem fs, UnixFileInfo info) => new()
    {
        Type = info.Type,
        Mode = info.Mode,
        UserId = info.UserId,
        GroupId = info.GroupId,
        LinkTarget = info.LinkTarget,
        BackingFileSystem = fs,
        BackingPath = info.Path,
        Size = info.Size,
    };
}
