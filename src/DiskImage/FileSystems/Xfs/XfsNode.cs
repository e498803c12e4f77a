namespace DiskImage.FileSystems.Xfs;

/// <summary>The path resolver's handle for one XFS inode.</summary>
internal sealed class XfsNode(XfsInode inode)
{
    public XfsInode Inode { get; } = inode;
}
