using DiskImage.IO;

namespace DiskImage.Guests;

/// <summary>
/// One volume of a <see cref="Guest"/>: the whole disk, a partition or a logical volume, named as libguestfs
/// names it (<c>/dev/sda</c>, <c>/dev/sda1</c>, <c>/dev/VG/LV</c>), with what its content holds.
/// </summary>
public sealed class GuestVolume
{
    internal GuestVolume(string name, GuestVolumeKind kind, BlockDevice device, GuestProbeResult probe)
    {
        Name = name;
        Kind = kind;
        Device = device;
        FileSystemType = probe.Type;
        Uuid = probe.Uuid;
        Label = probe.Label;
    }

    /// <summary>The device name: <c>/dev/sda</c> (a bare disk), <c>/dev/sdaN</c> (partition N), <c>/dev/VG/LV</c>.</summary>
    public string Name { get; }

    /// <summary>Other names of the same volume (<c>/dev/mapper/VG-LV</c> for a logical volume).</summary>
    public IReadOnlyList<string> Aliases { get; internal init; } = [];

    /// <summary>Whether this is the whole disk, a partition or a logical volume.</summary>
    public GuestVolumeKind Kind { get; }

    /// <summary>What the content holds, recognised by its signatures.</summary>
    public GuestFileSystemType FileSystemType { get; }

    /// <summary>
    /// The type as libguestfs' <c>vfs-type</c> names it: <c>ext2</c>, <c>ext3</c>, <c>ext4</c>, <c>xfs</c>,
    /// <c>vfat</c>, <c>swap</c>, <c>lvm-pv</c> or <c>unknown</c>.
    /// </summary>
    public string FileSystemTypeName => TypeName(FileSystemType);

    /// <summary>Whether the volume holds a file system this library opens (ext2/3/4, XFS, FAT).</summary>
    public bool IsMountable => FileSystemType is GuestFileSystemType.Ext2 or GuestFileSystemType.Ext3 or GuestFileSystemType.Ext4 or GuestFileSystemType.Xfs or GuestFileSystemType.Fat;

    /// <summary>
    /// The content's UUID as blkid prints it (<c>UUID=</c> in fstab): lowercase RFC form for ext, XFS and swap,
    /// <c>XXXX-XXXX</c> for FAT, the 32 raw characters for an LVM PV; null when there is none.
    /// </summary>
    public string? Uuid { get; }

    /// <summary>The file-system label (<c>LABEL=</c>), or null.</summary>
    public string? Label { get; }

    /// <summary>The size in bytes.</summary>
    public long Size => Device.Length;

    /// <summary>The device this volume lies on (<c>/dev/sda</c> for a partition, <c>/dev/VG</c> for a logical volume); null for a whole disk.</summary>
    public string? Parent { get; internal init; }

    /// <summary>The partition number, or 0 when this is not a partition.</summary>
    public int PartitionNumber { get; internal init; }

    /// <summary>
    /// The partition's <c>PARTUUID=</c>: the GPT unique GUID (lowercase), or for MBR the disk signature and the
    /// partition number (<c>12345678-05</c>); null when this is not a partition.
    /// </summary>
    public string? PartitionUuid { get; internal init; }

    /// <summary>The GPT partition name (<c>PARTLABEL=</c>), or null.</summary>
    public string? PartitionLabel { get; internal init; }

    /// <summary>The MBR partition type as two hex digits (<c>83</c>); null on GPT and for other volumes.</summary>
    public string? MbrType { get; internal init; }

    /// <summary>The UUID of the logical volume (with hyphens), or null.</summary>
    public string? LogicalVolumeUuid { get; internal init; }

    /// <summary>The window on the disk holding the volume (owned by the guest).</summary>
    internal BlockDevice Device { get; }

    /// <summary>Whether <paramref name="name"/> names this volume (its name or an alias).</summary>
    public bool HasName(string name)
    {
        if (string.Equals(name, Name, StringComparison.Ordinal))
        {
            return true;
        }

        foreach (string alias in Aliases)
        {
            if (string.Equals(name, alias, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} {FileSystemTypeName}";

    internal static string TypeName(GuestFileSystemType type) => type switch
    {
        GuestFileSystemType.Ext2 => "ext2",
        GuestFileSystemType.Ext3 => "ext3",
        GuestFileSystemType.Ext4 => "ext4",
        GuestFileSystemType.Xfs => "xfs",
        GuestFileSystemType.Fat => "vfat",
        GuestFileSystemType.Swap => "swap",
        GuestFileSystemType.LvmPhysicalVolume => "lvm-pv",
        _ => "unknown",
    };
}
