namespace DiskImage.Formats.Qcow2;

/// <summary>Compresses and decompresses single qcow2 clusters. Thread-safe; callers may compress clusters on several threads.</summary>
public static class Qcow2Compression
{
    /// <summary>
    /// Compresses one whole cluster into <paramref name="destination"/>. Returns <see langword="false"/>
    /// when the output would not be smaller than the cluster (store it uncompressed instead).
    /// </summary>
    public static bool TryCompress(Qcow2CompressionType type, ReadOnlySpan<byte> cluster, Span<byte> destination, out int bytesWritten) =>
        throw new NotImplementedException();
}
