namespace DiskImage.Formats.Qcow2;

/// <summary>An L1 table entry (spec "L1 table entry"): the host offset of an L2 table plus the COPIED flag.</summary>
/// <param name="Value">The raw 64-bit entry (host byte order).</param>
internal readonly record struct Qcow2L1Entry(ulong Value)
{
    /// <summary>Bits 9–55: L2 table offset (<c>L1E_OFFSET_MASK</c>).</summary>
    public const ulong OffsetMask = 0x00ff_ffff_ffff_fe00UL;

    /// <summary>Reserved bits 0–8 and 56–62 (<c>L1E_RESERVED_MASK</c>).</summary>
    public const ulong ReservedMask = 0x7f00_0000_0000_01ffUL;

    /// <summary>Bit 63: the L2 table's refcount is exactly one (<c>QCOW_OFLAG_COPIED</c>).</summary>
    public const ulong CopiedFlag = 1UL << 63;

    /// <summary>Host offset of the L2 table, 0 when unallocated.</summary>
    public long L2Offset => (long)(Value & OffsetMask);

    /// <summary>Whether the COPIED flag is set.</summary>
    public bool Copied => (Value & CopiedFlag) != 0;

    /// <summary>Whether any reserved bit is set.</summary>
    public bool HasReservedBits => (Value & ReservedMask) != 0;

    /// <summary>Builds an entry for an L2 table at <paramref name="l2Offset"/>.</summary>
    public static Qcow2L1Entry Create(long l2Offset, bool copied) =>
        new(((ulong)l2Offset & OffsetMask) | (copied ? CopiedFlag : 0));
}
