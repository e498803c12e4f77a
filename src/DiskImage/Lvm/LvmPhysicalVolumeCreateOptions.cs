namespace DiskImage.Lvm;

/// <summary>How <see cref="LvmPhysicalVolume.Create"/> (and <see cref="LvmVolumeGroup.Create"/> for devices that are no PV yet) lays out a physical volume.</summary>
public sealed class LvmPhysicalVolumeCreateOptions
{
    private long _dataOffset = 1 << 20;

    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static LvmPhysicalVolumeCreateOptions Default { get; } = new();

    /// <summary>The PV UUID (with or without hyphens), or null for a new random one.</summary>
    public string? Uuid { get; init; }

    /// <summary>
    /// Where the first extent starts (<c>pe_start</c>), in bytes: 1 MiB by default, as pvcreate; a multiple of
    /// 4 KiB of at least 8 KiB. The metadata area fills the space between 4 KiB and this offset.
    /// </summary>
    public long DataOffset
    {
        get => _dataOffset;
        init => _dataOffset = value >= 8192 && value % 4096 == 0 && value <= (1L << 40)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(DataOffset), "The data offset must be a multiple of 4096 between 8 KiB and 1 TiB.");
    }
}
