using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>A written (not unwritten) extent of a fork: logical block, file-system block (<c>agno &lt;&lt; agblklog | agbno</c>), length.</summary>
internal readonly record struct XfsExtentToWrite(long Logical, ulong FsBlock, int Count)
{
    /// <summary>Writes the 16-byte bmbt record (<c>xfs_bmbt_rec</c>: flag 1, startoff 54, startblock 52, blockcount 21 bits).</summary>
    public void WriteTo(Span<byte> record)
    {
        BinaryPrimitives.WriteUInt64BigEndian(record, ((ulong)Logical << 9) | (FsBlock >> 43));
        BinaryPrimitives.WriteUInt64BigEndian(record[8..], (FsBlock << 21) | (uint)Count);
    }
}
