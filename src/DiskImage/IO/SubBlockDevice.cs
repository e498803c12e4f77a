namespace DiskImage.IO;

/// <summary>
/// A window [<c>offset</c>, <c>offset + length</c>) of another device: a partition, a logical
/// volume, a region of a host file. Offsets are relative to the window; allocation queries are
/// forwarded to the parent and clipped to the window.
/// </summary>
public sealed class SubBlockDevice : BlockDevice
{
    private readonly BlockDevice _parent;
    private readonly long _start;
    private readonly long _length;
    private readonly bool _writable;
    private readonly bool _leaveOpen;

    /// <summary>Creates a window over <paramref name="parent"/>.</summary>
    /// <param name="parent">The device the window looks into.</param>
    /// <param name="offset">Start of the window on <paramref name="parent"/>.</param>
    /// <param name="length">Length of the window; the window must lie within the parent.</param>
    /// <param name="writable">Whether writes are permitted; default: as the parent. Cannot exceed the parent's.</param>
    /// <param name="leaveOpen">Whether disposing the window leaves <paramref name="parent"/> open (default).</param>
    public SubBlockDevice(BlockDevice parent, long offset, long length, bool? writable = null, bool leaveOpen = true)
    {
        ArgumentNullException.ThrowIfNull(parent);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (offset > parent.Length || length > parent.Length - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"The window [{offset}, +{length}) extends past the end of the parent device ({parent.Length} bytes).");
        }

        if (writable == true && !parent.CanWrite)
        {
            throw new ArgumentException("A window over a read-only device cannot be writable.", nameof(writable));
        }

        _parent = parent;
        _start = offset;
        _length = length;
        _writable = writable ?? parent.CanWrite;
        _leaveOpen = leaveOpen;
    }

    /// <summary>The device the window looks into.</summary>
    public BlockDevice Parent => _parent;

    /// <summary>Start of the window on <see cref="Parent"/>.</summary>
    public long Offset => _start;

    /// <inheritdoc />
    public override long Length => _length;

    /// <inheritdoc />
    public override bool CanWrite => _writable;

    /// <inheritdoc />
    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        // A parent that shrank underneath the window reads as zeros past its end.
        int n = _parent.Read(_start + offset, buffer);
        if (n < buffer.Length)
        {
            buffer[n..].Clear();
        }
    }

    /// <inheritdoc />
    protected override async ValueTask<int> ReadCoreAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int n = await _parent.ReadAsync(_start + offset, buffer, cancellationToken).ConfigureAwait(false);
        if (n < buffer.Length)
        {
            buffer.Span[n..].Clear();
        }

        return buffer.Length;
    }

    /// <inheritdoc />
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => _parent.Write(_start + offset, buffer);

    /// <inheritdoc />
    protected override ValueTask WriteCoreAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken) =>
        _parent.WriteAsync(_start + offset, buffer, cancellationToken);

    /// <inheritdoc />
    protected override void WriteZeroesCore(long offset, long length) => _parent.WriteZeroes(_start + offset, length);

    /// <inheritdoc />
    protected override void FlushCore()
    {
        if (_parent.CanWrite)
        {
            _parent.Flush();
        }
    }

    /// <inheritdoc />
    protected override ValueTask FlushCoreAsync(CancellationToken cancellationToken) =>
        _parent.CanWrite ? _parent.FlushAsync(cancellationToken) : ValueTask.CompletedTask;

    /// <inheritdoc />
    protected override AllocationExtent GetAllocationCore(long offset, long maxLength)
    {
        long parentOffset = _start + offset;
        long parentLength = _parent.Length;
        if (parentOffset >= parentLength)
        {
            return new AllocationExtent(offset, maxLength, AllocationKind.Unallocated);
        }

        AllocationExtent e = _parent.GetAllocation(parentOffset, Math.Min(maxLength, parentLength - parentOffset));
        return e with { Offset = offset };
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_leaveOpen)
        {
            _parent.Dispose();
        }
    }
}
