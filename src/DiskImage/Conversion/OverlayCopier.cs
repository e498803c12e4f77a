using System.Buffers;
using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>
/// The copy of <c>qemu-img convert -B backing</c>: the target has a backing file of its own, so
/// only what the source's top layer allocates is written — its data (runs of zeros in it as zero
/// writes) and its zero ranges as zero writes, which hide the target's backing there. What the
/// source leaves to its backing file stays unallocated in the target, reading from the target's
/// backing file (qemu-img assumes, and does not check, that it holds the same data). A source
/// without a backing file allocates everything: its holes are written as zeros. With a sparse size of
/// 0 (<c>-S 0</c>) every range the source allocates is written as data, zeros included.
/// </summary>
internal static class OverlayCopier
{
    private const int ChunkSize = 1 << 20;

    /// <summary>Copies the top layer of <paramref name="source"/> into <paramref name="target"/> (same length or longer).</summary>
    /// <param name="source">The source's guest view; its allocation extents carry the layer depth.</param>
    /// <param name="sourceHasBacking">Whether the source reads part of its data from a backing file.</param>
    /// <param name="target">The new image, whose backing file supplies what is not written.</param>
    /// <param name="sparseSize">Aligned runs of at least this many zero bytes in data are written as zeros (0: never).</param>
    /// <param name="progress">Receives the bytes processed.</param>
    /// <param name="cancellationToken">Stops the copy between chunks.</param>
    public static void Copy(BlockDevice source, bool sourceHasBacking, BlockDevice target, int sparseSize, IProgress<ConvertProgress>? progress, CancellationToken cancellationToken)
    {
        long total = source.Length;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            foreach (AllocationExtent extent in source.EnumerateAllocation())
            {
                cancellationToken.ThrowIfCancellationRequested();
                bool fromBacking = extent.Depth > 0 || extent.Kind == AllocationKind.Unallocated;
                if (sourceHasBacking && fromBacking)
                {
                    // Left to the target's backing file.
                }
                else if (extent.Kind != AllocationKind.Data && sparseSize > 0)
                {
                    target.WriteZeroes(extent.Offset, extent.Length);
                }
                else
                {
                    CopyData(source, target, extent.Offset, extent.Length, buffer, sparseSize, cancellationToken);
                }

                progress?.Report(new ConvertProgress(extent.Offset + extent.Length, total));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void CopyData(BlockDevice source, BlockDevice target, long offset, long length, byte[] buffer, int sparseSize, CancellationToken cancellationToken)
    {
        long end = offset + length;
        while (offset < end)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = (int)Math.Min(ChunkSize - (offset % ChunkSize), end - offset);
            Span<byte> chunk = buffer.AsSpan(0, n);
            source.ReadExactly(offset, chunk);
            if (sparseSize <= 0)
            {
                target.Write(offset, chunk);
                offset += n;
                continue;
            }

            // Units aligned to the sparse size: runs of zero units become one zero write, the rest data writes.
            int pos = 0;
            while (pos < n)
            {
                long unitEnd = Math.Min(((offset + pos) / sparseSize + 1) * sparseSize, offset + n);
                int unit = (int)(unitEnd - (offset + pos));
                bool zero = !chunk.Slice(pos, unit).ContainsAnyExcept((byte)0);
                int start = pos;
                pos += unit;
                while (pos < n)
                {
                    int next = Math.Min(sparseSize, n - pos);
                    if (!chunk.Slice(pos, next).ContainsAnyExcept((byte)0) != zero)
                    {
                        break;
                    }

                    pos += next;
                }

                if (zero)
                {
                    target.WriteZeroes(offset + start, pos - start);
                }
                else
                {
                    target.Write(offset + start, chunk[start..pos]);
                }
            }

            offset += n;
        }
    }
}
