namespace DiskImage.FileSystems.Xfs;

/// <summary>Which self-describing header a <see cref="XfsMetadataBlock"/> carries (see <see cref="XfsMetadataStamp"/>).</summary>
internal enum XfsHeaderKind
{
    /// <summary>Directory data, block or free-index header.</summary>
    Directory,

    /// <summary>Dabtree header (directory leaf/node, attribute leaf).</summary>
    DaTree,

    /// <summary>Remote attribute value header (one per file-system block) or symlink header (one per contiguous extent).</summary>
    Remote,
}

/// <summary>One block (a directory block may span several file-system blocks) of a fork, at a logical offset in file-system blocks.</summary>
internal sealed class XfsMetadataBlock(long logicalBlock, byte[] data, XfsHeaderKind kind)
{
    public long LogicalBlock { get; } = logicalBlock;

    public byte[] Data { get; } = data;

    public XfsHeaderKind Kind { get; } = kind;
}
