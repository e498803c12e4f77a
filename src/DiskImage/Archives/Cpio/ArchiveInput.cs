using System.Buffers;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// A forward-only buffered reader over an archive stream that knows its absolute position, can peek,
/// and can step back a little (<see cref="History"/> bytes) so that decoders which read ahead can
/// hand unused bytes back. Works on non-seekable streams.
/// </summary>
internal sealed class ArchiveInput : IDisposable
{
    public const int History = 64 * 1024;
    private const int Capacity = 256 * 1024;

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private byte[] _buffer;
    private int _pos;
    private int _end;
    private long _bufferStart;
    private bool _eof;

    public ArchiveInput(Stream stream, bool leaveOpen, long startPosition = 0)
    {
        _stream = stream;
        _leaveOpen = leaveOpen;
        _buffer = ArrayPool<byte>.Shared.Rent(Capacity + History);
        _bufferStart = startPosition;
    }

    /// <summary>Absolute position of the next unread byte.</summary>
    public long Position => _bufferStart + _pos;

    /// <summary>Bytes buffered and not yet consumed.</summary>
    public ReadOnlySpan<byte> Buffered => _buffer.AsSpan(_pos, _end - _pos);

    public void Advance(int count)
    {
        if ((uint)count > (uint)(_end - _pos))
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        _pos += count;
    }

    /// <summary>Steps back over bytes already consumed (at most what is still buffered behind the position).</summary>
    public bool TryUnread(int count)
    {
        if (count < 0 || count > _pos)
        {
            return false;
        }

        _pos -= count;
        return true;
    }

    /// <summary>How many consumed bytes can still be stepped back over.</summary>
    public int UnreadableBytes => _pos;

    /// <summary>Makes at least <paramref name="count"/> bytes available unless the stream ends first; returns whether they are.</summary>
    public bool Ensure(int count)
    {
        while (_end - _pos < count)
        {
            if (_eof)
            {
                return false;
            }

            Compact();
            int n = _stream.Read(_buffer, _end, _buffer.Length - _end);
            if (n <= 0)
            {
                _eof = true;
            }
            else
            {
                _end += n;
            }
        }

        return true;
    }

    /// <inheritdoc cref="Ensure(int)"/>
    public async ValueTask<bool> EnsureAsync(int count, CancellationToken cancellationToken)
    {
        while (_end - _pos < count)
        {
            if (_eof)
            {
                return false;
            }

            Compact();
            int n = await _stream.ReadAsync(_buffer.AsMemory(_end, _buffer.Length - _end), cancellationToken).ConfigureAwait(false);
            if (n <= 0)
            {
                _eof = true;
            }
            else
            {
                _end += n;
            }
        }

        return true;
    }

    /// <summary>The next byte without consuming it, or -1 at the end.</summary>
    public int Peek() => Ensure(1) ? _buffer[_pos] : -1;

    /// <summary>Reads up to <paramref name="destination"/>.Length bytes; 0 only at the end.</summary>
    public int Read(Span<byte> destination)
    {
        if (destination.IsEmpty || !Ensure(1))
        {
            return 0;
        }

        int n = Math.Min(destination.Length, _end - _pos);
        _buffer.AsSpan(_pos, n).CopyTo(destination);
        _pos += n;
        return n;
    }

    /// <inheritdoc cref="Read(Span{byte})"/>
    public async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (destination.IsEmpty || !await EnsureAsync(1, cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }

        int n = Math.Min(destination.Length, _end - _pos);
        _buffer.AsSpan(_pos, n).CopyTo(destination.Span);
        _pos += n;
        return n;
    }

    /// <summary>Consumes NUL bytes; returns how many were skipped.</summary>
    public long SkipZeros()
    {
        long skipped = 0;
        while (Ensure(1))
        {
            ReadOnlySpan<byte> span = Buffered;
            int nonZero = span.IndexOfAnyExcept((byte)0);
            if (nonZero >= 0)
            {
                _pos += nonZero;
                return skipped + nonZero;
            }

            skipped += span.Length;
            _pos = _end;
        }

        return skipped;
    }

    /// <inheritdoc cref="SkipZeros"/>
    public async ValueTask<long> SkipZerosAsync(CancellationToken cancellationToken)
    {
        long skipped = 0;
        while (await EnsureAsync(1, cancellationToken).ConfigureAwait(false))
        {
            int nonZero = Buffered.IndexOfAnyExcept((byte)0);
            if (nonZero >= 0)
            {
                _pos += nonZero;
                return skipped + nonZero;
            }

            skipped += _end - _pos;
            _pos = _end;
        }

        return skipped;
    }

    public void Dispose()
    {
        byte[] b = _buffer;
        _buffer = [];
        if (b.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(b);
        }

        if (!_leaveOpen)
        {
            _stream.Dispose();
        }
    }

    private void Compact()
    {
        ObjectDisposedException.ThrowIf(_buffer.Length == 0, this);
        if (_end < _buffer.Length)
        {
            return;
        }

        int keepFrom = Math.Max(0, _pos - History);
        int keep = _end - keepFrom;
        Buffer.BlockCopy(_buffer, keepFrom, _buffer, 0, keep);
        _bufferStart += keepFrom;
        _pos -= keepFrom;
        _end = keep;
    }
}

/// <summary>A read-only stream view of an <see cref="ArchiveInput"/> that hands a decoder at most <c>chunk</c> bytes per read.</summary>
internal sealed class ArchiveInputStream(ArchiveInput input, int chunk) : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => input.Position; set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer) => input.Read(buffer.Length > chunk ? buffer[..chunk] : buffer);

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return input.Read(one) == 1 ? one[0] : -1;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        input.ReadAsync(buffer.Length > chunk ? buffer[..chunk] : buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
