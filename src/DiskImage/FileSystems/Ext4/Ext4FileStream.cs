using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>A read-only, seekable view of a file's blocks; holes and unwritten extents read as zeros.</summary>
internal sealed class Ext4FileStream(BlockDevice device, int blockSize, long length, List<Ext4Extent> extents, Lock sync) : ReadOnlyFileStream(length), ISparseReadStream
{
    private readonly BlockDevice _device = device;
    private readonly int _blockSize = blockSize;
    private readonly long _length = length;
    private readonly List<Ext4Extent> _extents = extents;
    private readonly Lock _sync = sync;

    protected override void ReadAt(long position, Span<byte> buffer)
    {
        // The device is shared with the file system's other callers.
        using Lock.Scope held = _sync.EnterScope();
        int total = buffer.Length;
        int done = 0;
        while (done < total)
        {
            long pos = position + done;
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
    }

    /// <inheritdoc />
    public long NextDataOffset(long position)
    {
        ThrowIfDisposed();
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
