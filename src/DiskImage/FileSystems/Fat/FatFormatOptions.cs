namespace DiskImage.FileSystems.Fat;

/// <summary>Options for <see cref="FatFileSystem.Format"/>; the defaults choose what <c>mkfs.fat</c> 4.2 chooses for the device size.</summary>
public sealed class FatFormatOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static FatFormatOptions Default { get; } = new();

    /// <summary>The FAT type (<c>mkfs.fat -F</c>); null to choose by size: FAT32 from 512 MiB, else FAT12 or FAT16 by cluster count.</summary>
    public FatType? Type { get; init; }

    /// <summary>The volume label (<c>-n</c>), 0–11 characters, stored in upper case; null or empty for none ("NO NAME").</summary>
    public string? Label { get; init; }

    /// <summary>The volume serial number (<c>-i</c>); null to derive one from <see cref="Timestamp"/> and the size (reproducible).</summary>
    public uint? VolumeId { get; init; }

    /// <summary>Sectors per cluster (<c>-s</c>, a power of two 1–128); null to choose by size.</summary>
    public int? SectorsPerCluster { get; init; }

    /// <summary>Bytes per logical sector (<c>-S</c>): 512, 1024, 2048 or 4096. Default 512.</summary>
    public int BytesPerSector { get; init; } = 512;

    /// <summary>Root directory entries of FAT12/16 (<c>-r</c>); null for 512 (rounded up to fill whole clusters, as mkfs.fat aligns).</summary>
    public int? RootEntries { get; init; }

    /// <summary>The time stamped on the volume label entry; null for 1980-01-01T00:00:00Z.</summary>
    public UnixTime? Timestamp { get; init; }
}
