namespace DiskImage.FileSystems.Ext4;

/// <summary>An inode met while resolving a path.</summary>
internal sealed class Ext4Node
{
    internal Ext4Node(Ext4Inode inode, string? path = null)
    {
        Inode = inode;
        Path = path;
    }

    internal Ext4Inode Inode { get; }

    /// <summary>The path the inode was reached by (for messages), or null when it is not known.</summary>
    internal string? Path { get; }
}
