namespace DiskImage.Formats.Qcow2;

/// <summary>Incompatible feature bits (header bytes 72–79, <c>incompatible_features</c>).</summary>
[Flags]
internal enum Qcow2IncompatibleFeatures : ulong
{
    /// <summary>No bits.</summary>
    None = 0,

    /// <summary>Bit 0: refcounts may be stale (<c>dirty</c>).</summary>
    Dirty = 1UL << 0,

    /// <summary>Bit 1: metadata may be corrupt (<c>corrupt</c>).</summary>
    Corrupt = 1UL << 1,

    /// <summary>Bit 2: guest data lives in an external data file.</summary>
    ExternalDataFile = 1UL << 2,

    /// <summary>Bit 3: the <c>compression_type</c> field is non-zero.</summary>
    CompressionType = 1UL << 3,

    /// <summary>Bit 4: 128-bit L2 entries with subclusters.</summary>
    ExtendedL2 = 1UL << 4,

    /// <summary>All bits this implementation knows.</summary>
    Known = Dirty | Corrupt | ExternalDataFile | CompressionType | ExtendedL2,
}

/// <summary>Compatible feature bits (header bytes 80–87, <c>compatible_features</c>).</summary>
[Flags]
internal enum Qcow2CompatibleFeatures : ulong
{
    /// <summary>No bits.</summary>
    None = 0,

    /// <summary>Bit 0: refcount updates may be deferred (<c>lazy refcounts</c>).</summary>
    LazyRefcounts = 1UL << 0,
}

/// <summary>Autoclear feature bits (header bytes 88–95, <c>autoclear_features</c>).</summary>
[Flags]
internal enum Qcow2AutoclearFeatures : ulong
{
    /// <summary>No bits.</summary>
    None = 0,

    /// <summary>Bit 0: the bitmaps extension is consistent.</summary>
    Bitmaps = 1UL << 0,

    /// <summary>Bit 1: the external data file is a valid raw image.</summary>
    RawExternalData = 1UL << 1,
}
