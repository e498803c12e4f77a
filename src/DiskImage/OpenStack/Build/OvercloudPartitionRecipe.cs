namespace DiskImage.OpenStack.Build;

/// <summary>
/// One partition of an <see cref="OvercloudDiskLayout"/>: either a file system (<see cref="Volume"/>), an LVM physical
/// volume holding a volume group (<see cref="VolumeGroup"/>, <see cref="LogicalVolumes"/>), or nothing (a BIOS boot
/// partition, left zeroed).
/// </summary>
public sealed class OvercloudPartitionRecipe
{
    /// <summary>The GPT partition name (<c>ESP</c>, <c>BSP</c>, <c>root</c>); MBR partitions have none.</summary>
    public string? Name { get; init; }

    /// <summary>The partition type: a name of <see cref="Partitions.PartitionTypes"/> (<c>esp</c>, <c>bios</c>, <c>linux</c>, <c>lvm</c>...), a GUID (GPT) or a hex byte (MBR).</summary>
    public required string Type { get; init; }

    /// <summary>The size in bytes (a multiple of 1 MiB), or null: computed from the content, or the rest of a disk of given size for the last partition.</summary>
    public long? Size { get; init; }

    /// <summary>Whether the partition is marked bootable (MBR active flag; GPT legacy-BIOS-bootable attribute, DIB's <c>flags: [boot]</c>).</summary>
    public bool Bootable { get; init; }

    /// <summary>The file system on the partition itself, or null.</summary>
    public OvercloudVolumeRecipe? Volume { get; init; }

    /// <summary>The name of the volume group on the partition (an LVM physical volume), or null.</summary>
    public string? VolumeGroup { get; init; }

    /// <summary>The logical volumes of <see cref="VolumeGroup"/>, in creation order (empty when there is no volume group).</summary>
    public IReadOnlyList<OvercloudVolumeRecipe> LogicalVolumes { get; init; } = [];
}
