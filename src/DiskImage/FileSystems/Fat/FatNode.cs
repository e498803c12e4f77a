namespace DiskImage.FileSystems.Fat;

/// <summary>
/// One entry as the path resolver sees it: the directory entry (null for the root), the key of the
/// directory holding it, and for a directory the key of its own contents (its first cluster; 0 for the
/// FAT12/16 root).
/// </summary>
internal sealed class FatNode
{
    /// <summary>The entry; null for the root directory.</summary>
    public FatDirectoryEntry? Entry { get; init; }

    /// <summary>Key of the directory that holds <see cref="Entry"/>.</summary>
    public uint ParentKey { get; init; }

    /// <summary>Whether this is a directory.</summary>
    public bool IsDirectory => Entry is null || Entry.IsDirectory;

    /// <summary>Key of this directory's own contents (its first cluster, or 0 for the FAT12/16 root).</summary>
    public uint Key { get; init; }
}
