using System.Buffers;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// The running transaction of a writable ext4 file system, as a device: metadata writes land in full in-memory
/// block images instead of on the device, reads see those images over the device, and each operation (handle)
/// records the images it replaced so that a failed operation can be undone in memory. File data bypasses the
/// images through <see cref="WriteThrough"/> (ordered mode: data reaches its new blocks before the commit).
/// </summary>
internal sealed class Ext4TransactionDevice : BlockDevice
{
    private readonly BlockDevice _inner;
    private readonly int _blockSize;
    private readonly Dictionary<long, byte[]> _blocks = [];
    private readonly Dictionary<long, byte[]?> _undo = [];
    private bool _inHandle;

    public Ext4TransactionDevice(BlockDevice inner, int blockSize)
    {
        _inner = inner;
        _blockSize = blockSize;
    }

    /// <summary>The device underneath.</summary>
    public BlockDevice Inner => _inner;

    /// <summary>Number of block images the transaction holds.</summary>
    public int Count => _blocks.Count;

    /// <inheritdoc />
    public override long Length => _inner.Length;

    /// <inheritdoc />
    public override bool CanWrite => _inner.CanWrite;

    /// <summary>Whether block <paramref name="block"/> has an image in the transaction.</summary>
    public bool Contains(long block) => _blocks.ContainsKey(block);

    /// <summary>The block numbers in the transaction, ascending.</summary>
    public long[] SortedBlocks()
    {
        long[] keys = [.. _blocks.Keys];
        Array.Sort(keys);
        return keys;
    }

    /// <summary>The image of <paramref name="block"/> (which must be in the transaction).</summary>
    public byte[] Image(long block) => _blocks[block];

    /// <summary>Starts an operation: later replaced images are remembered until <see cref="EndHandle"/> or <see cref="AbortHandle"/>.</summary>
    public void BeginHandle()
    {
        _undo.Clear();
        _inHandle = true;
    }

    /// <summary>Ends an operation, keeping its changes in the transaction.</summary>
    public void EndHandle()
    {
        foreach (byte[]? old in _undo.Values)
        {
            if (old is not null)
            {
                ArrayPool<byte>.Shared.Return(old);
            }
        }

        _undo.Clear();
        _inHandle = false;
    }

    /// <summary>Drops the changes of the current operation: every image it touched is back as it was before.</summary>
    public void AbortHandle()
    {
        foreach (KeyValuePair<long, byte[]?> kv in _undo)
        {
            if (kv.Value is null)
            {
                _blocks.Remove(kv.Key);
            }
            else
            {
                kv.Value.AsSpan(0, _blockSize).CopyTo(_blocks[kv.Key]);
                ArrayPool<byte>.Shared.Return(kv.Value);
            }
        }

        _undo.Clear();
        _inHandle = false;
    }

    /// <summary>Forgets every image (after a checkpoint, or to abandon the transaction).</summary>
    public void Clear()
    {
        _blocks.Clear();
    }

    /// <summary>Writes straight to the device, updating any image the range overlaps so reads stay coherent.</summary>
    public void WriteThrough(long offset, ReadOnlySpan<byte> data)
    {
        if (_blocks.Count != 0)
        {
            long first = offset / _blockSize;
            long last = (offset + data.Length - 1) / _blockSize;
            for (long b = first; b <= last; b++)
            {
                if (_blocks.ContainsKey(b))
                {
                    // The block is also metadata of this transaction (a freed block reused): keep it in the transaction.
                    Write(offset, data);
                    return;
                }
            }
        }

        _inner.Write(offset, data);
    }

    /// <inheritdoc />
    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        if (_blocks.Count == 0)
        {
            _inner.ReadExactly(offset, buffer);
            return;
        }

        int done = 0;
        while (done < buffer.Length)
        {
            long pos = offset + done;
            long block = pos / _blockSize;
            int inBlock = (int)(pos % _blockSize);
            if (_blocks.TryGetValue(block, out byte[]? image))
            {
                int n = Math.Min(buffer.Length - done, _blockSize - inBlock);
                image.AsSpan(inBlock, n).CopyTo(buffer[done..]);
                done += n;
                continue;
            }

            // A run of blocks without images reads from the device in one request.
            long end = pos + (_blockSize - inBlock);
            while (end < offset + buffer.Length && !_blocks.ContainsKey(end / _blockSize))
            {
                end += _blockSize;
            }

            int len = (int)Math.Min(buffer.Length - done, end - pos);
            _inner.ReadExactly(pos, buffer.Slice(done, len));
            done += len;
        }
    }

    /// <inheritdoc />
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            long pos = offset + done;
            long block = pos / _blockSize;
            int inBlock = (int)(pos % _blockSize);
            int n = Math.Min(buffer.Length - done, _blockSize - inBlock);
            byte[] image = Writable(block, whole: inBlock == 0 && n == _blockSize);
            buffer.Slice(done, n).CopyTo(image.AsSpan(inBlock));
            done += n;
        }
    }

    /// <inheritdoc />
    protected override void WriteZeroesCore(long offset, long length)
    {
        long done = 0;
        while (done < length)
        {
            long pos = offset + done;
            long block = pos / _blockSize;
            int inBlock = (int)(pos % _blockSize);
            int n = (int)Math.Min(length - done, _blockSize - inBlock);
            byte[] image = Writable(block, whole: inBlock == 0 && n == _blockSize);
            image.AsSpan(inBlock, n).Clear();
            done += n;
        }
    }

    /// <inheritdoc />
    protected override void FlushCore() => _inner.Flush();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }
    }

    /// <summary>The image of <paramref name="block"/>, created from the device (unless it is about to be overwritten whole) and recorded for undo.</summary>
    private byte[] Writable(long block, bool whole)
    {
        if (_blocks.TryGetValue(block, out byte[]? image))
        {
            if (_inHandle && !_undo.ContainsKey(block))
            {
                byte[] copy = ArrayPool<byte>.Shared.Rent(_blockSize);
                image.AsSpan(0, _blockSize).CopyTo(copy);
                _undo[block] = copy;
            }

            return image;
        }

        image = new byte[_blockSize];
        if (!whole)
        {
            _inner.ReadExactly(block * _blockSize, image);
        }

        _blocks[block] = image;
        if (_inHandle)
        {
            _undo.TryAdd(block, null);
        }

        return image;
    }
}
