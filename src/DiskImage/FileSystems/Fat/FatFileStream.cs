using DiskImage.IO;

namespace DiskImage.FileSystems.Fat;

/// <summary>
/// A FAT file's content: reads map positions through the cluster chain; writes allocate clusters as the
/// file grows (zeroing any gap), shrinking frees them. The directory entry (first cluster, size, write
/// time) is updated on <see cref="Flush"/> and <see cref="Dispose(bool)"/>.
/// </summary>
internal sealed class FatFileStream : Stream
{
    /// <summary>Largest FAT file: <c>DIR_FileSize</c> is 32 bits.</summary>
    public const long MaxLength = uint.MaxValue;

    private readonly FatVolume _volume;
    private readonly List<uint> _chain;
    private readonly Action<uint, uint>? _update;
    private readonly bool _canRead;
    private readonly bool _canWrite;
    private readonly long _appendStart = -1;
    private long _length;
    private long _position;
    private bool _dirty;
    private bool _disposed;

    /// <summary>Opens a stream over <paramref name="chain"/>; <paramref name="update"/> receives (first cluster, size) when the entry must change.</summary>
    public FatFileStream(FatVolume volume, List<uint> chain, long length, bool canRead, bool canWrite, bool append, Action<uint, uint>? update)
    {
        _volume = volume;
        _chain = chain;
        _length = length;
        _canRead = canRead;
        _canWrite = canWrite;
        _update = update;
        if (append)
        {
            _position = _appendStart = length;
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
            return _length;
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
            throw new NotSupportedException("The stream was not opened for reading.");
        }

        if (_position >= _length || buffer.IsEmpty)
        {
            return 0;
        }

        int n = (int)Math.Min(buffer.Length, _length - _position);
        _volume.Read(_chain, _position, buffer[..n]);
        _position += n;
        return n;
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        CheckWritable();
        if (buffer.IsEmpty)
        {
            return;
        }

        long end = _position + buffer.Length;
        if (end > MaxLength)
        {
            throw new IOException($"A FAT file cannot be larger than {MaxLength} bytes.");
        }

        Reserve(end);
        if (_position > _length)
        {
            _volume.Zero(_chain, _length, _position - _length);
        }

        _volume.Write(_chain, _position, buffer);
        _position = end;
        _length = Math.Max(_length, end);
        _dirty = true;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long target = StreamSeek.Target(offset, origin, _position, _length);
        if (_appendStart >= 0 && target < _appendStart)
        {
            throw new IOException("A stream opened with FileMode.Append cannot seek before the original end of the file.");
        }

        _position = target;
        return _position;
    }

    public override void SetLength(long value)
    {
        CheckWritable();
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        if (value > MaxLength)
        {
            throw new IOException($"A FAT file cannot be larger than {MaxLength} bytes.");
        }

        if (value < _length)
        {
            long keep = (value + _volume.Boot.ClusterSize - 1) / _volume.Boot.ClusterSize;
            if (keep < _chain.Count)
            {
                _volume.Table.Truncate(_chain, (int)keep);
            }
        }
        else if (value > _length)
        {
            Reserve(value);
            _volume.Zero(_chain, _length, value - _length);
        }

        _length = value;
        _dirty = true;
    }

    public override void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_dirty)
        {
            _dirty = false;
            _update?.Invoke(_chain.Count == 0 ? 0 : _chain[0], (uint)_length);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (!_disposed && disposing)
        {
            Flush();
        }

        _disposed = true;
        base.Dispose(disposing);
    }

    private void Reserve(long length)
    {
        long need = (length + _volume.Boot.ClusterSize - 1) / _volume.Boot.ClusterSize;
        if (need > _chain.Count)
        {
            _volume.Table.Allocate((int)(need - _chain.Count), _chain.Count == 0 ? 0 : _chain[^1], _chain);
        }
    }

    private void CheckWritable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_canWrite)
        {
            throw new NotSupportedException("The stream was not opened for writing.");
        }
    }
}
