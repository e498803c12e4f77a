namespace DiskImage.Archives.Cpio;

/// <summary>How <see cref="Initramfs"/> writes an image.</summary>
public sealed class InitramfsWriteOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static InitramfsWriteOptions Default { get; } = new();

    /// <summary>Compression of the main segment (default zstd). <see cref="InitramfsCompression.Xz"/> and <see cref="InitramfsCompression.Lzo"/> are read only.</summary>
    public InitramfsCompression Compression { get; init; } = InitramfsCompression.Zstd;

    /// <summary>
    /// Compression level; null for the default: zstd 3, gzip 6 (zlib levels 0–9),
    /// bzip2 9 (the only block size written), lzma with a 1 MiB dictionary, lz4 1 (fast; 3–12 = HC).
    /// zstd levels are capped so the window stays within the kernel's 8 MiB.
    /// </summary>
    public int? CompressionLevel { get; init; }

    /// <summary>
    /// zstd worker threads; null (default) uses one per processor. Any count of 1 or more gives the
    /// same bytes (zstd splits jobs by size, not by thread count), so images stay reproducible across
    /// machines; 0 compresses on the calling thread, which gives different (also deterministic) bytes.
    /// </summary>
    public int? ZstdWorkers
    {
        get;
        init
        {
            if (value is < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(value));
            }

            field = value;
        }
    }

    /// <summary>
    /// gzip worker threads; null (default) uses one per processor. The data is deflated in 1 MiB chunks
    /// joined into one gzip member, with chunk boundaries fixed by offset, so every count (0 = on the
    /// calling thread) gives the same bytes.
    /// </summary>
    public int? GzipWorkers
    {
        get;
        init
        {
            if (value is < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(value));
            }

            field = value;
        }
    }

    /// <summary>How the trees become cpio archives (format, reproducibility, ownership).</summary>
    public CpioBuildOptions Build { get; init; } = new();
}
