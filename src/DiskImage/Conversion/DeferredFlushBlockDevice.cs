using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>
/// Forwards everything to a host device except flushes, which are ignored (qemu's
/// <c>cache=unsafe</c>). Used for a conversion target, whose content only matters once the
/// conversion has completed (a failed conversion deletes it), so per-step durability barriers only
/// cost time; the converter flushes once at the end when asked to.
/// </summary>
internal sealed class DeferredFlushBlockDevice(BlockDevice inner) : BlockDevice
{
    public override long Length => inner.Length;

    public override bool CanWrite => inner.CanWrite;

    public override bool CanSetLength => inner.CanSetLength;

    /// <summary>Flushes the host for real.</summary>
    public void FlushInner() => inner.Flush();

    protected override void ReadCore(long offset, Span<byte> buffer) => inner.ReadExactly(offset, buffer);

    protected override ValueTask<int> ReadCoreAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
        inner.ReadAsync(offset, buffer, cancellationToken);

    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => inner.Write(offset, buffer);

    protected override ValueTask WriteCoreAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken) =>
        inner.WriteAsync(offset, buffer, cancellationToken);

    protected override void WriteZeroesCore(long offset, long length) => inner.WriteZeroes(offset, length);

    protected override void SetLengthCore(long length) => inner.SetLength(length);

    protected override void FlushCore()
    {
    }

    protected override AllocationExtent GetAllocationCore(long offset, long maxLength) => inner.GetAllocation(offset, maxLength);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
    }
}
