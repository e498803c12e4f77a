using System.Buffers;
using System.Runtime.CompilerServices;

namespace DiskImage.IO;

/// <summary>
/// A fixed-length, offset-addressed store of bytes: a raw file, a qcow2 image's guest content, a
/// partition, or memory. Devices keep no position, so any number of readers may call
/// <see cref="Read(long, Span{byte})"/> concurrently; writers must be serialized by the caller
/// unless the implementation documents otherwise.
/// </summary>
/// <remarks>
/// Public members validate their arguments and the device state, then call the protected
/// <c>*Core</c> members, which may assume valid, in-range arguments.
/// </remarks>
public abstract class BlockDevice : IDisposable, IAsyncDisposable
{
    private int _disposed;
    private int _heldByOwner;

    /// <summary>Size of the device in bytes.</summary>
    public abstract long Length { get; }

    /// <summary>Whether <see cref="Write(long, ReadOnlySpan{byte})"/> is permitted.</summary>
    public abstract bool CanWrite { get; }

    /// <summary>Whether <see cref="SetLength(long)"/> is permitted (host storage such as a file that a qcow2 image grows into).</summary>
    public virtual bool CanSetLength => false;

    /// <summary>The message of the exception <see cref="SetLength(long)"/> throws when the length is fixed.</summary>
    private protected virtual string FixedLengthMessage => $"{GetType().Name} has a fixed length.";

    /// <summary>Whether the device has been disposed.</summary>
    protected bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>
    /// Reads up to <c>buffer.Length</c> bytes at <paramref name="offset"/>. Fewer bytes are read only
    /// when the range crosses the end of the device; 0 is returned at or past the end.
    /// </summary>
    /// <returns>The number of bytes read.</returns>
    public int Read(long offset, Span<byte> buffer)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        int count = ClampToEnd(offset, buffer.Length);
        if (count == 0)
        {
            return 0;
        }

