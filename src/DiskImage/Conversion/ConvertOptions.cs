using DiskImage.Formats;
using DiskImage.Formats.Qcow2;

namespace DiskImage.Conversion;

/// <summary>Options for <see cref="ImageConverter"/>; defaults match <c>qemu-img convert</c>.</summary>
public sealed class ConvertOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static ConvertOptions Default { get; } = new();

    /// <summary>Target container format (<c>-O</c>). Default qcow2.</summary>
    public DiskImageFormat TargetFormat { get; init; } = DiskImageFormat.Qcow2;

    /// <summary>qcow2 creation options (<c>-o</c>) for a qcow2 target.</summary>
    public Qcow2CreateOptions? Qcow2 { get; init; }

    /// <summary>Write compressed clusters (<c>-c</c>; qcow2 targets only).</summary>
    public bool Compress { get; init; }

    /// <summary>
    /// Compression level for <see cref="Compress"/>, or <see langword="null"/> for the codec's default,
    /// which is qemu-img's: 6 for deflate (zlib's default) and 3 for zstd. Deflate accepts
    /// <see cref="Qcow2Compression.MinDeflateLevel"/>..<see cref="Qcow2Compression.MaxDeflateLevel"/>,
    /// zstd <see cref="Qcow2Compression.MinZstdLevel"/>..<see cref="Qcow2Compression.MaxZstdLevel"/>.
    /// Lower levels are faster and compress less; the image reads the same with any level.
    /// </summary>
    public int? CompressionLevel { get; init; }

    /// <summary>
    /// Runs of at least this many zero bytes (aligned) are not written (<c>-S</c>); 0 writes everything.
    /// Default 4096.
    /// </summary>
    public int SparseSize { get; init; } = 4096;

    /// <summary>
    /// Whether the target is flushed to stable storage (fsync) before the conversion returns. Default
    /// false: like <c>qemu-img convert</c> (whose target cache mode is <c>unsafe</c>), the data is left
    /// to the operating system's write-back, which is much faster; a power loss shortly afterwards may
    /// lose it. Intermediate flushes are never issued, since a failed conversion deletes the target.
    /// </summary>
    public bool FlushToDisk { get; init; }

    /// <summary>
    /// Whether an existing target may be replaced. Default false: an existing target (file, symbolic
    /// link or device) is refused with <see cref="IOException"/> naming it. <c>qemu-img convert</c>
    /// replaces it; the CLI sets this.
    /// </summary>
    public bool Overwrite { get; init; }

    /// <summary>Worker threads for compression; default <see cref="Environment.ProcessorCount"/>.</summary>
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;
}
