namespace DiskImage.Formats.Qcow2;

/// <summary>What a guest cluster maps to (after QEMU's <c>QCow2ClusterType</c>).</summary>
internal enum Qcow2ClusterType
{
    /// <summary>Not allocated: read from the backing file, or zeros.</summary>
    Unallocated,

    /// <summary>Reads as zeros, no host cluster (<c>ZERO_PLAIN</c>).</summary>
    ZeroPlain,

    /// <summary>Reads as zeros, a host cluster is preallocated (<c>ZERO_ALLOC</c>).</summary>
    ZeroAllocated,

    /// <summary>Data in a host cluster.</summary>
    Normal,

    /// <summary>Compressed data at a byte offset.</summary>
    Compressed,
}

/// <summary>What a subcluster maps to (after QEMU's <c>QCow2SubclusterType</c>).</summary>
internal enum Qcow2SubclusterType
{
    /// <summary>No host cluster, not allocated: backing file or zeros.</summary>
    UnallocatedPlain,

    /// <summary>Host cluster exists but this subcluster is not allocated: backing file or zeros.</summary>
    UnallocatedAllocated,

    /// <summary>Reads as zeros, no host cluster.</summary>
    ZeroPlain,

    /// <summary>Reads as zeros, host cluster exists.</summary>
    ZeroAllocated,

    /// <summary>Data in the host cluster.</summary>
    Normal,

    /// <summary>Compressed cluster (no subclusters).</summary>
    Compressed,

    /// <summary>A combination the spec forbids.</summary>
    Invalid,
}

/// <summary>
/// An L2 table entry (spec "L2 table entry" and "Extended L2 Entries"): a standard or compressed
/// cluster descriptor with the COPIED and COMPRESSED flags, plus the subcluster bitmap of an
/// extended entry (0 for standard entries).
/// </summary>
/// <param name="Value">The first 64 bits (host byte order).</param>
/// <param name="Bitmap">The subcluster allocation bitmap (extended L2 only): bits 0–31 allocated, 32–63 reads-as-zero.</param>
internal readonly record struct Qcow2L2Entry(ulong Value, ulong Bitmap = 0)
{
    /// <summary>Bit 63: the cluster's refcount is exactly one (<c>QCOW_OFLAG_COPIED</c>).</summary>
    public const ulong CopiedFlag = 1UL << 63;

    /// <summary>Bit 62: the cluster is compressed (<c>QCOW_OFLAG_COMPRESSED</c>).</summary>
    public const ulong CompressedFlag = 1UL << 62;

    /// <summary>Bit 0 of a standard descriptor: reads as zeros (<c>QCOW_OFLAG_ZERO</c>; not with extended L2).</summary>
    public const ulong ZeroFlag = 1UL;

    /// <summary>Bits 9–55: host cluster offset (<c>L2E_OFFSET_MASK</c>).</summary>
    public const ulong OffsetMask = 0x00ff_ffff_ffff_fe00UL;

    /// <summary>Reserved bits of a standard descriptor (<c>L2E_STD_RESERVED_MASK</c>).</summary>
    public const ulong StandardReservedMask = 0x3f00_0000_0000_01feUL;

    /// <summary>Subclusters per cluster with extended L2.</summary>
    public const int SubclustersPerCluster = 32;

    /// <summary>The allocation half of the bitmap with every subcluster set.</summary>
    public const ulong AllAllocated = 0x0000_0000_ffff_ffffUL;

    /// <summary>The zero half of the bitmap with every subcluster set.</summary>
    public const ulong AllZero = 0xffff_ffff_0000_0000UL;

    /// <summary>Whether the COPIED flag is set.</summary>
    public bool Copied => (Value & CopiedFlag) != 0;

    /// <summary>Whether the COMPRESSED flag is set.</summary>
    public bool IsCompressed => (Value & CompressedFlag) != 0;

    /// <summary>Host cluster offset of a standard descriptor (meaningless for compressed entries).</summary>
    public long HostOffset => (long)(Value & OffsetMask);

    /// <summary>Allocation bits of the subcluster bitmap.</summary>
    public uint AllocatedBits => (uint)Bitmap;

    /// <summary>Reads-as-zero bits of the subcluster bitmap.</summary>
    public uint ZeroBits => (uint)(Bitmap >> 32);

    /// <summary>Classifies the cluster (QEMU's <c>qcow2_get_cluster_type</c>).</summary>
    /// <param name="extendedL2">Whether the image has extended L2 entries.</param>
    /// <param name="externalData">Whether the image has an external data file, where offset 0 with COPIED is a normal cluster.</param>
    public Qcow2ClusterType GetClusterType(bool extendedL2, bool externalData = false)
    {
        if (IsCompressed)
        {
            return Qcow2ClusterType.Compressed;
        }

        if (!extendedL2 && (Value & ZeroFlag) != 0)
        {
            return HostOffset != 0 ? Qcow2ClusterType.ZeroAllocated : Qcow2ClusterType.ZeroPlain;
        }

        return HostOffset != 0 || (externalData && Copied) ? Qcow2ClusterType.Normal : Qcow2ClusterType.Unallocated;
    }

    /// <summary>Classifies one subcluster of an extended entry (QEMU's <c>qcow2_get_subcluster_type</c>).</summary>
    /// <param name="index">Subcluster index 0–31.</param>
    /// <param name="externalData">Whether the image has an external data file, where offset 0 with COPIED is a host cluster.</param>
    public Qcow2SubclusterType GetSubclusterType(int index, bool externalData = false)
    {
        if (IsCompressed)
        {
            return Qcow2SubclusterType.Compressed;
        }

        bool allocated = ((AllocatedBits >> index) & 1) != 0;
        bool zero = ((ZeroBits >> index) & 1) != 0;
        if (HostOffset != 0 || (externalData && Copied))
        {
            return allocated && zero ? Qcow2SubclusterType.Invalid
                : allocated ? Qcow2SubclusterType.Normal
                : zero ? Qcow2SubclusterType.ZeroAllocated
                : Qcow2SubclusterType.UnallocatedAllocated;
        }

        return AllocatedBits != 0 ? Qcow2SubclusterType.Invalid
            : zero ? Qcow2SubclusterType.ZeroPlain
            : Qcow2SubclusterType.UnallocatedPlain;
    }

    /// <summary>Whether the subcluster bitmap is valid for this entry (no alloc+zero overlap, no alloc bits without a host cluster, none on compressed clusters).</summary>
    public bool HasValidBitmap => IsValidBitmap(externalData: false);

    /// <summary>Whether the subcluster bitmap is valid, given whether offset 0 with COPIED is a host cluster (external data file).</summary>
    public bool IsValidBitmap(bool externalData) =>
        IsCompressed ? Bitmap == 0
        : HostOffset != 0 || (externalData && Copied) ? (AllocatedBits & ZeroBits) == 0
        : AllocatedBits == 0;

    /// <summary>A normal cluster at <paramref name="hostOffset"/>.</summary>
    public static Qcow2L2Entry Normal(long hostOffset, bool copied, ulong bitmap = 0) =>
        new(((ulong)hostOffset & OffsetMask) | (copied ? CopiedFlag : 0), bitmap);

    /// <summary>Mask of subclusters [<paramref name="first"/>, <paramref name="first"/> + <paramref name="count"/>) in one 32-bit half.</summary>
    public static uint SubclusterMask(int first, int count) =>
        count >= 32 ? uint.MaxValue : ((1u << count) - 1) << first;
}
