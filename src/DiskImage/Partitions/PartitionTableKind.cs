namespace DiskImage.Partitions;

/// <summary>The kind of partition table on a disk.</summary>
public enum PartitionTableKind
{
    /// <summary>The MBR (DOS) table in sector 0, with logical partitions in an extended partition's EBR chain (sfdisk label "dos").</summary>
    Mbr,

    /// <summary>The GUID Partition Table (UEFI §5.3): a protective MBR, primary and backup headers and entry arrays (sfdisk label "gpt").</summary>
    Gpt,
}
