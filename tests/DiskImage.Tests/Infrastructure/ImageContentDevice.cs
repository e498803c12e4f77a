using DiskImage.Formats;
using DiskImage.IO;

namespace DiskImage.Tests.Infrastructure;

/// <summary>
/// Presents an image's <see cref="DiskImageFile.Content"/> as a device that owns the image: disposing
/// the device disposes the image. Lets device-level suites (the conformance tests) run over an
/// image without knowing who owns what.
/// </summary>
public sealed class ImageContentDevice(DiskImageFile image) : BlockDevice
{
    private readonly BlockDevice _content = image.Content;

    /// <summary>The image whose content this is.</summary>
    public DiskImageFile Image => image;

    /// <inheritdoc />
    public override long Length => _content.Length;

    /// <inheritdoc />
    public override bool CanWrite => _content.CanWrite;

    /// <inheritdoc />
    public override bool CanSetLength => _content.CanSetLength;

    /// <inheritdoc />
    protected override void ReadCore(long offset, Span<byte> buffer) => _content.ReadExactly(offset, buffer);

    /// <inheritdoc />
    protected override ValueTask<int> ReadCoreAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
        _content.ReadAsync(offset, buffer, cancellationToken);

    /// <inheritdoc />
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => _content.Write(offset, buffer);

    /// <inheritdoc />
    protected override ValueTask WriteCoreAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken) =>
        _content.WriteAsync(offset, buffer, cancellationToken);

    /// <inheritdoc />
    protected override void WriteZeroesCore(long offset, long length) => _content.WriteZeroes(offset, length);

    /// <inheritdoc />
    protected override void SetLengthCore(long length) => _content.SetLength(length);

    /// <inheritdoc />
    protected override void FlushCore() => _content.Flush();

    /// <inheritdoc />
    protected override ValueTask FlushCoreAsync(CancellationToken cancellationToken) => _content.FlushAsync(cancellationToken);

    /// <inheritdoc />
    protected override AllocationExtent GetAllocationCore(long offset, long maxLength) => _content.GetAllocation(offset, maxLength);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            image.Dispose();
        }
    }
}
