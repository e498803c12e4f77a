namespace DiskImage.FileSystems.Ext4;

/// <summary>A run of file blocks: logical start, physical start, length in blocks, and whether it is unwritten (reads as zeros).</summary>
internal readonly record struct Ext4Extent(long Logical, long Physical, int Length, bool Unwritten);
