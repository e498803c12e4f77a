namespace DiskImage.Archives.Cpio;

/// <summary>How one initramfs segment is stored (the formats the kernel's <c>lib/decompress.c</c> detects by magic).</summary>
public enum InitramfsCompression
{
    /// <summary>Uncompressed cpio.</summary>
    None = 0,

    /// <summary>gzip (<c>1F 8B</c>), one member per segment.</summary>
    Gzip,

    /// <summary>zstd frame (<c>28 B5 2F FD</c>); written with a window of at most 8 MiB.</summary>
    Zstd,

    /// <summary>xz (<c>FD 37 7A 58 5A 00</c>); read only. The kernel accepts only CRC32 or no integrity check.</summary>
    Xz,

    /// <summary>LZMA "alone" (<c>5D 00</c>), as <c>lzma</c> writes it.</summary>
    Lzma,

    /// <summary>bzip2 (<c>BZh</c>).</summary>
    Bzip2,

    /// <summary>LZ4 legacy frame (<c>02 21 4C 18</c>, <c>lz4 -l</c>); it has no end marker, so it must be the last segment.</summary>
    Lz4,

    /// <summary>lzop (<c>89 4C 5A 4F</c>); read only.</summary>
    Lzo,
}
