using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>A read-only, seekable view of a file's blocks; holes and unwritten extents read as zeros.</summary>
internal sealed class Ext4FileStream : Stream, ISparseReadStream
{
    private readonly BlockDevice _device;
    private readonly int _blockSize;
    private readonly long _length;
    private readonly List<Ext4Extent> _extents;
    private long _position;
    private bool _disposed;

    public Ext4FileStream(BlockDevice device, int blockSize, long length, List<Ext4Extent> extents)
    {
        _device = device;
        _blockSize = blockSize;
        _length = length;
        _extents = extents;
    }

    public override bool CanRead => !_disposed;

    public override bool CanSeek => !_disposed;

    public override bool CanWrite => false;

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
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_position >= _length || buffer.IsEmpty)
        {
            return 0;
        }

        int total = (int)Math.Min(buffer.Length, _length - _position);
        int done = 0;
        while (done < total)
        {
            long pos = _position + done;
            long block = pos / _blockSize;
            int inBlock = (int)(pos % _blockSize);
            int index = Find(block);
            int n;
            if (index >= 0)
            {
                Ext4Extent e = _extents[index];
                long extentBytesLeft = ((e.Logical + e.Length - block) * _blockSize) - inBlock;
                n = (int)Math.Min(total - done, extentBytesLeft);
                if (e.Unwritten)
                {
                    buffer.Slice(done, n).Clear();
                }
                else
                {
                    long host = ((e.Physical + (block - e.Logical)) * _blockSize) + inBlock;
                    _device.ReadExactly(host, buffer.Slice(done, n));
                }
            }
            else
            {
                // A hole: zeros up to the next extent (or the end).
                int next = ~index;
                long holeEnd = next < _extents.Count ? _extents[next].Logical * _blockSize : long.MaxValue;
                n = (int)Math.Min(total - done, holeEnd - pos);
                buffer.Slice(done, n).Clear();
            }

            done += n;
        }

        _position += done;
        return done;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _position = StreamSeek.Target(offset, origin, _position, _length);
        return _position;
    }

    public override void SetLength(long value) => throw new NotSupportedException("The stream does not support writing.");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("The stream does not support writing.");

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    public long NextDataOffset(long position)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (position >= _length)
        {
            return _length;
        }

        int index = Find(Math.Max(0, position) / _blockSize);
        while (true)
        {
            if (index >= 0)
            {
                if (!_extents[index].Unwritten)
                {
                    return Math.Max(0, position);
                }

                index = ~(index + 1); // an unwritten extent reads as zeros: look past it
            }

            int next = ~index;
            if (next >= _extents.Count || _extents[next].Logical * _blockSize >= _length)
            {
                return _length;
            }

            position = _extents[next].Logical * _blockSize;
            index = next;
        }
    }

    /// <summary>Index of the extent holding <paramref name="block"/>, or the complement of the next extent's index.</summary>
    private int Find(long block)
    {
        int lo = 0;
        int hi = _extents.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            Ext4Extent e = _extents[mid];
            if (block < e.Logical)
            {
                hi = mid - 1;
            }
            else if (block >= e.Logical + e.Length)
            {
                lo = mid + 1;
            }
            else
            {
                return mid;
            }
        }

        return ~lo;
    }
}
