namespace DiskImage.FileSystems.Xfs;

/// <summary>Options for <see cref="XfsFileSystem.Build(IO.BlockDevice, IFileSystem, XfsBuildOptions?, CancellationToken)"/> and
/// <see cref="XfsFileSystem.ComputeBuildSize(IFileSystem, XfsBuildOptions?)"/>.</summary>
public sealed class XfsBuildOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static XfsBuildOptions Default { get; } = new();

    /// <summary>Profile, geometry and identifiers of the new file system (default: <see cref="XfsFormatProfile.Debian12"/>).</summary>
    public XfsFormatOptions Format { get; init; } = new();

    /// <summary>
    /// Free space <see cref="XfsFileSystem.ComputeBuildSize(IFileSystem, XfsBuildOptions?)"/> adds, in percent of the
    /// smallest size that fits (0–1000, default 0).
    /// </summary>
    public int ExtraPercent { get; init; }

    /// <summary>Free space in bytes <see cref="XfsFileSystem.ComputeBuildSize(IFileSystem, XfsBuildOptions?)"/> adds (default 0).</summary>
    public long ExtraBytes { get; init; }
}
