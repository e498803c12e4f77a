namespace DiskImage.FileSystems.Ext4;

/// <summary>An inode met while resolving a path.</summary>
internal sealed class Ext4Node
{
    internal Ext4Node(Ext4Inode inode) => Inode = inode;

    internal Ext4Inode Inode { get; }
}
