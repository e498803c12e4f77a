namespace DiskImage.FileSystems.Ext4;

/// <summary>Options for <see cref="Ext4FileSystem.Build(IO.BlockDevice, IFileSystem, Ext4BuildOptions?, CancellationToken)"/> and
/// <see cref="Ext4FileSystem.ComputeBuildSize(IFileSystem, Ext4BuildOptions?)"/>.</summary>
public sealed class Ext4BuildOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static Ext4BuildOptions Default { get; } = new();

    /// <summary>Profile, geometry and identifiers of the new file system (default: <see cref="Ext4FormatProfile.Debian12"/>, sizes chosen like mke2fs).</summary>
    public Ext4FormatOptions Format { get; init; } = new();

    /// <summary>
    /// Free space <see cref="Ext4FileSystem.ComputeBuildSize(IFileSystem, Ext4BuildOptions?)"/> adds, in percent of the
    /// smallest size that fits (0–1000, default 0).
    /// </summary>
    public int ExtraPercent { get; init; }

    /// <summary>Free space in bytes <see cref="Ext4FileSystem.ComputeBuildSize(IFileSystem, Ext4BuildOptions?)"/> adds (default 0).</summary>
    public long ExtraBytes { get; init; }
}
