using DiskImage.IO;

namespace DiskImage.FileSystems;

/// <summary>
/// The shape every read-only file content stream of a file system shares: a fixed length, a position
/// that seeks anywhere (reading past the end gives 0 bytes), no writing. A derived stream only maps
/// a byte range of the file to the device (<see cref="ReadAt"/>).
/// </summary>
internal abstract class ReadOnlyFileStream(long length) : Stream
{
    private long _position;
    private bool _disposed;

    public override bool CanRead => !_disposed;

    public override bool CanSeek => !_disposed;

    public override bool CanWrite => false;

    public override long Length
    {
        get
        {
            ThrowIfDisposed();
            return length;
        }
    }

    public override long Position
    {
        get
        {
            ThrowIfDisposed();
            return _position;
        }

        set => Seek(value, SeekOrigin.Begin);
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public override int Read(Span<byte> buffer)
    {
        ThrowIfDisposed();
        if (_position >= length || buffer.IsEmpty)
        {
            return 0;
        }

        int n = (int)Math.Min(buffer.Length, length - _position);
        ReadAt(_position, buffer[..n]);
        _position += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        ThrowIfDisposed();
        _position = StreamSeek.Target(offset, origin, _position, length);
        return _position;
    }

    public override void SetLength(long value) => throw new NotSupportedException("The stream does not support writing.");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("The stream does not support writing.");

    /// <summary>Fills <paramref name="buffer"/> with the file's bytes from <paramref name="position"/> (the range lies inside the file).</summary>
    protected abstract void ReadAt(long position, Span<byte> buffer);

    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        base.Dispose(disposing);
    }
}
