using System.Buffers;
using System.Buffers.Binary;

namespace DiskImage.Formats.Qcow2;

/// <content>
/// Batched compressed writes for convert: a run of compressed clusters is stored with one host
/// growth and one data write, one refcount write per refcount block, and one L2 write per run of
/// adjacent entries. Order: L2 tables exist (allocated empty first if needed), then data, then
/// refcount increments, then the L2 entries. A crash between any two steps leaves at worst leaked
/// clusters.
/// </content>
public sealed partial class Qcow2Image
{
    /// <summary>
    /// Stores already-compressed clusters, packed byte-contiguously in <paramref name="packedData"/>
    /// in the order of <paramref name="guestOffsets"/> (cluster aligned, strictly increasing, each
    /// cluster unallocated) with the sizes in <paramref name="lengths"/>. The result is the same as
    /// calling <see cref="WriteCompressedCluster"/> for each, with far fewer host writes.
    /// </summary>
    /// <exception cref="ArgumentException">The offsets, lengths or data are inconsistent.</exception>
    /// <exception cref="InvalidOperationException">A guest cluster is already allocated.</exception>
    internal void WriteCompressedClusters(ReadOnlySpan<long> guestOffsets, ReadOnlySpan<int> lengths, ReadOnlySpan<byte> packedData)
    {
        if (guestOffsets.Length != lengths.Length)
        {
            throw new ArgumentException("One length per guest offset is needed.", nameof(lengths));
        }

        long total = 0;
        long previous = -1;
        for (int i = 0; i < guestOffsets.Length; i++)
        {
            long g = guestOffsets[i];
            if (g <= previous || (g & (_clusterSize - 1)) != 0 || g >= (long)_header.Size)
            {
                throw new ArgumentOutOfRangeException(nameof(guestOffsets), g, "The offsets must be cluster aligned, strictly increasing and inside the virtual disk.");
            }

            if (lengths[i] <= 0 || lengths[i] > _clusterSize)
            {
                throw new ArgumentOutOfRangeException(nameof(lengths), lengths[i], $"Compressed data must be 1..{_clusterSize} bytes.");
            }

            previous = g;
            total += lengths[i];
        }

        if (total != packedData.Length)
        {
            throw new ArgumentException("The packed data must be exactly the sum of the lengths.", nameof(packedData));
        }

        if (guestOffsets.IsEmpty)
        {
            return;
        }

        ThrowIfDisposed();
        EnsureWritable();
        _lock.EnterWriteLock();
        try
        {
            PrepareForWrite();
            foreach (long guestOffset in guestOffsets)
            {
                MarkBitmapsDirty(guestOffset, _clusterSize);
            }

            // L2 tables first (an empty table referenced from L1 is consistent); refuse allocated clusters.
            for (int i = 0; i < guestOffsets.Length; i++)
            {
                long guestCluster = guestOffsets[i] >> _clusterBits;
                (_, ulong[] table, int index) = _mapping.GetL2ForWrite(guestCluster);
                Qcow2L2Entry e = _mapping.EntryAt(table, index);
                if (e.IsCompressed || e.HostOffset != 0)
                {
                    throw new InvalidOperationException($"Guest cluster at {guestOffsets[i]} is already allocated; compressed clusters can only be written to unallocated clusters.");
                }
            }

            // Narrow refcounts (1-8 bits) may not count every cluster sharing a host cluster: one at a time.
            if (Qcow2Refcounts.MaxValue(_refcountOrder) <= (ulong)guestOffsets.Length)
            {
                WriteCompressedOneByOne(guestOffsets, lengths, packedData);
                return;
            }

            WriteCompressedBatch(guestOffsets, lengths, packedData);
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    private void WriteCompressedOneByOne(ReadOnlySpan<long> guestOffsets, ReadOnlySpan<int> lengths, ReadOnlySpan<byte> packedData)
    {
        int pos = 0;
        for (int i = 0; i < guestOffsets.Length; i++)
        {
            ReadOnlySpan<byte> data = packedData.Slice(pos, lengths[i]);
            pos += lengths[i];
            (long l2Offset, ulong[] table, int index) = _mapping.GetL2ForWrite(guestOffsets[i] >> _clusterBits);
            long host = _refcounts.AllocateCompressedBytes(data.Length);
            CheckMetadataOverlap(host, data.Length);
            HostWrite(host, data);
            _mapping.SetL2Entry(l2Offset, table, index, new Qcow2L2Entry(Qcow2CompressedClusterDescriptor.Encode(host, data.Length, _clusterBits)));
        }
    }

    private void WriteCompressedBatch(ReadOnlySpan<long> guestOffsets, ReadOnlySpan<int> lengths, ReadOnlySpan<byte> packedData)
    {
        int total = packedData.Length;
        ulong max = Qcow2Refcounts.MaxValue(_refcountOrder);

        // Continue in the partly used host cluster of the previous compressed write when it and the
        // clusters the data spills into are available; otherwise start a fresh contiguous run.
        long start = 0;
        bool fresh = true;
        long cursor = _refcounts.CompressedCursor;
        if (cursor != 0)
        {
            long cluster = cursor >> _clusterBits;
            int remaining = _clusterSize - (int)(cursor & (_clusterSize - 1));
            ulong refcount = _refcounts.GetRefcount(cluster);
            int inFirst = CountEntriesBefore(lengths, remaining);
            if (refcount > 0 && refcount + (ulong)inFirst <= max && inFirst > 0)
            {
                long extra = total <= remaining ? 0 : ((total - remaining) + _clusterSize - 1) >> _clusterBits;
                bool free = true;
                for (long c = cluster + 1; c <= cluster + extra && free; c++)
                {
                    free = _refcounts.RefcountBlockExists(c >> _refblockBits) && _refcounts.GetRefcount(c) == 0;
                }

                if (free)
                {
                    start = cursor;
                    fresh = false;
                }
            }
        }

        if (fresh)
        {
            start = _refcounts.AllocateClusters((total + _clusterSize - 1) >> _clusterBits);
        }

        if (start + total > Qcow2CompressedClusterDescriptor.MaxHostOffset(_clusterBits))
        {
            throw new IOException("The qcow2 image cannot grow further (compressed cluster offsets would exceed the descriptor's range).");
        }

        // 1. Data, in one write.
        CheckMetadataOverlap(start, total);
        HostWrite(start, packedData);

        // 2. Refcount increments: each host cluster counts the compressed clusters that touch it.
        long firstHost = start >> _clusterBits;
        long lastHost = (start + total - 1) >> _clusterBits;
        int span = (int)(lastHost - firstHost + 1);
        ulong[] counts = ArrayPool<ulong>.Shared.Rent(span);
        try
        {
            counts.AsSpan(0, span).Clear();
            long pos = start;
            for (int i = 0; i < lengths.Length; i++)
            {
                long a = pos >> _clusterBits;
                long b = (pos + lengths[i] - 1) >> _clusterBits;
                for (long c = a; c <= b; c++)
                {
                    counts[c - firstHost]++;
                }

                pos += lengths[i];
            }

            for (int k = 0; k < span; k++)
            {
                // Freshly allocated clusters already hold the reference AllocateClusters gave them.
                ulong current = _refcounts.GetRefcount(firstHost + k);
                ulong value = fresh ? counts[k] : current + counts[k];
                if (value > max)
                {
                    throw new InvalidOperationException("qcow2 compressed batch: refcount overflow.");
                }

                counts[k] = value;
            }

            _refcounts.SetRefcountValues(firstHost, counts.AsSpan(0, span));
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(counts);
        }

        _refcounts.ExtendAllocatedEnd((lastHost + 1) << _clusterBits);
        _refcounts.AdvanceCompressedCursor(start, total);

        // 3. L2 entries, one write per run of adjacent entries in one table.
        WriteCompressedEntries(guestOffsets, lengths, start);
    }

    /// <summary>How many of the packed clusters start within the first <paramref name="room"/> bytes.</summary>
    private static int CountEntriesBefore(ReadOnlySpan<int> lengths, int room)
    {
        int n = 0;
        long pos = 0;
        while (n < lengths.Length && pos < room)
        {
            pos += lengths[n];
            n++;
        }

        return n;
    }

    private void WriteCompressedEntries(ReadOnlySpan<long> guestOffsets, ReadOnlySpan<int> lengths, long start)
    {
        int entrySize = _extendedL2 ? 16 : 8;
        byte[] raw = ArrayPool<byte>.Shared.Rent(guestOffsets.Length * entrySize);
        try
        {
            long host = start;
            int i = 0;
            while (i < guestOffsets.Length)
            {
                long guestCluster = guestOffsets[i] >> _clusterBits;
                (long l2Offset, ulong[] table, int index) = _mapping.GetL2ForWrite(guestCluster);
                int n = 0;
                while (true)
                {
                    var entry = new Qcow2L2Entry(Qcow2CompressedClusterDescriptor.Encode(host, lengths[i + n], _clusterBits));
                    _mapping.StoreEntry(table, index + n, entry);
                    BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(n * entrySize), entry.Value);
                    if (_extendedL2)
                    {
                        BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan((n * entrySize) + 8), entry.Bitmap);
                    }

                    host += lengths[i + n];
                    n++;
                    if (i + n >= guestOffsets.Length ||
                        (guestOffsets[i + n] >> _clusterBits) != guestCluster + n ||
                        index + n >= (1 << _l2Bits))
                    {
                        break;
                    }
                }

                _host.Write(l2Offset + ((long)index * entrySize), raw.AsSpan(0, n * entrySize));
                i += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }
}
