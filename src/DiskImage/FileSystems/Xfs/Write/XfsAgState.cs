namespace DiskImage.FileSystems.Xfs;

/// <summary>What a builder placed in one allocation group: free-list blocks, inode chunks and extra inode-btree blocks.</summary>
internal sealed class XfsAgState
{
    /// <summary>The AGFL blocks (slots 1..n, as mkfs.xfs leaves them).</summary>
    public List<int> FreeList { get; } = [];

    /// <summary>Inode chunks: first AG inode number and free mask (bit set = free).</summary>
    public List<(uint StartAgino, ulong FreeMask)> Chunks { get; } = [];

    /// <summary>inobt blocks other than the root (fixed at <see cref="XfsGeometry.InoRoot"/>).</summary>
    public List<int> InobtBlocks { get; } = [];

    /// <summary>finobt blocks other than the root.</summary>
    public List<int> FinobtBlocks { get; } = [];
}
