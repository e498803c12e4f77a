namespace DiskImage.IO;

/// <summary>A seekable <see cref="Stream"/> over a <see cref="BlockDevice"/>; the stream owns its position.</summary>
internal sealed class BlockDeviceStream : Stream
{
    private readonly BlockDevice _device;
    private readonly bool _leaveOpen;
    private long _position;
    private bool _disposed;

    public BlockDeviceStream(BlockDevice device, bool leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(device);
        _device = device;
        _leaveOpen = leaveOpen;
    }

    public override bool CanRead => !_disposed;

    public override bool CanSeek => !_disposed;

    public override bool CanWrite => !_disposed && _device.CanWrite;

    public override long Length
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _device.Length;
        }
    }

    public override long Position
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _position;
        }

        set
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int n = _device.Read(_position, buffer);
        _position += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int n = await _device.ReadAsync(_position, buffer, cancellationToken).ConfigureAwait(false);
        _position += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _device.Write(_position, buffer);
        _position += buffer.Length;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _device.WriteAsync(_position, buffer, cancellationToken).ConfigureAwait(false);
        _position += buffer.Length;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _position = StreamSeek.Target(offset, origin, _position, _device.Length);
        return _position;
    }

    public override void SetLength(long value) =>
        throw new NotSupportedException("A block device has a fixed length; resize the image instead.");

    public override void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_device.CanWrite)
        {
            _device.Flush();
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _device.CanWrite ? _device.FlushAsync(cancellationToken).AsTask() : Task.CompletedTask;

    protected override void Dispose(bool disposing)
    {
        if (!_disposed)
        {
            _disposed = true;
            if (disposing && !_leaveOpen)
            {
                _device.Dispose();
            }
        }

        base.Dispose(disposing);
    }
}
