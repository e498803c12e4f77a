using System.Globalization;
using System.Text;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// The disk of a whole-disk image (the <c>disk:</c> section of a <c>type: whole-disk</c> image): the partition table,
/// the disk size and the partitions, in order.
/// </summary>
public sealed class OvercloudDiskLayout
{
    /// <summary>The partition table: <c>gpt</c> (default) or <c>mbr</c>.</summary>
    public string PartitionTable { get; init; } = "gpt";

    /// <summary>The disk size in bytes (a multiple of 1 MiB), or null to compute it from what the volumes need.</summary>
    public long? Size { get; init; }

    /// <summary>The partitions, in on-disk order.</summary>
    public required IReadOnlyList<OvercloudPartitionRecipe> Partitions { get; init; }

    /// <summary>A canonical rendering of the layout, hashed into the recipe hash.</summary>
    internal string Canonical()
    {
        var b = new StringBuilder();
        b.Append("disk\0").Append(PartitionTable).Append('\0').Append(Size?.ToString(CultureInfo.InvariantCulture)).Append('\n');
        foreach (OvercloudPartitionRecipe p in Partitions)
        {
            b.Append("partition\0").Append(p.Name).Append('\0').Append(p.Type).Append('\0').Append(p.Size?.ToString(CultureInfo.InvariantCulture))
                .Append('\0').Append(p.Bootable).Append('\0');
            if (p.Volume is { } v)
            {
                v.AppendCanonical(b);
            }

            b.Append('\n');
            if (p.VolumeGroup is { } vg)
            {
                b.Append("vg\0").Append(vg).Append('\n');
                foreach (OvercloudVolumeRecipe lv in p.LogicalVolumes)
                {
                    b.Append("lv\0");
                    lv.AppendCanonical(b);
                    b.Append('\n');
                }
            }
        }

        return b.ToString();
    }
}
