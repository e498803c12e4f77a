namespace DiskImage.Guests;

/// <summary>Where a guest volume comes from.</summary>
public enum GuestVolumeKind
{
    /// <summary>The whole disk (no partition table): <c>/dev/sda</c>.</summary>
    Device,

    /// <summary>An MBR or GPT partition: <c>/dev/sda1</c>.</summary>
    Partition,

    /// <summary>An LVM logical volume: <c>/dev/VG/LV</c>.</summary>
    LogicalVolume,
}
