namespace DiskImage.Partitions;

/// <summary>What <see cref="PartitionTable.Add"/> creates.</summary>
public sealed class PartitionAddOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static PartitionAddOptions Default { get; } = new();

    /// <summary>
    /// The size in bytes (a multiple of the sector size), or null for the largest free area with its end
    /// aligned down to 1 MiB, as sfdisk does for "rest of the disk".
    /// </summary>
    public long? Size { get; init; }

    /// <summary>The first sector, or null for the first free sector aligned to 1 MiB (sfdisk's default).</summary>
    public long? FirstSector { get; init; }

    /// <summary>
    /// The type: a name from <see cref="PartitionTypes"/> (<c>linux</c>, <c>esp</c>, <c>bios</c>, <c>lvm</c>,
    /// <c>swap</c>...), a GUID (GPT) or a hex byte such as <c>83</c> (MBR). Default <c>linux</c>.
    /// </summary>
    public string Type { get; init; } = "linux";

    /// <summary>The GPT partition name (at most 36 UTF-16 code units); MBR tables have none.</summary>
    public string? Name { get; init; }

    /// <summary>The GPT unique partition GUID (PARTUUID), or null for a new random one.</summary>
    public Guid? UniqueGuid { get; init; }

    /// <summary>The GPT attribute bits.</summary>
    public Gpt.GptPartitionAttributes Attributes { get; init; }

    /// <summary>Whether the MBR partition is marked active (bootable, status 0x80).</summary>
    public bool Bootable { get; init; }

    /// <summary>Whether the MBR partition is a logical partition inside the extended partition.</summary>
    public bool Logical { get; init; }
}
