namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// An inode chunk of the file system a flush writes over, as its inode btree records it: first AG inode number,
/// sparse hole mask (bit set = those 4 inodes are not allocated) and free mask (bit set = free).
/// </summary>
internal readonly record struct XfsExistingChunk(uint StartAgino, ushort HoleMask, ulong FreeMask);
