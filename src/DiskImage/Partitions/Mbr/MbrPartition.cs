namespace DiskImage.Partitions.Mbr;

/// <summary>An MBR partition: a primary entry of sector 0 (numbers 1–4) or a logical partition of the EBR chain (5 and up).</summary>
public sealed class MbrPartition : Partition
{
    internal MbrPartition(int number, long firstSector, long sectorCount, int sectorSize, byte type, bool bootable, bool isLogical, long ebrSector)
        : base(number, firstSector, sectorCount, sectorSize)
    {
        Type = type;
        Bootable = bootable;
        IsLogical = isLogical;
        EbrSector = ebrSector;
    }

    /// <summary>The partition type byte (0x83 Linux, 0x8e LVM, 0x05 extended...).</summary>
    public byte Type { get; }

    /// <summary>Whether the status byte is 0x80 (active, "bootable" in sfdisk).</summary>
    public bool Bootable { get; }

    /// <summary>Whether this is the extended partition that holds the logical partitions.</summary>
    public bool IsExtended => !IsLogical && PartitionTypes.IsMbrExtended(Type);

    /// <summary>Whether this is a logical partition (number 5 and up).</summary>
    public bool IsLogical { get; }

    /// <summary>The sector of the EBR that describes a logical partition; -1 for primary partitions.</summary>
    internal long EbrSector { get; }

    /// <inheritdoc />
    public override string TypeName => Type.ToString("x", System.Globalization.CultureInfo.InvariantCulture);

    /// <inheritdoc />
    public override string? TypeDescription => PartitionTypes.Describe(Type);
}
