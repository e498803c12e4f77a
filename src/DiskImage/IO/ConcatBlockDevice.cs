namespace DiskImage.IO;

/// <summary>
/// Several read-only devices one after another (<c>qemu-img convert a b c out</c>): the length is
/// the sum; reads and allocation queries go to the part that holds the offset, clipped to it. A
/// part without a backing file reports its unallocated ranges as zeros (they are its own), so only
/// a part with a backing file reports ranges that come from below.
/// </summary>
internal sealed class ConcatBlockDevice : BlockDevice
{
    private readonly BlockDevice[] _parts;
    private readonly bool[] _hasBacking;
    private readonly long[] _starts;
    private readonly long _length;

    /// <summary>Joins <paramref name="parts"/> (left open) in order.</summary>
    public ConcatBlockDevice(IReadOnlyList<(BlockDevice Device, bool HasBacking)> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        _parts = new BlockDevice[parts.Count];
        _hasBacking = new bool[parts.Count];
        _starts = new long[parts.Count];
        long pos = 0;
        for (int i = 0; i < parts.Count; i++)
        {
            (_parts[i], _hasBacking[i]) = parts[i];
            _starts[i] = pos;
            pos += _parts[i].Length;
        }

        _length = pos;
    }

    /// <inheritdoc />
    public override long Length => _length;

    /// <inheritdoc />
    public override bool CanWrite => false;

    /// <inheritdoc />
    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            int i = PartAt(offset);
            long inPart = offset - _starts[i];
            int n = (int)Math.Min(buffer.Length, _parts[i].Length - inPart);
            _parts[i].ReadExactly(inPart, buffer[..n]);
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <inheritdoc />
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => throw new NotSupportedException("Concatenated source images are read-only.");

    /// <inheritdoc />
    protected override void FlushCore()
    {
    }

    /// <inheritdoc />
    protected override AllocationExtent GetAllocationCore(long offset, long maxLength)
    {
        int i = PartAt(offset);
        long inPart = offset - _starts[i];
        AllocationExtent e = _parts[i].GetAllocation(inPart, Math.Min(maxLength, _parts[i].Length - inPart));
        if (!_hasBacking[i] && e.Kind == AllocationKind.Unallocated)
        {
            e = e with { Kind = AllocationKind.Zero, Depth = 0 };
        }

        return e with { Offset = offset, HostOffset = -1 };
    }

    private int PartAt(long offset)
    {
        // Zero-length parts are skipped: the last part whose start is at or before the offset and that holds it.
        int i = Array.BinarySearch(_starts, offset);
        if (i < 0)
        {
            i = ~i - 1;
        }

        while (i < _parts.Length - 1 && offset - _starts[i] >= _parts[i].Length)
        {
            i++;
        }

        return i;
    }
}
