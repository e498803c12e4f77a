using System.Globalization;
using System.Text;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// A file system of a whole-disk image: on a partition, or on a logical volume (then <see cref="Name"/> is the LV's
/// name and the size may be a percentage of the volume group, like <c>lvcreate -l N%VG</c>). It holds the part of the
/// guest's tree under <see cref="MountPoint"/> (less the parts under other volumes' mount points).
/// </summary>
public sealed class OvercloudVolumeRecipe
{
    /// <summary>The logical volume's name (<c>lv_root</c>); null for a file system on a partition.</summary>
    public string? Name { get; init; }

    /// <summary>The file system: <c>xfs</c>, <c>ext4</c> or <c>vfat</c> (partitions only).</summary>
    public required string FileSystem { get; init; }

    /// <summary>Where the guest mounts it (<c>/</c>, <c>/var/log</c>, <c>/boot/efi</c>).</summary>
    public required string MountPoint { get; init; }

    /// <summary>The file-system label, or null: <c>/etc/fstab</c> then names the volume by UUID.</summary>
    public string? Label { get; init; }

    /// <summary>The <c>/etc/fstab</c> mount options (default <c>defaults</c>).</summary>
    public string MountOptions { get; init; } = "defaults";

    /// <summary>Logical volumes: the size in bytes, or null (computed from the content, or <see cref="Percent"/>).</summary>
    public long? Size { get; init; }

    /// <summary>Logical volumes: the size in percent of the volume group's extents, or null.</summary>
    public int? Percent { get; init; }

    internal void AppendCanonical(StringBuilder b) =>
        b.Append("volume\0").Append(Name).Append('\0').Append(FileSystem).Append('\0').Append(MountPoint).Append('\0').Append(Label).Append('\0')
            .Append(MountOptions).Append('\0').Append(Size?.ToString(CultureInfo.InvariantCulture)).Append('\0').Append(Percent?.ToString(CultureInfo.InvariantCulture));

    /// <inheritdoc />
    public override string ToString() => $"{Name ?? FileSystem} {MountPoint}";
}
