namespace DiskImage.Formats.Qcow2;

/// <summary>Codec of compressed clusters (header byte 104, <c>compression_type</c>).</summary>
public enum Qcow2CompressionType : byte
{
    /// <summary>Raw deflate (RFC 1951, no zlib header); qemu calls it "zlib". The only codec of v2 images.</summary>
    Deflate = 0,

    /// <summary>Zstandard (incompatible feature bit 3 set).</summary>
    Zstd = 1,
}
