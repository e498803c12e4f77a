namespace DiskImage.Lvm;

/// <summary>One area of a segment: a run of physical extents on one PV (<c>stripes = ["pv0", 12]</c>).</summary>
public sealed class LvmStripe
{
    internal LvmStripe(LvmPhysicalVolume physicalVolume, long startExtent)
    {
        PhysicalVolume = physicalVolume;
        StartExtent = startExtent;
    }

    /// <summary>The PV the area is on.</summary>
    public LvmPhysicalVolume PhysicalVolume { get; }

    /// <summary>The first physical extent of the area on <see cref="PhysicalVolume"/>.</summary>
    public long StartExtent { get; }

    /// <inheritdoc />
    public override string ToString() => $"{PhysicalVolume.Name}:{StartExtent}";
}
