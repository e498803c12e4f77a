namespace DiskImage.FileSystems.Xfs;

/// <summary>One inode of a tree being built: the source entry, its place in the tree and, after layout, its forks.</summary>
internal sealed class XfsBuildItem(UnixFileInfo info, string path)
{
    public UnixFileInfo Info { get; } = info;

    public string Path { get; } = path;

    /// <summary>Directory entries (name bytes, target item); null for non-directories.</summary>
    public List<(byte[] Name, XfsBuildItem Item)>? Children { get; set; }

    public XfsBuildItem? Parent { get; set; }

    public int Links { get; set; } = 1;

    public int Subdirectories { get; set; }

    public byte[]? Target { get; set; }

    public List<(long Offset, long Length)>? DataRanges { get; set; }

    public List<XfsAttributeToWrite>? Attributes { get; set; }

    public ulong Inode { get; set; }

    /// <summary>The inode number the entry has on the device a flush writes over (0: a new entry).</summary>
    public ulong KeptInode { get; set; }

    /// <summary>The data extents a regular file unchanged since the last flush has on the device (null: content to copy).</summary>
    public XfsExtentToWrite[]? KeptData { get; set; }

    /// <summary>Set by the layout when <see cref="KeptData"/> stays where it is: the content is not copied.</summary>
    public bool DataInPlace { get; set; }

    /// <summary>Data fork extents (file content, directory blocks, remote symlink blocks).</summary>
    public List<XfsExtentToWrite> DataExtents { get; } = [];

    /// <summary>Attribute fork extents.</summary>
    public List<XfsExtentToWrite> AttrExtents { get; } = [];

    /// <summary>Data fork bmbt blocks, when the extents do not fit in the fork.</summary>
    public List<ulong>? BmbtBlocks { get; set; }

    public byte[]? LocalData { get; set; }

    public byte[]? LocalAttributes { get; set; }

    public List<XfsMetadataBlock>? DataBlocks { get; set; }

    public List<XfsMetadataBlock>? AttrBlocks { get; set; }

    public int ForkOffset { get; set; }

    public long Size { get; set; }
}
