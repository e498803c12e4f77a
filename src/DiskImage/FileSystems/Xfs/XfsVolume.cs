using DiskImage.IO;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Checked access to the blocks and inodes of one XFS file system: every address is validated against
/// the superblock geometry before the device is read.
/// </summary>
internal sealed class XfsVolume
{
    public XfsVolume(BlockDevice device, XfsSuperBlock sb, bool verifyChecksums)
    {
        Device = device;
        SuperBlock = sb;
        VerifyChecksums = verifyChecksums;
    }

    public BlockDevice Device { get; }

    public XfsSuperBlock SuperBlock { get; }

    public bool VerifyChecksums { get; }

    /// <summary>Whether the device was rewritten since this view was made (its extents no longer hold what it read).</summary>
    public bool Retired { get; private set; }

    /// <summary>Marks the view out of date (see <see cref="Retired"/>).</summary>
    public void Retire() => Retired = true;

    public int BlockSize => SuperBlock.BlockSize;

    /// <summary>Reads <paramref name="buffer"/>.Length bytes of consecutive blocks starting at <paramref name="fsBlock"/>.</summary>
    public void ReadBlocks(ulong fsBlock, Span<byte> buffer, string structure)
    {
        ulong count = (ulong)((buffer.Length + BlockSize - 1) / BlockSize);
        if (!SuperBlock.IsValidExtent(fsBlock, count))
        {
            FormatError.Throw(structure, -1, $"block {fsBlock} (+{count}) is outside the file system.");
        }

        Device.ReadExactly(SuperBlock.BlockOffset(fsBlock), buffer);
    }

    /// <summary>Reads and parses inode <paramref name="number"/>.</summary>
    public XfsInode ReadInode(ulong number)
    {
        if (!SuperBlock.IsValidInode(number))
        {
            FormatError.Throw("XFS inode", -1, $"inode number {number} is outside the file system.");
        }

        long offset = SuperBlock.InodeOffset(number);
        byte[] raw = new byte[SuperBlock.InodeSize];
        Device.ReadExactly(offset, raw);
        return XfsInode.Parse(SuperBlock, number, raw, offset, VerifyChecksums);
    }

    /// <summary>The disk address (512-byte units) that v5 headers record for a block (<c>XFS_FSB_TO_DADDR</c>).</summary>
    public ulong DiskAddress(ulong fsBlock) => (ulong)SuperBlock.BlockOffset(fsBlock) >> 9;
}
