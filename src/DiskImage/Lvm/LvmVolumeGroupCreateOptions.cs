namespace DiskImage.Lvm;

/// <summary>How <see cref="LvmVolumeGroup.Create"/> makes a volume group, and what it writes into later metadata versions.</summary>
public sealed class LvmVolumeGroupCreateOptions
{
    private long _extentSize = 4 << 20;

    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static LvmVolumeGroupCreateOptions Default { get; } = new();

    /// <summary>The physical extent size in bytes: 4 MiB by default (<c>vgcreate -s</c>); a power of two from 4 KiB to 16 GiB.</summary>
    public long ExtentSize
    {
        get => _extentSize;
        init => _extentSize = value >= 4096 && value <= (16L << 30) && (value & (value - 1)) == 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(ExtentSize), "The extent size must be a power of two from 4 KiB to 16 GiB.");
    }

    /// <summary>The VG UUID (with or without hyphens), or null for a new random one.</summary>
    public string? Uuid { get; init; }

    /// <summary>How devices that are not PVs yet are made PVs (their UUIDs are always new).</summary>
    public LvmPhysicalVolumeCreateOptions PhysicalVolume { get; init; } = LvmPhysicalVolumeCreateOptions.Default;

    /// <summary>The host name written as <c>creation_host</c>; null means this machine's name.</summary>
    public string? CreationHost { get; init; }

    /// <summary>The time written as <c>creation_time</c> into every metadata version; null means the current time.</summary>
    public DateTimeOffset? CreationTime { get; init; }

    /// <summary>A seed for the UUIDs of the VG, new PVs and LVs (reproducible output); null uses the system's random source.</summary>
    public int? RandomSeed { get; init; }
}
