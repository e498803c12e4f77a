namespace DiskImage.FileSystems.Xfs;

/// <summary>One name in an XFS directory and the inode it links to.</summary>
internal readonly record struct XfsDirectoryEntry(string Name, ulong Inode);
