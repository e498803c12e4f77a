using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>Compares guest content of two devices (<c>qemu-img compare</c>).</summary>
public static class ImageComparer
{
    /// <summary>
    /// Returns the offset of the first byte that differs, or <see langword="null"/> when the content is
    /// identical. Without <paramref name="strict"/>, a size difference is fine when the extra tail of the
    /// larger device reads as zeros (qemu-img's rule); with it, sizes must match.
    /// </summary>
    public static long? FindFirstDifference(BlockDevice first, BlockDevice second, bool strict = false, CancellationToken cancellationToken = default) =>
        throw new NotImplementedException();
}
