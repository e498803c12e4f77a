namespace DiskImage.IO;

/// <summary>
/// A read-only device of a given length whose every byte reads as zero; nothing is stored. Useful as
/// the bottom of a backing chain, as a source for "empty" images, and in tests.
/// </summary>
public sealed class ZeroBlockDevice : BlockDevice
{
    private readonly long _length;
    private readonly AllocationKind _kind;

    /// <summary>Creates a zero device of <paramref name="length"/> bytes.</summary>
    /// <param name="length">Size of the device in bytes.</param>
    /// <param name="kind">What allocation queries report: <see cref="AllocationKind.Zero"/> (default) or <see cref="AllocationKind.Unallocated"/>.</param>
    public ZeroBlockDevice(long length, AllocationKind kind = AllocationKind.Zero)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (kind is not (AllocationKind.Zero or AllocationKind.Unallocated))
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "A zero device reports its content as Zero or Unallocated.");
        }

        _length = length;
        _kind = kind;
    }

    /// <inheritdoc />
    public override long Length => _length;

    /// <inheritdoc />
    public override bool CanWrite => false;

    /// <inheritdoc />
    protected override void ReadCore(long offset, Span<byte> buffer) => buffer.Clear();

    /// <inheritdoc />
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) =>
        throw new NotSupportedException("The device is read-only.");

    /// <inheritdoc />
    protected override void FlushCore()
    {
    }

    /// <inheritdoc />
    protected override AllocationExtent GetAllocationCore(long offset, long maxLength) => new(offset, maxLength, _kind);
}
