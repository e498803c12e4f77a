namespace DiskImage.Formats.Qcow2;

/// <summary>qcow2-specific fields of <c>qemu-img info</c> (<c>format-specific.data</c>).</summary>
public sealed record Qcow2FormatInfo
{
    /// <summary>"0.10" for version 2, "1.1" for version 3 (<c>compat</c>).</summary>
    public required string Compat { get; init; }

    /// <summary>Codec of compressed clusters (<c>compression-type</c>: "zlib" or "zstd").</summary>
    public Qcow2CompressionType CompressionType { get; init; }

    /// <summary>The lazy-refcounts compatible bit (<c>lazy-refcounts</c>; v3 only).</summary>
    public bool LazyRefcounts { get; init; }

    /// <summary>Refcount width (<c>refcount-bits</c>).</summary>
    public int RefcountBits { get; init; }

    /// <summary>The corrupt incompatible bit (<c>corrupt</c>; v3 only).</summary>
    public bool Corrupt { get; init; }

    /// <summary>Whether L2 entries are extended (<c>extended-l2</c>; v3 only).</summary>
    public bool ExtendedL2 { get; init; }

    /// <summary>External data file name, when the image has one (<c>data-file</c>).</summary>
    public string? DataFile { get; init; }

    /// <summary>
    /// Whether the external data file is a valid raw image of the guest (<c>data-file-raw</c>, the
    /// autoclear bit 1); <see langword="null"/> when the image has no data file.
    /// </summary>
    public bool? DataFileRaw { get; init; }

    /// <summary>Persistent dirty bitmaps, in directory order (<c>bitmaps</c>; qemu-img omits the field when there are none).</summary>
    public IReadOnlyList<Qcow2Bitmap> Bitmaps { get; init; } = [];

    /// <summary>The encryption format (<c>encrypt.format</c>): "aes" (legacy, crypt_method 1), "luks" (crypt_method 2), or <see langword="null"/> when not encrypted.</summary>
    public string? EncryptionFormat { get; init; }

    /// <summary>The LUKS header of an <c>encrypt.format=luks</c> image (the other <c>encrypt</c> fields), or <see langword="null"/>.</summary>
    public Luks.LuksFormatInfo? Luks { get; init; }

    /// <summary>Header version, 2 or 3.</summary>
    public int Version { get; init; }
}