        ReadCore(offset, buffer[..count]);
        return count;
    }

    /// <summary>Reads exactly <c>buffer.Length</c> bytes at <paramref name="offset"/>.</summary>
    /// <exception cref="EndOfStreamException">The range extends past the end of the device.</exception>
    public void ReadExactly(long offset, Span<byte> buffer)
    {
        ThrowIfDisposed();
        CheckRange(offset, buffer.Length, forRead: true);
        if (buffer.Length != 0)
        {
            ReadCore(offset, buffer);
        }
    }

    /// <summary>Writes all of <paramref name="buffer"/> at <paramref name="offset"/>; the range must lie within the device.</summary>
    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        CheckRange(offset, buffer.Length, forRead: false);
        if (buffer.Length != 0)
        {
            WriteCore(offset, buffer);
        }
    }

    /// <summary>
    /// Makes <paramref name="length"/> bytes at <paramref name="offset"/> read as zeros. Devices that
    /// can record zeros without writing them (qcow2 zero clusters, holes in sparse files) do so.
    /// </summary>
    public void WriteZeroes(long offset, long length)
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (offset > Length || length > Length - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(length), "The range extends past the end of the device.");
        }

        if (length != 0)
        {
            WriteZeroesCore(offset, length);
        }
    }

    /// <summary>Asynchronously reads up to <c>buffer.Length</c> bytes at <paramref name="offset"/>; see <see cref="Read(long, Span{byte})"/>.</summary>
    public ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }

        int count = ClampToEnd(offset, buffer.Length);
        if (count == 0)
        {
            return ValueTask.FromResult(0);
        }

        return ReadCoreAsync(offset, buffer[..count], cancellationToken);
    }

    /// <summary>Asynchronously writes all of <paramref name="buffer"/> at <paramref name="offset"/>.</summary>
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        CheckRange(offset, buffer.Length, forRead: false);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        return buffer.Length == 0 ? ValueTask.CompletedTask : WriteCoreAsync(offset, buffer, cancellationToken);
    }

    /// <summary>Grows or shrinks the device. Bytes added at the end read as zeros.</summary>
    /// <exception cref="NotSupportedException">The device has a fixed length (<see cref="CanSetLength"/> is false) other than <paramref name="length"/>.</exception>
    public void SetLength(long length)
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (!CanSetLength)
        {
            // Setting a fixed length to itself changes nothing (qemu-img resize of a device to its size succeeds).
            if (length == Length)
            {
                return;
            }

            throw new NotSupportedException(FixedLengthMessage);
        }

        SetLengthCore(length);
    }

    /// <summary>Makes every completed write durable in the underlying storage.</summary>
    public void Flush()
    {
        ThrowIfDisposed();
        FlushCore();
    }

    /// <summary>Asynchronously makes every completed write durable in the underlying storage.</summary>
    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        return FlushCoreAsync(cancellationToken);
    }

    /// <summary>
    /// Describes the allocation state at <paramref name="offset"/>: the returned extent starts at
    /// <paramref name="offset"/> and covers at most <paramref name="maxLength"/> bytes, as far as the
    /// state stays the same (it may stop earlier; callers loop).
    /// </summary>
    public AllocationExtent GetAllocation(long offset, long maxLength)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        if (offset >= Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), "The offset is at or past the end of the device.");
        }

        maxLength = Math.Min(maxLength, Length - offset);
        AllocationExtent extent = GetAllocationCore(offset, maxLength);
        if (extent.Offset != offset || extent.Length <= 0 || extent.Length > maxLength)
        {
            throw new InvalidOperationException($"{GetType().Name} returned an invalid allocation extent {extent} for [{offset}, +{maxLength}).");
        }

        return extent;
    }

    /// <summary>Enumerates the allocation extents covering [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>), merging neighbours of the same kind.</summary>
    public IEnumerable<AllocationExtent> EnumerateAllocation(long offset = 0, long length = -1)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        long deviceLength = Length;
        if (offset > deviceLength || (length >= 0 && length > deviceLength - offset))
        {
            throw new ArgumentOutOfRangeException(nameof(length), "The range extends past the end of the device.");
        }

        long end = length < 0 ? deviceLength : offset + length;

        return Enumerate(offset, end);

        IEnumerable<AllocationExtent> Enumerate(long start, long stop)
        {
            AllocationExtent? pending = null;
            long position = start;
            while (position < stop)
            {
                AllocationExtent next = GetAllocation(position, stop - position);
                position = next.End;
                if (pending is { } p && p.Kind == next.Kind && p.Depth == next.Depth &&
                    ((p.HostOffset < 0 && next.HostOffset < 0) || (p.HostOffset >= 0 && p.HostOffset + p.Length == next.HostOffset)))
                {
                    pending = p with { Length = p.Length + next.Length };
                    continue;
                }

                if (pending is { } done)
                {
                    yield return done;
                }

                pending = next;
            }

            if (pending is { } last)
            {
                yield return last;
            }
        }
    }

    /// <summary>Returns a <see cref="Stream"/> over this device with its own position.</summary>
    /// <param name="leaveOpen">Whether disposing the stream leaves this device open.</param>
    public Stream AsStream(bool leaveOpen = false) => new BlockDeviceStream(this, leaveOpen);

    /// <summary>Reads exactly <c>buffer.Length</c> bytes; the range is within the device and non-empty.</summary>
    protected abstract void ReadCore(long offset, Span<byte> buffer);

    /// <summary>Writes the buffer; the range is within the device, non-empty, and the device is writable.</summary>
    protected abstract void WriteCore(long offset, ReadOnlySpan<byte> buffer);

    /// <summary>Makes a non-empty in-range span read as zeros. The default writes zero-filled buffers.</summary>
    protected virtual void WriteZeroesCore(long offset, long length)
    {
        const int ChunkSize = 1 << 20;
        byte[] zeros = ArrayPool<byte>.Shared.Rent((int)Math.Min(ChunkSize, length));
        try
        {
            Array.Clear(zeros);
            while (length > 0)
            {
                int n = (int)Math.Min(zeros.Length, length);
                WriteCore(offset, zeros.AsSpan(0, n));
                offset += n;
                length -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(zeros);
        }
    }

    /// <summary>Changes the length; called only when <see cref="CanSetLength"/> is true.</summary>
    protected virtual void SetLengthCore(long length) => throw new NotSupportedException($"{GetType().Name} has a fixed length.");

    /// <summary>Flushes writes to durable storage.</summary>
    protected abstract void FlushCore();

    /// <summary>Asynchronous read; the default runs <see cref="ReadCore"/> synchronously.</summary>
    protected virtual ValueTask<int> ReadCoreAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        ReadCore(offset, buffer.Span);
        return ValueTask.FromResult(buffer.Length);
    }

    /// <summary>Asynchronous write; the default runs <see cref="WriteCore"/> synchronously.</summary>
    protected virtual ValueTask WriteCoreAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        WriteCore(offset, buffer.Span);
        return ValueTask.CompletedTask;
    }

    /// <summary>Asynchronous flush; the default runs <see cref="FlushCore"/> synchronously.</summary>
    protected virtual ValueTask FlushCoreAsync(CancellationToken cancellationToken)
    {
        FlushCore();
        return ValueTask.CompletedTask;
    }

    /// <summary>Allocation state at an in-range offset; the default reports everything as data.</summary>
    protected virtual AllocationExtent GetAllocationCore(long offset, long maxLength) =>
        new(offset, maxLength, AllocationKind.Data);

    /// <summary>Throws <see cref="ObjectDisposedException"/> once disposed.</summary>
    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    /// <summary>
    /// Marks this device as a view that an owner (an image whose <c>Content</c> it is) holds: from now on
    /// <see cref="Dispose()"/> and <see cref="DisposeAsync"/> from anyone else do nothing, and only
    /// <see cref="DisposeByOwner"/> releases it. See the ownership rule in docs/architecture.md.
    /// </summary>
    internal void MarkHeldByOwner() => Volatile.Write(ref _heldByOwner, 1);

    /// <summary>Releases a device its owner held (see <see cref="MarkHeldByOwner"/>).</summary>
    internal void DisposeByOwner()
    {
        Volatile.Write(ref _heldByOwner, 0);
        Dispose();
    }

    /// <summary>
    /// Releases the device. A device that an owner holds as a view (an image's <c>Content</c>) is not
    /// released by this call: it lives as long as its owner, so a stream or file system over it may
    /// dispose it freely.
    /// </summary>
    public void Dispose()
    {
        if (Volatile.Read(ref _heldByOwner) != 0)
        {
            return;
        }

        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Dispose(disposing: true);
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Asynchronously releases the device; like <see cref="Dispose()"/>, a no-op for a device an owner holds.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _heldByOwner) != 0)
        {
            return;
        }

        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await DisposeAsyncCore().ConfigureAwait(false);
            Dispose(disposing: false);
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Releases resources; called once.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>Asynchronously releases managed resources; the default calls <see cref="Dispose(bool)"/> with <see langword="true"/>.</summary>
    protected virtual ValueTask DisposeAsyncCore()
    {
        Dispose(disposing: true);
        return ValueTask.CompletedTask;
    }

    private void ThrowIfReadOnly()
    {
        if (!CanWrite)
        {
            throw new NotSupportedException("The device is read-only.");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ClampToEnd(long offset, int count)
    {
        long length = Length;
        return offset >= length ? 0 : (int)Math.Min(count, length - offset);
    }

    private void CheckRange(long offset, int count, bool forRead)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (offset > Length || count > Length - offset)
        {
            if (forRead)
            {
                throw new EndOfStreamException($"Reading {count} bytes at {offset} crosses the end of the device ({Length} bytes).");
            }

            throw new ArgumentOutOfRangeException(nameof(offset), $"Writing {count} bytes at {offset} crosses the end of the device ({Length} bytes).");
        }
    }
}
