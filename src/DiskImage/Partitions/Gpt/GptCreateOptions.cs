namespace DiskImage.Partitions.Gpt;

/// <summary>How <see cref="GptPartitionTable.Create"/> lays out a new GPT.</summary>
public sealed class GptCreateOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static GptCreateOptions Default { get; } = new();

    private int _sectorSize = 512;
    private int _entryCount = 128;

    /// <summary>The logical sector size: 512 (default) or 4096 (4Kn disks; the array then spans LBAs 2–5).</summary>
    public int SectorSize
    {
        get => _sectorSize;
        init => _sectorSize = value is 512 or 4096 ? value : throw new ArgumentOutOfRangeException(nameof(SectorSize), "The sector size must be 512 or 4096.");
    }

    /// <summary>The disk GUID, or null for a new random one.</summary>
    public Guid? DiskGuid { get; init; }

    /// <summary>The number of 128-byte entries: 128 (default, the 16 KiB the spec requires at least) up to 4096, a multiple of the entries per sector.</summary>
    public int EntryCount
    {
        get => _entryCount;
        init => _entryCount = value is >= 128 and <= 4096 ? value : throw new ArgumentOutOfRangeException(nameof(EntryCount), "The entry count must be between 128 and 4096.");
    }
}
