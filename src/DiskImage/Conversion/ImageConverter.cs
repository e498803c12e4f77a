using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>Converts a guest disk into a new image file (<c>qemu-img convert</c>).</summary>
public static class ImageConverter
{
    /// <summary>Writes <paramref name="source"/>'s content to a new image at <paramref name="targetPath"/>.</summary>
    public static void Convert(BlockDevice source, string targetPath, ConvertOptions? options = null, IProgress<ConvertProgress>? progress = null, CancellationToken cancellationToken = default) =>
        throw new NotImplementedException();

    /// <summary>Asynchronous twin of <see cref="Convert"/>.</summary>
    public static Task ConvertAsync(BlockDevice source, string targetPath, ConvertOptions? options = null, IProgress<ConvertProgress>? progress = null, CancellationToken cancellationToken = default) =>
        throw new NotImplementedException();
}
