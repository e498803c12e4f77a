namespace DiskImage.FileSystems;

/// <summary>Options for <see cref="FileSystemCopy"/>.</summary>
public sealed class FileSystemCopyOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static FileSystemCopyOptions Default { get; } = new();

    /// <summary>
    /// Whether owners (uid/gid) are copied (default true). On the host they are applied only when the
    /// process runs as root (the host refuses other owners anyway); the new entries then belong to
    /// the caller.
    /// </summary>
    public bool PreserveOwnership { get; init; } = true;

    /// <summary>
    /// Whether extended attributes are copied between file systems (default false, like tar without
    /// <c>--xattrs</c>). Never applied when writing to the host.
    /// </summary>
    public bool CopyXattrs { get; init; }

    /// <summary>
    /// Whether device nodes are created (default true). On the host this needs root; a device that
    /// cannot be created is listed in <see cref="FileSystemCopyResult.Skipped"/>.
    /// </summary>
    public bool CreateDevices { get; init; } = true;
}
