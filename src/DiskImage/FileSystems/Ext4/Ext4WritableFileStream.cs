using System.Buffers;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// A seekable read/write stream over a regular file of a writable <see cref="Ext4FileSystem"/>. Writes go
/// straight to the device (whole blocks in runs, partial blocks read-modify-write or zero-filled when new);
/// holes stay unallocated; <see cref="SetLength"/> frees blocks past the new end. Each call holds the file
/// system's lock.
/// </summary>
internal sealed class Ext4WritableFileStream : Stream
{
    private readonly Ext4FileSystem _fs;
    private readonly Ext4Inode _inode;
    private readonly int _blockSize;
    private readonly bool _canRead;
    private readonly bool _canWrite;
    private readonly long _appendFloor;
    private long _position;
    private bool _disposed;

    public Ext4WritableFileStream(Ext4FileSystem fs, Ext4Inode inode, FileAccess access, bool append)
    {
        _fs = fs;
        _inode = inode;
        _blockSize = fs.BlockSize;
        _canRead = (access & FileAccess.Read) != 0;
        _canWrite = (access & FileAccess.Write) != 0;
        if (append)
        {
            _position = _appendFloor = inode.Size;
        }
    }

    public override bool CanRead => !_disposed && _canRead;

    public override bool CanSeek => !_disposed;

    public override bool CanWrite => !_disposed && _canWrite;

    public override long Length
    {
        get
        {
            using Lock.Scope held = _fs.Sync.EnterScope();
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _inode.Size;
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
        using Lock.Scope held = _fs.Sync.EnterScope();
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_canRead)
        {
            throw new NotSupportedException("The stream does not support reading.");
        }

        long size = _inode.Size;
        if (_position >= size || buffer.IsEmpty)
        {
            return 0;
        }

        int total = (int)Math.Min(buffer.Length, size - _position);
        int done = 0;
        while (done < total)
        {
            long pos = _position + done;
            long block = pos / _blockSize;
            int inBlock = (int)(pos % _blockSize);
            long blocksWanted = ((inBlock + (long)(total - done)) + _blockSize - 1) / _blockSize;
            long physical = _fs.MapLogicalRun(_inode, block, blocksWanted, out long run);
            int n = (int)Math.Min(total - done, (run * _blockSize) - inBlock);
            if (physical < 0)
            {
                buffer.Slice(done, n).Clear();
            }
            else
            {
                _fs.ReadBytes((physical * _blockSize) + inBlock, buffer.Slice(done, n));
            }

            done += n;
        }

        _position += done;
        return done;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        using Lock.Scope held = _fs.Sync.EnterScope();
        ObjectDisposedException.ThrowIf(_disposed, this);
        _position = StreamSeek.Target(offset, origin, _position, _inode.Size, _appendFloor);
        return _position;
    }

    public override void SetLength(long value)
    {
        using Lock.Scope held = _fs.Sync.EnterScope();
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        if (!_canWrite)
        {
            throw new NotSupportedException("The stream does not support writing.");
        }

        _fs.CheckFileSize(_inode, value);
        using Ext4Operation op = new(_fs);
        _fs.TruncateBlocks(_inode, value);
        Touch();
        op.Complete();
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    public override void WriteByte(byte value) => Write([value]);

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        using Lock.Scope held = _fs.Sync.EnterScope();
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_canWrite)
        {
            throw new NotSupportedException("The stream does not support writing.");
        }

        long end = _position + buffer.Length;
        _fs.CheckFileSize(_inode, end);
        using Ext4Operation op = new(_fs);

        // A gap past the end becomes a hole: the rest of the old last block already reads as zeros
        // (TruncateBlocks and partial writes keep bytes past the end zero).
        byte[]? scratch = null;
        try
        {
            int done = 0;
            while (done < buffer.Length)
            {
                long pos = _position + done;
                long block = pos / _blockSize;
                int inBlock = (int)(pos % _blockSize);
                int left = buffer.Length - done;
                if (inBlock == 0 && left >= _blockSize)
                {
                    int blocks = (int)Math.Min(left / _blockSize, 1 << 20);
                    long physical = _fs.MapOrAllocateRun(_inode, block, blocks, out int run);
                    int n = run * _blockSize;
                    _fs.WriteDataBlocks(physical, buffer.Slice(done, n));
                    _fs.ExtentPaths.NoteDataBlocksWritten(physical, run);
                    done += n;
                }
                else
                {
                    scratch ??= ArrayPool<byte>.Shared.Rent(_blockSize);
                    Span<byte> tmp = scratch.AsSpan(0, _blockSize);
                    int n = Math.Min(left, _blockSize - inBlock);
                    long physical = _fs.MapLogicalBlock(_inode, block);
                    if (physical < 0)
                    {
                        physical = _fs.MapOrAllocateBlock(_inode, block);
                        tmp.Clear();
                    }
                    else
                    {
                        _fs.ReadFsBlock(physical, tmp);
                    }

                    buffer.Slice(done, n).CopyTo(tmp[inBlock..]);
                    _fs.WriteDataBlocks(physical, tmp);
                    _fs.ExtentPaths.NoteDataBlocksWritten(physical, 1);
                    done += n;
                }
            }
        }
        finally
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }

        _position = end;
        if (end > _inode.Size)
        {
            _inode.Size = end;
            _fs.NoteFileSize(_inode);
        }

        Touch();
        op.Complete();
    }

    protected override void Dispose(bool disposing)
    {
        using Lock.Scope held = _fs.Sync.EnterScope();
        if (!_disposed)
        {
            _disposed = true;
            if (disposing)
            {
                _fs.CloseStream(_inode);
            }
        }

        base.Dispose(disposing);
    }

    private void Touch()
    {
        UnixTime now = _fs.Now();
        _inode.SetModificationTime(now);
        _inode.SetChangeTime(now);
        _fs.WriteInode(_inode);
    }
}
