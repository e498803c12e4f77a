using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>One block-map record (<c>xfs_bmbt_rec</c>): file blocks [<see cref="FileBlock"/>, +<see cref="Length"/>) at <see cref="FsBlock"/>.</summary>
internal readonly record struct XfsExtent(ulong FileBlock, ulong FsBlock, ulong Length, bool Unwritten)
{
    /// <summary>Size of one packed record.</summary>
    public const int Size = 16;

    /// <summary>Unpacks a record: bit 127 unwritten, 54 bits file offset, 52 bits start block, 21 bits count.</summary>
    public static XfsExtent Parse(ReadOnlySpan<byte> s)
    {
        ulong l0 = BinaryPrimitives.ReadUInt64BigEndian(s);
        ulong l1 = BinaryPrimitives.ReadUInt64BigEndian(s[8..]);
        return new XfsExtent(
            (l0 >> 9) & ((1UL << 54) - 1),
            ((l0 & 0x1FF) << 43) | (l1 >> 21),
            l1 & ((1UL << 21) - 1),
            (l0 >> 63) != 0);
    }
}
