namespace DiskImage.FileSystems.Xfs;

/// <summary>A directory entry to lay out: on-disk name bytes, inode number and <c>XFS_DIR3_FT_*</c> file type.</summary>
internal readonly record struct XfsDirectoryEntryToWrite(byte[] Name, ulong Inode, byte FileType);
