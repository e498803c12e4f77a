using DiskImage.IO;

namespace DiskImage.Cli.Commands;

/// <summary>
/// A read-only device of <c>length</c> bytes whose first <c>dataLength</c> bytes are another device's bytes from
/// <c>start</c> and whose rest (and whatever passes that device's end) reads as zeros: a range qemu copies,
/// rounded up to a whole 512-byte sector.
/// </summary>
internal sealed class ZeroExtendedDevice : BlockDevice
{
    private readonly BlockDevice _inner;
    private readonly long _start;
    private readonly long _dataEnd;
    private readonly long _length;

    public ZeroExtendedDevice(BlockDevice inner, long start, long dataLength, long length)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(dataLength);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, dataLength);
        _inner = inner;
        _start = start;
        _dataEnd = Math.Min(dataLength, Math.Max(0, inner.Length - start));
        _length = length;
    }

    public override long Length => _length;

    public override bool CanWrite => false;

    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        long available = Math.Max(0, _dataEnd - offset);
        int n = (int)Math.Min(buffer.Length, available);
        if (n > 0)
        {
            _inner.ReadExactly(_start + offset, buffer[..n]);
        }

        buffer[n..].Clear();
    }

    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) =>
        throw new NotSupportedException("The device is read-only.");

    protected override void FlushCore()
    {
    }

    protected override AllocationExtent GetAllocationCore(long offset, long maxLength)
    {
        if (offset >= _dataEnd)
        {
            return new AllocationExtent(offset, maxLength, AllocationKind.Unallocated);
        }

        AllocationExtent e = _inner.GetAllocation(_start + offset, Math.Min(maxLength, _dataEnd - offset));
        return e with { Offset = offset };
    }
}
