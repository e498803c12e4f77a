using System.Buffers;
using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>Compares guest content of two devices (<c>qemu-img compare</c>).</summary>
public static class ImageComparer
{
    private const int ChunkSize = 1024 * 1024;

    /// <summary>
    /// Returns the offset of the first byte that differs, or <see langword="null"/> when the content is
    /// identical. Without <paramref name="strict"/>, a size difference is fine when the extra tail of the
    /// larger device reads as zeros (qemu-img's rule); with it, sizes must match.
    /// </summary>
    /// <remarks>
    /// Ranges that both devices report as zero or unallocated are not read; a range only one side
    /// reports so is read on the other side and checked for zeros. Memory use is two 1 MiB pooled
    /// buffers whatever the device sizes. In strict mode, devices whose common prefix is identical
    /// but whose sizes differ report the length of the shorter one.
    /// </remarks>
    public static long? FindFirstDifference(BlockDevice first, BlockDevice second, bool strict = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        long common = Math.Min(first.Length, second.Length);
        byte[] bufferA = ArrayPool<byte>.Shared.Rent(ChunkSize);
        byte[] bufferB = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            long? difference = CompareCommon(first, second, common, bufferA, bufferB, cancellationToken);
            if (difference is not null || first.Length == second.Length)
            {
                return difference;
            }

            if (strict)
            {
                return common;
            }

            BlockDevice longer = first.Length > second.Length ? first : second;
            return FindNonZero(longer, common, longer.Length, bufferA, cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bufferA);
            ArrayPool<byte>.Shared.Return(bufferB);
        }
    }

    private static long? CompareCommon(BlockDevice first, BlockDevice second, long common, byte[] bufferA, byte[] bufferB, CancellationToken cancellationToken)
    {
        AllocationExtent a = default;
        AllocationExtent b = default;
        long pos = 0;
        while (pos < common)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (pos >= a.End)
            {
                a = first.GetAllocation(pos, common - pos);
            }

            if (pos >= b.End)
            {
                b = second.GetAllocation(pos, common - pos);
            }

            long end = Math.Min(a.End, b.End);
            bool aZero = a.Kind != AllocationKind.Data;
            bool bZero = b.Kind != AllocationKind.Data;
            if (aZero && bZero)
            {
                pos = end;
                continue;
            }

            int n = (int)Math.Min(ChunkSize, end - pos);
            int index;
            if (aZero)
            {
                Span<byte> data = bufferB.AsSpan(0, n);
                second.ReadExactly(pos, data);
                index = data.IndexOfAnyExcept((byte)0);
            }
            else if (bZero)
            {
                Span<byte> data = bufferA.AsSpan(0, n);
                first.ReadExactly(pos, data);
                index = data.IndexOfAnyExcept((byte)0);
            }
            else
            {
                Span<byte> x = bufferA.AsSpan(0, n);
                Span<byte> y = bufferB.AsSpan(0, n);
                first.ReadExactly(pos, x);
                second.ReadExactly(pos, y);
                index = x.CommonPrefixLength(y);
                if (index == n)
                {
                    index = -1;
                }
            }

            if (index >= 0)
            {
                return pos + index;
            }

            pos += n;
        }

        return null;
    }

    private static long? FindNonZero(BlockDevice device, long start, long end, byte[] buffer, CancellationToken cancellationToken)
    {
        long pos = start;
        while (pos < end)
        {
            cancellationToken.ThrowIfCancellationRequested();
            AllocationExtent e = device.GetAllocation(pos, end - pos);
            if (e.Kind != AllocationKind.Data)
            {
                pos = e.End;
                continue;
            }

            while (pos < e.End)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = (int)Math.Min(buffer.Length, e.End - pos);
                Span<byte> data = buffer.AsSpan(0, n);
                device.ReadExactly(pos, data);
                int index = data.IndexOfAnyExcept((byte)0);
                if (index >= 0)
                {
                    return pos + index;
                }

                pos += n;
            }
        }

        return null;
    }
}
