namespace DiskImage.Archives.Cpio;

/// <summary>One segment of an initramfs image: an uncompressed cpio archive or one compressed stream.</summary>
public sealed class InitramfsSegment
{
    internal InitramfsSegment(int index, long offset, InitramfsCompression compression)
    {
        Index = index;
        Offset = offset;
        Compression = compression;
    }

    /// <summary>Zero-based position of the segment in the image.</summary>
    public int Index { get; }

    /// <summary>Offset of the segment's first byte in the image.</summary>
    public long Offset { get; }

    /// <summary>Bytes the segment occupies in the image (known once the segment has been read).</summary>
    public long Length { get; internal set; }

    /// <summary>How the segment is stored.</summary>
    public InitramfsCompression Compression { get; }

    /// <summary>Bytes of cpio data in the segment once decompressed (known once read).</summary>
    public long DecompressedLength { get; internal set; }

    /// <summary>Entries read from the segment so far, trailers excluded.</summary>
    public int EntryCount { get; internal set; }

    /// <summary>cpio archives (trailer-terminated) in the segment so far.</summary>
    public int ArchiveCount { get; internal set; }

    /// <inheritdoc />
    public override string ToString() => $"#{Index} @{Offset} {Compression} {Length} B → {DecompressedLength} B, {EntryCount} entries";
}
