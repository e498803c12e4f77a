using DiskImage.Formats;
using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>How <see cref="ImageCommitter.Commit"/> commits an overlay into its backing chain.</summary>
public sealed class ImageCommitOptions
{
    private long _rateLimit;
    private int _maxBackingChainDepth = 16;

    /// <summary>The top image's format; <see langword="null"/> (default) detects it.</summary>
    public DiskImageFormat? Format { get; init; }

    /// <summary>
    /// The image of the backing chain to commit into (qemu-img's <c>-b</c>), by the name stored in its
    /// overlay, the name qemu-img shows, or any name of the same file; <see langword="null"/> (default)
    /// commits into the top image's backing file.
    /// </summary>
    public string? Base { get; init; }

    /// <summary>
    /// Leave the top image as it is (qemu-img's <c>-d</c>). Otherwise the top image is emptied after a
    /// commit into its own backing file; a commit into a deeper <see cref="Base"/> never empties it.
    /// </summary>
    public bool KeepTop { get; init; }

    /// <summary>Bytes written per second at most; 0 (default) for no limit (qemu-img's <c>-r</c>).</summary>
    public long RateLimit
    {
        get => _rateLimit;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _rateLimit = value;
        }
    }

    /// <summary>The longest backing chain followed. Default 16.</summary>
    public int MaxBackingChainDepth
    {
        get => _maxBackingChainDepth;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _maxBackingChainDepth = value;
        }
    }

    /// <summary>
    /// How the images are locked against other users (<see cref="ImageLocking.ForceShare"/> is not
    /// allowed: images are written). Default <see cref="ImageLocking.Enabled"/>.
    /// </summary>
    public ImageLocking Locking { get; init; }

    /// <summary>Shared default instance.</summary>
    public static ImageCommitOptions Default { get; } = new();
}
