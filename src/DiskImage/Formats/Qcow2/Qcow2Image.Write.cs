using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>The write path (placeholder while it is written).</content>
public sealed partial class Qcow2Image
{
    private long _freeClusterHint;
    private long _compressedCursor;

    /// <summary>Creates a new image file (overwriting) of <paramref name="virtualSize"/> bytes, opened writable.</summary>
    public static Qcow2Image Create(string path, long virtualSize, Qcow2CreateOptions? options = null) => throw new NotImplementedException();

    /// <summary>Creates a new image in an empty, resizable <paramref name="host"/>, opened writable.</summary>
    public static Qcow2Image Create(BlockDevice host, long virtualSize, Qcow2CreateOptions? options = null, bool leaveOpen = false) => throw new NotImplementedException();

    /// <summary>
    /// Changes the virtual size. Growing is always allowed; shrinking only when nothing is allocated
    /// past the new end (otherwise <see cref="InvalidOperationException"/>).
    /// </summary>
    public void Resize(long newVirtualSize) => throw new NotImplementedException();

    /// <summary>
    /// Stores already-compressed data for the guest cluster at <paramref name="guestOffset"/> (cluster
    /// aligned; the cluster must be unallocated). <paramref name="compressedData"/> comes from
    /// <see cref="Qcow2Compression.TryCompress"/> with this image's <see cref="CompressionType"/> and
    /// <see cref="ClusterSize"/>. Compressed clusters are packed byte-contiguously after each other.
    /// </summary>
    public void WriteCompressedCluster(long guestOffset, ReadOnlySpan<byte> compressedData) => throw new NotImplementedException();

    internal void WriteGuest(long offset, ReadOnlySpan<byte> buffer) => throw new NotImplementedException();

    internal void WriteZeroesGuest(long offset, long length) => throw new NotImplementedException();

    internal (long, long) AllocatorState => (_freeClusterHint, _compressedCursor);

    internal void FlushImage() => _host.Flush();

    internal AllocationExtent GetAllocationGuest(ulong[]? l1, long offset, long maxLength) => new(offset, maxLength, AllocationKind.Data);
}
