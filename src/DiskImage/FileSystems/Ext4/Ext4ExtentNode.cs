using System.Buffers;
using System.Buffers.Binary;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Reads and writes the fields of one extent-tree node (ext4_extent_header, ext4_extent_idx, ext4_extent).
/// </summary>
internal static class Ext4ExtentNode
{
    internal static void InitializeExtentRoot(Ext4Inode inode)
    {
        Span<byte> root = inode.BlockAreaWritable;
        root.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(root, Ext4FileSystem.ExtentMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(root[4..], 4);
    }

    internal static int NodeEntries(ReadOnlySpan<byte> node) => BinaryPrimitives.ReadUInt16LittleEndian(node[2..]);

    internal static void SetNodeEntries(Span<byte> node, int count) => BinaryPrimitives.WriteUInt16LittleEndian(node[2..], (ushort)count);

    internal static int NodeMax(ReadOnlySpan<byte> node) => BinaryPrimitives.ReadUInt16LittleEndian(node[4..]);

    internal static int NodeDepth(ReadOnlySpan<byte> node) => BinaryPrimitives.ReadUInt16LittleEndian(node[6..]);

    internal static long EntryKey(ReadOnlySpan<byte> node, int i) => BinaryPrimitives.ReadUInt32LittleEndian(node[(12 + (i * 12))..]);

    internal static void SetEntryKey(Span<byte> node, int i, long key) => BinaryPrimitives.WriteUInt32LittleEndian(node[(12 + (i * 12))..], (uint)key);

    internal static long IndexChild(ReadOnlySpan<byte> node, int i)
    {
        ReadOnlySpan<byte> e = node.Slice(12 + (i * 12), 12);
        return BinaryPrimitives.ReadUInt32LittleEndian(e[4..]) | ((long)BinaryPrimitives.ReadUInt16LittleEndian(e[8..]) << 32);
    }

    internal static void SetIndex(Span<byte> node, int i, long key, long child)
    {
        Span<byte> e = node.Slice(12 + (i * 12), 12);
        BinaryPrimitives.WriteUInt32LittleEndian(e, (uint)key);
        BinaryPrimitives.WriteUInt32LittleEndian(e[4..], (uint)child);
        BinaryPrimitives.WriteUInt16LittleEndian(e[8..], (ushort)(child >> 32));
        BinaryPrimitives.WriteUInt16LittleEndian(e[10..], 0);
    }

    internal static (long Logical, long Physical, int Length, bool Unwritten) LeafExtent(ReadOnlySpan<byte> node, int i)
    {
        ReadOnlySpan<byte> e = node.Slice(12 + (i * 12), 12);
        int len = BinaryPrimitives.ReadUInt16LittleEndian(e[4..]);
        bool unwritten = len > Ext4BlockAllocator.MaxInitializedExtentLength;
        long physical = BinaryPrimitives.ReadUInt32LittleEndian(e[8..]) | ((long)BinaryPrimitives.ReadUInt16LittleEndian(e[6..]) << 32);
        return (BinaryPrimitives.ReadUInt32LittleEndian(e), physical, unwritten ? len - Ext4BlockAllocator.MaxInitializedExtentLength : len, unwritten);
    }

    internal static void SetLeafExtent(Span<byte> node, int i, long logical, long physical, int length, bool unwritten)
    {
        Span<byte> e = node.Slice(12 + (i * 12), 12);
        BinaryPrimitives.WriteUInt32LittleEndian(e, (uint)logical);
        BinaryPrimitives.WriteUInt16LittleEndian(e[4..], (ushort)(unwritten ? length + Ext4BlockAllocator.MaxInitializedExtentLength : length));
        BinaryPrimitives.WriteUInt16LittleEndian(e[6..], (ushort)(physical >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(e[8..], (uint)physical);
    }
}
