namespace DiskImage.IO;

/// <summary>How a range of a <see cref="BlockDevice"/> is backed (what <c>qemu-img map</c> reports).</summary>
public enum AllocationKind
{
    /// <summary>The range holds data that must be read (it may still happen to be all zeros).</summary>
    Data = 0,

    /// <summary>The range is allocated (or explicitly marked) as zeros: it reads as zeros without touching data.</summary>
    Zero = 1,

    /// <summary>Nothing is allocated for the range; it reads as zeros (or, for an overlay, from a lower layer).</summary>
    Unallocated = 2,
}
