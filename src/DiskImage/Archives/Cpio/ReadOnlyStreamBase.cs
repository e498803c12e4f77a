namespace DiskImage.Archives.Cpio;

/// <summary>Base for the forward-only, read-only decoding streams.</summary>
internal abstract class ReadOnlyStreamBase : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public abstract override int Read(Span<byte> buffer);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>Counts decompressed bytes against a shared budget and throws once it is exceeded (compression bombs).</summary>
internal sealed class CappedStream(Stream inner, InitramfsOutputBudget budget, string structure, long offset) : ReadOnlyStreamBase
{
    public override int Read(Span<byte> buffer)
    {
        int n;
        try
        {
            n = inner.Read(buffer);
        }
        catch (Exception ex) when (IsDecoderFailure(ex))
        {
            throw FormatError.Create(structure, offset, "corrupt compressed data: " + ex.Message);
        }

        budget.Consume(n);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n;
        try
        {
            n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsDecoderFailure(ex))
        {
            throw FormatError.Create(structure, offset, "corrupt compressed data: " + ex.Message);
        }

        budget.Consume(n);
        return n;
    }

    /// <summary>Third-party decoders report corrupt input with their own exception types; map them to <see cref="InvalidDataException"/>.</summary>
    internal static bool IsDecoderFailure(Exception ex) =>
        ex is not (InvalidDataException or NotSupportedException or OperationCanceledException or ObjectDisposedException or OutOfMemoryException);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>The decompressed-output allowance shared by all segments of one image.</summary>
internal sealed class InitramfsOutputBudget(long limit)
{
    public long Used { get; private set; }

    public void Consume(long count)
    {
        Used += count;
        if (Used > limit)
        {
            FormatError.Throw("initramfs", -1, $"decompressed data exceeds the limit of {limit} bytes (InitramfsReaderOptions.MaxDecompressedSize)");
        }
    }
}
