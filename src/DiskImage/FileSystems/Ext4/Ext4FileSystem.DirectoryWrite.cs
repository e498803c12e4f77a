namespace DiskImage.FileSystems.Ext4;

/// <summary>Directory writing: entries in linear, htree and inline directories.</summary>
public sealed partial class Ext4FileSystem
{
    /// <summary>Adds the entry <paramref name="name"/> → <paramref name="inode"/> to <paramref name="directory"/>.</summary>
    internal void AddDirectoryEntry(Ext4Inode directory, string name, uint inode, UnixFileType type)
    {
        throw new NotImplementedException();
    }

    /// <summary>Removes the entry <paramref name="name"/> from <paramref name="directory"/>; false when absent.</summary>
    internal bool RemoveDirectoryEntry(Ext4Inode directory, string name)
    {
        throw new NotImplementedException();
    }

    /// <summary>Writes the first block ("." and "..") of a new directory.</summary>
    internal void InitializeDirectory(Ext4Inode newDirectory, uint parentInode)
    {
        throw new NotImplementedException();
    }

    /// <summary>Points ".." of <paramref name="directory"/> at <paramref name="newParent"/>.</summary>
    internal void SetParentEntry(Ext4Inode directory, uint newParent)
    {
        throw new NotImplementedException();
    }

    /// <summary>Whether <paramref name="directory"/> holds nothing but "." and "..".</summary>
    internal bool IsDirectoryEmpty(Ext4Inode directory)
    {
        throw new NotImplementedException();
    }

    /// <summary>Drops the cached listing of directory <paramref name="inode"/>.</summary>
    internal void InvalidateDirectory(uint inode)
    {
        _directoryCache.Remove(inode);
    }
}
