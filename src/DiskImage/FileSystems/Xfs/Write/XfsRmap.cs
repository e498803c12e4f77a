namespace DiskImage.FileSystems.Xfs;

/// <summary>One reverse mapping: AG start block, length, owner (an inode or a special owner) and offset with its flags.</summary>
internal readonly record struct XfsRmap(uint Start, uint Length, ulong Owner, ulong Offset);
