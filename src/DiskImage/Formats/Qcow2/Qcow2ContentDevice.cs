using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <summary>The guest view of a qcow2 image (the active state, or a snapshot read-only).</summary>
internal sealed class Qcow2ContentDevice : BlockDevice
{
    private readonly Qcow2Image _image;
    private readonly ulong[]? _snapshotL1;
    private readonly long _snapshotLength;

    /// <summary>Creates the view; <paramref name="snapshotL1"/> null means the active state.</summary>
    public Qcow2ContentDevice(Qcow2Image image, ulong[]? snapshotL1, long snapshotLength)
    {
        _image = image;
        _snapshotL1 = snapshotL1;
        _snapshotLength = snapshotLength;
    }

    /// <summary>The image this device shows.</summary>
    internal Qcow2Image Image => _image;

    /// <inheritdoc />
    public override long Length => _snapshotL1 is null ? _image.VirtualSize : _snapshotLength;

    /// <inheritdoc />
    public override bool CanWrite => _snapshotL1 is null && _image.IsWritable;

    /// <inheritdoc />
    public override bool CanSetLength => CanWrite;

    /// <inheritdoc />
    protected override void SetLengthCore(long length) => _image.Resize(length);

    /// <inheritdoc />
    protected override void ReadCore(long offset, Span<byte> buffer) => _image.ReadGuest(_snapshotL1, offset, buffer);

    /// <inheritdoc />
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => _image.WriteGuest(offset, buffer);

    /// <inheritdoc />
    protected override void WriteZeroesCore(long offset, long length) => _image.WriteZeroesGuest(offset, length);

    /// <inheritdoc />
    protected override void FlushCore() => _image.FlushImage();

    /// <inheritdoc />
    protected override AllocationExtent GetAllocationCore(long offset, long maxLength) => _image.GetAllocationGuest(_snapshotL1, offset, maxLength);
}
