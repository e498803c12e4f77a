namespace DiskImage.IO;

/// <summary>A contiguous range of a device with one allocation state.</summary>
/// <param name="Offset">Start of the range on the device, in bytes.</param>
/// <param name="Length">Length of the range, in bytes (always positive).</param>
/// <param name="Kind">How the range is backed.</param>
/// <param name="HostOffset">
/// Where the range's bytes live in the underlying host storage, or -1 when there is no single
/// contiguous host location (unallocated, compressed, or a device that has no host notion).
/// </param>
/// <param name="Depth">Layer of a backing chain the range comes from: 0 for the top image.</param>
public readonly record struct AllocationExtent(long Offset, long Length, AllocationKind Kind, long HostOffset = -1, int Depth = 0)
{
    /// <summary>First byte after the range.</summary>
    public long End => Offset + Length;
}
