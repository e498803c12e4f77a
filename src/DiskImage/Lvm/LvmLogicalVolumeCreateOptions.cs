namespace DiskImage.Lvm;

/// <summary>How <see cref="LvmVolumeGroup.CreateLogicalVolume"/> lays out a new logical volume.</summary>
public sealed class LvmLogicalVolumeCreateOptions
{
    private int _stripes = 1;
    private long _stripeSize = 64 << 10;

    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static LvmLogicalVolumeCreateOptions Default { get; } = new();

    /// <summary>The number of stripes (<c>lvcreate -i</c>): 1 (linear, default) up to 128; each stripe is on a different PV.</summary>
    public int Stripes
    {
        get => _stripes;
        init => _stripes = value is >= 1 and <= 128 ? value : throw new ArgumentOutOfRangeException(nameof(Stripes), "The stripe count must be between 1 and 128.");
    }

    /// <summary>The stripe size in bytes (<c>lvcreate -I</c>): 64 KiB by default; a power of two from 4 KiB up to the extent size.</summary>
    public long StripeSize
    {
        get => _stripeSize;
        init => _stripeSize = value >= 4096 && value <= (1L << 30) && (value & (value - 1)) == 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(StripeSize), "The stripe size must be a power of two from 4 KiB to 1 GiB.");
    }

    /// <summary>The LV UUID (with or without hyphens), or null for a new random one.</summary>
    public string? Uuid { get; init; }
}
