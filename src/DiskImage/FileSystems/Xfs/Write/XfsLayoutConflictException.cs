namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// The file system a flush writes over cannot be kept in place (an inode chunk overlaps what the layout reserves, or its
/// geometry differs from the one the builder lays out): the flush lays the whole file system out again instead.
/// </summary>
internal sealed class XfsLayoutConflictException(string message) : InvalidOperationException(message);
