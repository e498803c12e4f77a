namespace DiskImage.Partitions;

/// <summary>
/// One partition of a <see cref="PartitionTable"/>: its number (as Linux names it, <c>sda3</c> is 3) and
/// its extent in logical sectors. Instances are snapshots; a change to the table makes new ones.
/// </summary>
public abstract class Partition
{
    private protected Partition(int number, long firstSector, long sectorCount, int sectorSize)
    {
        Number = number;
        FirstSector = firstSector;
        SectorCount = sectorCount;
        SectorSize = sectorSize;
    }

    /// <summary>The partition number: the GPT entry index + 1; MBR slots 1–4, logical partitions from 5 in chain order.</summary>
    public int Number { get; }

    /// <summary>The first logical sector (LBA).</summary>
    public long FirstSector { get; }

    /// <summary>The number of logical sectors.</summary>
    public long SectorCount { get; }

    /// <summary>The last logical sector (inclusive).</summary>
    public long LastSector => FirstSector + SectorCount - 1;

    /// <summary>The logical sector size of the table, in bytes.</summary>
    public int SectorSize { get; }

    /// <summary>The byte offset of the partition on the disk.</summary>
    public long Offset => FirstSector * SectorSize;

    /// <summary>The length of the partition in bytes.</summary>
    public long Length => SectorCount * SectorSize;

    /// <summary>The type as <c>sfdisk --json</c> prints it: lowercase hex without leading zeros for MBR (<c>83</c>), the uppercase GUID for GPT.</summary>
    public abstract string TypeName { get; }

    /// <summary>The well-known name of the type (<c>Linux filesystem</c>, <c>EFI System</c>), or null when it is not in <see cref="PartitionTypes"/>.</summary>
    public abstract string? TypeDescription { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Number}: {FirstSector}+{SectorCount} type {TypeName}";
}
