namespace DiskImage.Archives.Cpio;

/// <summary>Limits that protect readers of untrusted initramfs images.</summary>
public sealed class InitramfsReaderOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static InitramfsReaderOptions Default { get; } = new();

    /// <summary>Largest total of decompressed bytes across all compressed segments (default 4 GiB); beyond it reading throws <see cref="InvalidDataException"/>.</summary>
    public long MaxDecompressedSize
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value);
            field = value;
        }
    } = 4L << 30;

    /// <summary>Largest zstd window accepted (default 128 MiB; the kernel's own writer stays at 8 MiB).</summary>
    public long MaxZstdWindowSize
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1024);
            field = value;
        }
    } = 128L << 20;

    /// <summary>Verify the crc format's checksums (default true).</summary>
    public bool VerifyChecksums { get; init; } = true;
}
