namespace DiskImage.Lvm;

/// <summary>What one metadata version of a VG describes (the importer's result).</summary>
internal sealed class LvmVolumeGroupContents(string name, string uuid, long sequenceNumber, long extentSize, List<LvmPhysicalVolume> physicalVolumes)
{
    public string Name { get; } = name;

    public string Uuid { get; } = uuid;

    public long SequenceNumber { get; } = sequenceNumber;

    public long ExtentSize { get; } = extentSize;

    public List<LvmPhysicalVolume> PhysicalVolumes { get; } = physicalVolumes;

    public List<LvmLogicalVolume> LogicalVolumes { get; } = [];

    /// <summary>Every PV area in use: (PV, first extent, extent count, LV name), sorted by PV and extent.</summary>
    public List<(LvmPhysicalVolume Pv, long Start, long Count, string Lv)> UsedAreas { get; } = [];
}
