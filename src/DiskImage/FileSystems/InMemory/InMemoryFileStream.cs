using DiskImage.IO;
namespace DiskImage.FileSystems.InMemory;

/// <summary>A seekable stream over the content of one <see cref="InMemoryNode"/>.</summary>
internal sealed class InMemoryFileStream : Stream
{
    private readonly InMemoryNode _node;
    private readonly bool _canRead;
    private readonly bool _canWrite;
    private readonly long _appendFloor;
    private long _position;
    private bool _disposed;

    public InMemoryFileStream(InMemoryNode node, FileAccess access, bool append)
    {
        _node = node;
        _canRead = (access & FileAccess.Read) != 0;
        _canWrite = (access & FileAccess.Write) != 0;
        if (append)
        {
            _position = _appendFloor = node.Length;
        }
    }

    public override bool CanRead => !_disposed && _canRead;

    public override bool CanSeek => !_disposed;

    public override bool CanWrite => !_disposed && _canWrite;

    public override long Length
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _node.Length;
        }
    }

    public override long Position
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _position;
        }

        set => Seek(value, SeekOrigin.Begin);
    }

    public override void Flush() => ObjectDisposedException.ThrowIf(_disposed, this);

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_canRead)
        {
            throw new NotSupportedException("The stream does not support reading.");
        }

        if (_position >= _node.Length)
        {
            return 0;
        }

        int n = (int)Math.Min(buffer.Length, _node.Length - _position);
        _node.Data.AsSpan((int)_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _position = StreamSeek.Target(offset, origin, _position, _node.Length, _appendFloor);
        return _position;
    }

    public override void SetLength(long value)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        if (!_canWrite)
        {
            throw new NotSupportedException("The stream does not support writing.");
        }

        Resize(value);
        _node.Length = value;
        Touch();
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_canWrite)
        {
            throw new NotSupportedException("The stream does not support writing.");
        }

        long end = _position + buffer.Length;
        if (end > Array.MaxLength)
        {
            throw new IOException("The in-memory file system holds files up to 2 GiB.");
        }

        if (end > _node.Length)
        {
            // Only growth resizes: Resize also clears what lies past a shorter length.
            Resize(end);
        }

        buffer.CopyTo(_node.Data.AsSpan((int)_position));
        _position = end;
        if (end > _node.Length)
        {
            _node.Length = end;
        }

        Touch();
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        base.Dispose(disposing);
    }

    private void Resize(long length)
    {
        if (length > Array.MaxLength)
        {
            throw new IOException("The in-memory file system holds files up to 2 GiB.");
        }

        if (length < _node.Length)
        {
            // Bytes past a shrunk end must read as zeros if the file grows again.
            _node.Data.AsSpan((int)length, (int)(_node.Length - length)).Clear();
        }

        if (length > _node.Data.Length)
        {
            byte[] grown = new byte[Math.Max(length, Math.Min(Array.MaxLength, (long)_node.Data.Length * 2))];
            _node.Data.AsSpan(0, (int)_node.Length).CopyTo(grown);
            _node.Data = grown;
        }
    }

    private void Touch()
    {
        UnixTime now = UnixTime.Now;
        _node.ModificationTime = now;
        _node.ChangeTime = now;
    }
}
