namespace DiskImage.FileSystems.Xfs;

/// <summary>What a builder placed in one allocation group: free-list blocks, inode chunks and extra inode-btree blocks.</summary>
internal sealed class XfsAgState
{
    /// <summary>The AGFL blocks (slots 1..n, as mkfs.xfs leaves them).</summary>
    public List<int> FreeList { get; } = [];

    /// <summary>
    /// Inode chunks: first AG inode number, free mask (bit set = free; the inodes of holes are set too) and sparse hole
    /// mask (bit set = those 4 inodes are not allocated).
    /// </summary>
    public List<(uint StartAgino, ulong FreeMask, ushort HoleMask)> Chunks { get; } = [];

    /// <summary>inobt blocks other than the root (fixed at <see cref="XfsGeometry.InoRoot"/>).</summary>
    public List<int> InobtBlocks { get; } = [];

    /// <summary>finobt blocks other than the root.</summary>
    public List<int> FinobtBlocks { get; } = [];

    /// <summary>bnobt blocks other than the root (fixed at <see cref="XfsGeometry.BnoRoot"/>).</summary>
    public List<int> BnoBlocks { get; } = [];

    /// <summary>cntbt blocks other than the root.</summary>
    public List<int> CntBlocks { get; } = [];

    /// <summary>rmapbt blocks other than the root (fixed at <see cref="XfsGeometry.RmapRoot"/>).</summary>
    public List<int> RmapBlocks { get; } = [];

    /// <summary>The rmapbt records (24 bytes each, sorted and merged), with rmapbt.</summary>
    public byte[] RmapRecords { get; set; } = [];

    /// <summary>The inode bits a sparse hole mask covers (each hole bit is 4 inodes).</summary>
    public static ulong HoleInodes(ushort holeMask)
    {
        ulong bits = 0;
        for (int i = 0; i < 16; i++)
        {
            if ((holeMask & (1 << i)) != 0)
            {
                bits |= 0xFUL << (i * 4);
            }
        }

        return bits;
    }
}
