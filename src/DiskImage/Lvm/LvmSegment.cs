namespace DiskImage.Lvm;

/// <summary>
/// One segment of a logical volume: a run of logical extents and how it maps to the PVs. Linear volumes
/// are <c>striped</c> segments with one stripe, as LVM writes them.
/// </summary>
public sealed class LvmSegment
{
    internal LvmSegment(long startExtent, long extentCount, string type, int stripeCount, long stripeSize, IReadOnlyList<LvmStripe> stripes)
    {
        StartExtent = startExtent;
        ExtentCount = extentCount;
        Type = type;
        StripeCount = stripeCount;
        StripeSize = stripeSize;
        Stripes = stripes;
    }

    /// <summary>The first logical extent (<c>start_extent</c>).</summary>
    public long StartExtent { get; }

    /// <summary>The number of logical extents (<c>extent_count</c>).</summary>
    public long ExtentCount { get; }

    /// <summary>The segment type as the metadata names it: <c>striped</c>, <c>linear</c>, <c>zero</c>, <c>error</c>, <c>thin</c>, <c>raid1</c>, …</summary>
    public string Type { get; }

    /// <summary>The number of stripes (<c>stripe_count</c>; 1 for a linear segment, 0 for types without PV areas).</summary>
    public int StripeCount { get; }

    /// <summary>The stripe (chunk) size in bytes (<c>stripe_size</c> × 512; 0 for one stripe).</summary>
    public long StripeSize { get; }

    /// <summary>The PV areas, one per stripe (empty for types that are not striped).</summary>
    public IReadOnlyList<LvmStripe> Stripes { get; }

    /// <summary>Whether DiskImage maps this segment type (<c>striped</c>, <c>linear</c>, <c>zero</c>, <c>error</c>).</summary>
    public bool IsSupported => IsSupportedType(Type);

    internal static bool IsSupportedType(string type) => type is "striped" or "linear" or "zero" or "error";

    /// <inheritdoc />
    public override string ToString() => $"{StartExtent}+{ExtentCount} {Type} [{string.Join(", ", Stripes)}]";
}
