using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Reads and writes the fields of one htree index node (dx_root or dx_node): count, limit, hash/block
/// entries, insertion and the binary search for a hash.
/// </summary>
internal static class Ext4DxNode
{
    internal static int DxCount(ReadOnlySpan<byte> node, int countOffset) => BinaryPrimitives.ReadUInt16LittleEndian(node[(countOffset + 2)..]);

    internal static int DxLimitOf(ReadOnlySpan<byte> node, int countOffset) => BinaryPrimitives.ReadUInt16LittleEndian(node[countOffset..]);

    internal static void SetDxCount(Span<byte> node, int countOffset, int count) =>
        BinaryPrimitives.WriteUInt16LittleEndian(node[(countOffset + 2)..], (ushort)count);

    internal static uint DxHash(ReadOnlySpan<byte> node, int countOffset, int index) =>
        index == 0 ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(node[(countOffset + (index * 8))..]);

    internal static uint DxChild(ReadOnlySpan<byte> node, int countOffset, int index) =>
        BinaryPrimitives.ReadUInt32LittleEndian(node[(countOffset + (index * 8) + 4)..]);

    /// <summary>Inserts {hash, block} as entry <paramref name="index"/> (≥ 1) of a node that has room.</summary>
    internal static void InsertDxEntry(Span<byte> node, int countOffset, int index, uint hash, uint child)
    {
        int count = DxCount(node, countOffset);
        int at = countOffset + (index * 8);
        node[at..(countOffset + (count * 8))].CopyTo(node[(at + 8)..]);
        BinaryPrimitives.WriteUInt32LittleEndian(node[at..], hash);
        BinaryPrimitives.WriteUInt32LittleEndian(node[(at + 4)..], child);
        SetDxCount(node, countOffset, count + 1);
    }

    /// <summary>The last entry whose hash is ≤ <paramref name="hash"/> (entry 0 stands for hash 0).</summary>
    internal static int DxSearch(ReadOnlySpan<byte> node, int countOffset, uint hash)
    {
        int lo = 1;
        int hi = DxCount(node, countOffset) - 1;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) / 2);
            if (DxHash(node, countOffset, mid) > hash)
            {
                hi = mid - 1;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo - 1;
    }
}
