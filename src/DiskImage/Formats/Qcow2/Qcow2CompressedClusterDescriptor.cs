namespace DiskImage.Formats.Qcow2;

/// <summary>
/// The descriptor of a compressed cluster (spec "Compressed Clusters Descriptor"): with
/// x = 62 − (cluster_bits − 8), bits 0..x−1 hold the host byte offset and bits x..61 the number of
/// additional 512-byte sectors.
/// </summary>
/// <param name="HostOffset">Byte offset of the compressed data in the file.</param>
/// <param name="SectorCount">Number of 512-byte sectors holding the data (at least 1).</param>
internal readonly record struct Qcow2CompressedClusterDescriptor(long HostOffset, int SectorCount)
{
    /// <summary>Compressed sector size.</summary>
    public const int SectorSize = 512;

    /// <summary>Bytes to read: the sectors minus the part of the first sector before the offset.</summary>
    public int CompressedLength => (SectorCount * SectorSize) - (int)(HostOffset & (SectorSize - 1));

    /// <summary>Bit position of the sector count (<c>csize_shift</c>).</summary>
    public static int SizeShift(int clusterBits) => 62 - (clusterBits - 8);

    /// <summary>Decodes the descriptor bits of an L2 entry (flags are ignored).</summary>
    public static Qcow2CompressedClusterDescriptor Parse(ulong entry, int clusterBits)
    {
        int shift = SizeShift(clusterBits);
        ulong offsetMask = (1UL << shift) - 1;
        ulong sizeMask = (1UL << (clusterBits - 8)) - 1;
        long offset = (long)(entry & offsetMask);
        int sectors = (int)((entry >> shift) & sizeMask) + 1;
        return new Qcow2CompressedClusterDescriptor(offset, sectors);
    }

    /// <summary>Builds the L2 entry (with the COMPRESSED flag) for <paramref name="length"/> bytes at <paramref name="hostOffset"/>.</summary>
    public static ulong Encode(long hostOffset, int length, int clusterBits)
    {
        int shift = SizeShift(clusterBits);
        long additional = ((hostOffset + length - 1) / SectorSize) - (hostOffset / SectorSize);
        return Qcow2L2Entry.CompressedFlag | (ulong)hostOffset | ((ulong)additional << shift);
    }

    /// <summary>The largest host offset a compressed descriptor can express for <paramref name="clusterBits"/>.</summary>
    public static long MaxHostOffset(int clusterBits) => Math.Min((1L << SizeShift(clusterBits)) - 1, (1L << 56) - 1);
}
