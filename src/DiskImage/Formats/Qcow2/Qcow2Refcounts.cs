using System.Buffers.Binary;

namespace DiskImage.Formats.Qcow2;

/// <summary>
/// Refcount table entries and refcount blocks (spec "Host cluster management"): entries of
/// 1 &lt;&lt; refcount_order bits, sub-byte widths packed from the least significant bit.
/// </summary>
internal static class Qcow2Refcounts
{
    /// <summary>Bits 9–63 of a refcount table entry: the refcount block offset.</summary>
    public const ulong TableOffsetMask = 0xffff_ffff_ffff_fe00UL;

    /// <summary>Bits 0–8 of a refcount table entry are reserved (<c>REFT_RESERVED_MASK</c>).</summary>
    public const ulong TableReservedMask = 0x1ffUL;

    /// <summary>Reads refcount <paramref name="index"/> from a refcount block.</summary>
    public static ulong Get(ReadOnlySpan<byte> block, int index, int order)
    {
        switch (order)
        {
            case 0:
            case 1:
            case 2:
            {
                int bits = 1 << order;
                int bit = index * bits;
                return (ulong)((block[bit >> 3] >> (bit & 7)) & ((1 << bits) - 1));
            }

            case 3: return block[index];
            case 4: return BinaryPrimitives.ReadUInt16BigEndian(block[(index * 2)..]);
            case 5: return BinaryPrimitives.ReadUInt32BigEndian(block[(index * 4)..]);
            default: return BinaryPrimitives.ReadUInt64BigEndian(block[(index * 8)..]);
        }
    }

    /// <summary>Writes refcount <paramref name="index"/> in a refcount block; <paramref name="value"/> must fit the width.</summary>
    public static void Set(Span<byte> block, int index, int order, ulong value)
    {
        switch (order)
        {
            case 0:
            case 1:
            case 2:
            {
                int bits = 1 << order;
                int bit = index * bits;
                int mask = ((1 << bits) - 1) << (bit & 7);
                block[bit >> 3] = (byte)((block[bit >> 3] & ~mask) | (((int)value << (bit & 7)) & mask));
                break;
            }

            case 3: block[index] = (byte)value; break;
            case 4: BinaryPrimitives.WriteUInt16BigEndian(block[(index * 2)..], (ushort)value); break;
            case 5: BinaryPrimitives.WriteUInt32BigEndian(block[(index * 4)..], (uint)value); break;
            default: BinaryPrimitives.WriteUInt64BigEndian(block[(index * 8)..], value); break;
        }
    }

    /// <summary>The largest refcount of the width.</summary>
    public static ulong MaxValue(int order) => order >= 6 ? ulong.MaxValue : (1UL << (1 << order)) - 1;

    /// <summary>Byte range in a refcount block that holds entry <paramref name="index"/> (for partial writes).</summary>
    public static (int Offset, int Length) ByteRange(int index, int order) =>
        order <= 3 ? ((index << order) >> 3, 1) : (index << (order - 3), 1 << (order - 3));

    /// <summary>log2 of the number of entries in one refcount block.</summary>
    public static int BlockEntriesBits(int clusterBits, int order) => clusterBits + 3 - order;
}
