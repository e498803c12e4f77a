namespace DiskImage.Partitions.Mbr;

/// <summary>How <see cref="MbrPartitionTable.Create"/> writes a new MBR.</summary>
public sealed class MbrCreateOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static MbrCreateOptions Default { get; } = new();

    private readonly int _sectorSize = 512;

    /// <summary>The logical sector size: 512 (default) or 4096.</summary>
    public int SectorSize
    {
        get => _sectorSize;
        init => _sectorSize = value is 512 or 4096 ? value : throw new ArgumentOutOfRangeException(nameof(SectorSize), "The sector size must be 512 or 4096.");
    }

    /// <summary>The disk signature at 0x1B8 (sfdisk's <c>label-id</c>), or null for a random non-zero one.</summary>
    public uint? DiskSignature { get; init; }
}
