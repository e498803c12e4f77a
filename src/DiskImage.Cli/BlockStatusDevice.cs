using DiskImage.Cli.Commands;
using DiskImage.IO;

namespace DiskImage.Cli;

/// <summary>
/// A read-only view of an image's content whose allocation is qemu's block status
/// (<see cref="BlockStatusReader"/>): data clusters of a metadata-preallocated qcow2 image whose host
/// range is a hole read as zero, as qemu-img <c>measure</c> counts them.
/// </summary>
internal sealed class BlockStatusDevice(BlockDevice content, BlockStatusReader status) : BlockDevice
{
    /// <inheritdoc />
    public override long Length => content.Length;

    /// <inheritdoc />
    public override bool CanWrite => false;

    /// <inheritdoc />
    protected override void ReadCore(long offset, Span<byte> buffer) => content.ReadExactly(offset, buffer);

    /// <inheritdoc />
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => throw new NotSupportedException("The view is read-only.");

    /// <inheritdoc />
    protected override void FlushCore()
    {
    }

    /// <inheritdoc />
    protected override AllocationExtent GetAllocationCore(long offset, long maxLength)
    {
        MapEntry entry = status.At(offset, maxLength);
        AllocationKind kind = entry.Zero ? AllocationKind.Zero : entry.Data ? AllocationKind.Data : AllocationKind.Unallocated;
        return new AllocationExtent(offset, Math.Min(entry.Length, maxLength), kind);
    }
}
