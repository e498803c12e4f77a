using DiskImage.Formats;
using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>How <see cref="ImageRebaser.Rebase"/> changes an image's backing file.</summary>
public sealed class ImageRebaseOptions
{
    /// <summary>The image's format; <see langword="null"/> (default) detects it.</summary>
    public DiskImageFormat? Format { get; init; }

    /// <summary>
    /// The new backing file's format, recorded in the image (qemu-img's <c>-F</c>). Required with a new
    /// backing file, as in qemu-img 7.2; ignored when the backing file is removed.
    /// </summary>
    public DiskImageFormat? BackingFormat { get; init; }

    /// <summary>
    /// Only rewrite the name in the header (qemu-img's <c>-u</c>): no backing file is opened and no
    /// data is copied, so the guest view changes unless the new file has the old one's content.
    /// </summary>
    public bool Unsafe { get; init; }

    /// <summary>
    /// How the backing files (old and new) are locked (<see cref="ImageLocking.ForceShare"/> is
    /// qemu-img's <c>-U</c>); the image itself is always locked for writing unless this is
    /// <see cref="ImageLocking.Disabled"/>. Default <see cref="ImageLocking.Enabled"/>.
    /// </summary>
    public ImageLocking BackingLocking { get; init; }

    /// <summary>Shared default instance.</summary>
    public static ImageRebaseOptions Default { get; } = new();
}
