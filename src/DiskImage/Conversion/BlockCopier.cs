using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>
/// Sparse-aware copy of one device's content onto another: ranges the source reports as zero or
/// unallocated are not read, aligned all-zero blocks are not written, data moves in chunks through
/// a small set of pooled buffers (memory stays flat whatever the size), source reads run on worker
/// threads while the calling thread writes in order.
/// </summary>
/// <remarks>
/// The source is read by several threads at once (the <see cref="BlockDevice"/> contract allows
/// concurrent readers); the target is written by the calling thread only, in increasing offset
/// order, so the result does not depend on <see cref="BlockCopyOptions.MaxDegreeOfParallelism"/>.
/// With a parallelism of 1 everything runs on the calling thread. Memory use is a few chunks
/// (at most 64 MiB) whatever the device sizes.
/// </remarks>
public static class BlockCopier
{
    /// <summary>Copies [0, <c>source.Length</c>) of <paramref name="source"/> to the same offsets of <paramref name="target"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="target"/> is shorter than <paramref name="source"/> or read-only.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the target holds a partial copy.</exception>
    public static void Copy(BlockDevice source, BlockDevice target, BlockCopyOptions? options = null, IProgress<ConvertProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        options ??= BlockCopyOptions.Default;
        if (!target.CanWrite)
        {
            throw new ArgumentException("The target device is read-only.", nameof(target));
        }

        if (target.Length < source.Length)
        {
            throw new ArgumentException($"The target ({target.Length} bytes) is shorter than the source ({source.Length} bytes).", nameof(target));
        }

        var sink = new DeviceCopySink(target, options.TargetIsZero, options.SparseSize);
        int unit = CopyPipeline.PlainUnit(options.ChunkSize, options.SparseSize);
        using var pipeline = new CopyPipeline(source, sink, unit, options.SparseSize, options.MaxDegreeOfParallelism, progress, cancellationToken);
        pipeline.Run();
        target.Flush();
    }

    /// <summary>Asynchronous twin of <see cref="Copy"/>; the copy runs on dedicated threads.</summary>
    public static Task CopyAsync(BlockDevice source, BlockDevice target, BlockCopyOptions? options = null, IProgress<ConvertProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled(cancellationToken);
        }

        return Task.Factory.StartNew(
            () => Copy(source, target, options, progress, cancellationToken),
            cancellationToken,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }
}
