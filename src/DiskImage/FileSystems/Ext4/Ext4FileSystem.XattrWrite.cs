namespace DiskImage.FileSystems.Ext4;

/// <summary>Extended attributes: setting and removing them in the in-inode area and the external block.</summary>
public sealed partial class Ext4FileSystem
{
    /// <summary>Creates or replaces the attribute <paramref name="name"/> (full name with prefix) and writes the inode.</summary>
    internal void SetXattrCore(Ext4Inode inode, string name, ReadOnlySpan<byte> value) =>
        throw new NotImplementedException("ext4 xattr writing is not implemented yet.");

    /// <summary>Removes the attribute <paramref name="name"/>; returns false when it did not exist.</summary>
    internal bool RemoveXattrCore(Ext4Inode inode, string name) =>
        throw new NotImplementedException("ext4 xattr writing is not implemented yet.");

    /// <summary>Releases the external attribute block of an inode being deleted (drops its reference, frees it at zero).</summary>
    internal void ReleaseXattrs(Ext4Inode inode) =>
        throw new NotImplementedException("ext4 xattr writing is not implemented yet.");
}
