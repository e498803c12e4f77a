using System.Buffers.Binary;
using System.Text;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Creates, links and unlinks inodes for the file system's operations: a new inode linked under its parent,
/// link counts of files and directories (dir_nlink), and the release of an inode whose last name goes
/// (deferred while a stream still has it open).
/// </summary>
internal sealed class Ext4InodeLinker(Ext4FileSystem fs)
{
    private readonly Ext4FileSystem _fs = fs;

    /// <summary>Largest link count of a non-directory (and of a directory without dir_nlink).</summary>
    internal const int LinkMax = 65000;

    /// <summary>Allocates, initialises and links a new inode of <paramref name="type"/> under the resolved parent.</summary>
    internal Ext4Inode CreateInode(ResolvedPath<Ext4Node> r, UnixFileType type, int mode, Action<Ext4Inode>? fill)
    {
        Ext4Inode parent = r.Parent.Inode;
        Ext4Inode inode = _fs.InodeAllocator.AllocateInode(parent.Number, type, mode & 0xFFF);
        try
        {
            if (type == UnixFileType.Directory)
            {
                inode.LinksCount = 2;
                _fs.Directories.InitializeDirectory(inode, parent.Number);
            }
            else
            {
                inode.LinksCount = 1;
                fill?.Invoke(inode);
            }

            _fs.WriteInode(inode);
            _fs.Directories.AddDirectoryEntry(parent, r.Name, inode.Number, type);
        }
        catch
        {
            // Undo: the inode never became reachable.
            inode.LinksCount = 0;
            ReleaseInode(inode);
            throw;
        }

        UnixTime now = _fs.Now();
        if (type == UnixFileType.Directory)
        {
            IncrementDirectoryLinks(parent);
        }

        TouchDirectory(parent, now);
        return inode;
    }

    internal void TouchDirectory(Ext4Inode directory, UnixTime now)
    {
        directory.SetModificationTime(now);
        directory.SetChangeTime(now);
        _fs.WriteInode(directory);
    }

    /// <summary>Throws when <paramref name="parent"/> cannot take one more subdirectory link.</summary>
    internal void CheckCanAddSubdirectory(Ext4Inode parent, string path)
    {
        if (parent.LinksCount >= LinkMax && !(_fs.HasReadOnlyCompatibleFeature(Ext4ReadOnlyCompatibleFeatures.DirNLink) && (parent.Flags & Ext4Inode.IndexFlag) != 0))
        {
            throw new IOException($"Too many subdirectories in the parent of '{path}'.");
        }
    }

    /// <summary>A new subdirectory: one more link, or 1 ("many") once the count passes the limit (dir_nlink).</summary>
    internal void IncrementDirectoryLinks(Ext4Inode directory)
    {
        int links = directory.LinksCount;
        if (links == 1)
        {
            return;
        }

        if (links + 1 >= LinkMax)
        {
            _fs.SetReadOnlyCompatibleFeature(Ext4ReadOnlyCompatibleFeatures.DirNLink);
            directory.LinksCount = 1;
        }
        else
        {
            directory.LinksCount = (ushort)(links + 1);
        }

        _fs.WriteInode(directory);
    }

    /// <summary>A removed subdirectory: one link less, unless the count is "many" (1) or already at its floor of 2.</summary>
    internal void DecrementDirectoryLinks(Ext4Inode directory)
    {
        if (directory.LinksCount > 2)
        {
            directory.LinksCount--;
            _fs.WriteInode(directory);
        }
    }

    /// <summary>Drops one name of <paramref name="node"/>; the last one releases it (later, when a stream still has it open).</summary>
    internal void Unlink(Ext4Inode node, UnixTime now)
    {
        if (node.Type == UnixFileType.Directory)
        {
            node.LinksCount = 0;
            _fs.InvalidateDirectory(node.Number);
        }
        else if (node.LinksCount > 0)
        {
            node.LinksCount--;
        }

        node.SetChangeTime(now);
        if (node.LinksCount > 0)
        {
            _fs.WriteInode(node);
            return;
        }

        if (_fs._openCounts.ContainsKey(node.Number))
        {
            _fs.WriteInode(node);
            _fs._pendingRelease.Add(node.Number);
            return;
        }

        ReleaseInode(node);
    }

    /// <summary>Frees an unlinked inode: its blocks, its xattr block, and the inode itself.</summary>
    internal void ReleaseInode(Ext4Inode inode)
    {
        if (_fs.HasDataBlocks(inode))
        {
            _fs.TruncateBlocks(inode, 0);
        }

        if (inode.FileAcl != 0)
        {
            _fs.ReleaseXattrs(inode);
        }

        _fs.InodeAllocator.FreeInode(inode);
    }
}
