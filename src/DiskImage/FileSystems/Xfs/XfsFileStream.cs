using DiskImage.IO;

namespace DiskImage.FileSystems.Xfs;

/// <summary>A read-only, seekable view of a regular file; holes and unwritten extents read as zeros.</summary>
internal sealed class XfsFileStream : Stream
{
    private readonly XfsVolume _volume;
    private readonly long _length;
    private readonly XfsExtent[] _extents;
    private long _position;
    private bool _disposed;

    public XfsFileStream(XfsVolume volume, long length, XfsExtent[] extents)
    {
        _volume = volume;
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

        int blockSize = _volume.BlockSize;
        int total = (int)Math.Min(buffer.Length, _length - _position);
        int done = 0;
        while (done < total)
        {
            long pos = _position + done;
            ulong block = (ulong)(pos / blockSize);
            int inBlock = (int)(pos % blockSize);
            int index = XfsBlockMap.Find(_extents, block);
            int n;
            if (index >= 0)
            {
                XfsExtent e = _extents[index];
                long left = ByteOffset(e.FileBlock + e.Length, blockSize) - pos;
                n = (int)Math.Min(total - done, left);
                if (e.Unwritten)
                {
                    buffer.Slice(done, n).Clear();
                }
                else
                {
                    long host = _volume.SuperBlock.BlockOffset(e.FsBlock) + (long)((block - e.FileBlock) * (ulong)blockSize) + inBlock;
                    _volume.Device.ReadExactly(host, buffer.Slice(done, n));
                }
            }
            else
            {
                int next = ~index;
                long holeEnd = next < _extents.Length ? ByteOffset(_extents[next].FileBlock, blockSize) : long.MaxValue;
                n = (int)Math.Min(total - done, holeEnd - pos);
                buffer.Slice(done, n).Clear();
            }

            done += n;
        }

        _position += done;
        return done;
    }

    /// <summary>The byte offset of a file block, saturated at <see cref="long.MaxValue"/> (file blocks reach 2^54).</summary>
    private static long ByteOffset(ulong fileBlock, int blockSize) =>
        fileBlock >= (ulong)(long.MaxValue / blockSize) ? long.MaxValue : (long)fileBlock * blockSize;

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
}
