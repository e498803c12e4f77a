namespace DiskImage.Sysprep;

/// <summary>What a sysprep operation did to one path.</summary>
public enum SysprepChangeKind
{
    /// <summary>The entry was removed (a file, link, or directory with everything in it listed before it).</summary>
    Deleted,

    /// <summary>A new entry was created: it carries no SELinux label yet and needs one.</summary>
    Created,

    /// <summary>An existing regular file's content was replaced in place (same inode: owner, mode and xattrs kept).</summary>
    Rewritten,
}
