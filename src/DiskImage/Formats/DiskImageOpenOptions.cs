using DiskImage.IO;

namespace DiskImage.Formats;

/// <summary>How <see cref="DiskImageFile.Open(string, DiskImageOpenOptions?)"/> and the format-specific openers treat an image.</summary>
public sealed class DiskImageOpenOptions
{
    private int _maxBackingChainDepth = 16;

    /// <summary>Open for writing. Default: read-only.</summary>
    public bool Writable { get; init; }

    /// <summary>The format the caller states; <see langword="null"/> (default) detects it from the content.</summary>
    public DiskImageFormat? Format { get; init; }

    /// <summary>Whether backing files named by the image are opened. Default: <see cref="BackingFilePolicy.Deny"/>.</summary>
    public BackingFilePolicy BackingFiles { get; init; }

    /// <summary>Whether an external data file named by a qcow2 image is opened. Default: <see langword="false"/> (refused).</summary>
    public bool AllowExternalDataFile { get; init; }

    /// <summary>The longest backing chain followed, counting the top image's backing file as 1. Default 16.</summary>
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
    /// How the image file (and the files of its backing chain) are locked against other users, with
    /// the locks QEMU takes. Default: <see cref="ImageLocking.Enabled"/>, as in QEMU: a writable open
    /// fails with <see cref="IOException"/> while another process (or another open in this process)
    /// uses the image, and a read-only open of a qcow2 image fails while another user writes it.
    /// <see cref="ImageLocking.ForceShare"/> (qemu-img's <c>-U</c>) is for read-only opens only.
    /// </summary>
    public ImageLocking Locking { get; init; }

    /// <summary>
    /// For <c>info</c>-style callers (the CLI): open a qcow2 image read-only for its metadata only. A
    /// backing file it names is neither opened nor checked, so the image's content is not available
    /// (<see cref="DiskImageFile.Content"/> throws <see cref="InvalidOperationException"/>), while
    /// <see cref="DiskImageFile.GetInfo"/> reports the header as stored. Not combinable with <see cref="Writable"/>.
    /// </summary>
    internal bool MetadataOnly { get; init; }

    /// <summary>
    /// The passphrase of an encrypted image (qemu's secret object: its bytes as given), tried on every
    /// active LUKS key slot; it unlocks a raw LUKS image and a qcow2 image with <c>encrypt.format=luks</c>,
    /// and the encrypted images of its backing chain. Default <see langword="null"/>: encrypted images
    /// open for their metadata only (a raw LUKS image's <see cref="DiskImageFile.Content"/> throws) or,
    /// for qcow2, are refused with <see cref="NotSupportedException"/>.
    /// </summary>
    public ReadOnlyMemory<byte>? Passphrase { get; init; }

    /// <summary>Shared default instance: read-only, detect format, deny backing files.</summary>
    public static DiskImageOpenOptions Default { get; } = new();
}
