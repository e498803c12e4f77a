namespace DiskImage.FileSystems.Fat;

/// <summary>The width of the file allocation table entries, decided by the cluster count (fatgen103 §3.5).</summary>
public enum FatType
{
    /// <summary>12-bit entries: fewer than 4085 clusters.</summary>
    Fat12 = 12,

    /// <summary>16-bit entries: 4085 to 65524 clusters.</summary>
    Fat16 = 16,

    /// <summary>32-bit entries (28 bits used): 65525 clusters or more, root directory in a cluster chain.</summary>
    Fat32 = 32,
}
