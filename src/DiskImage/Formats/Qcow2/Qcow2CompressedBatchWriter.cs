using System.Buffers;
using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <summary>
/// Stores runs of already-compressed clusters for convert: one data write per run; the refcount
/// increments and L2 entries join the image's deferred metadata (written back refcounts first). Order:
/// data, then refcount increments, then the L2 entries, so a crash between steps leaves at worst leaks.
/// </summary>
internal sealed class Qcow2CompressedBatchWriter
{
    private readonly Qcow2Image _image;
    private readonly BlockDevice _host;
    private readonly int _clusterBits;
    private readonly int _clusterSize;
    private readonly int _l2Bits;          // log2 of entries per L2 table
    private readonly int _refblockBits;    // log2 of entries per refcount block
    private readonly int _refcountOrder;
    private readonly bool _extendedL2;
    private readonly Qcow2RefcountManager _refcounts;
    private readonly Qcow2MappingWriter _mapping;

    /// <summary>Creates the batch writer of <paramref name="image"/>, allocating through <paramref name="refcounts"/> and mapping through <paramref name="mapping"/>.</summary>
    public Qcow2CompressedBatchWriter(Qcow2Image image, Qcow2RefcountManager refcounts, Qcow2MappingWriter mapping)
    {
        _image = image;
        _host = image.Host;
        _clusterBits = image.ClusterBits;
        _clusterSize = image.ClusterSize;
        _l2Bits = image.L2Bits;
        _refblockBits = image.RefcountBlockBits;
        _refcountOrder = image.RefcountOrder;
        _extendedL2 = image.HasExtendedL2;
        _refcounts = refcounts;
        _mapping = mapping;
    }

    public void WriteCompressedOneByOne(ReadOnlySpan<long> guestOffsets, ReadOnlySpan<int> lengths, ReadOnlySpan<byte> packedData)
    {
        int pos = 0;
        for (int i = 0; i < guestOffsets.Length; i++)
        {
            ReadOnlySpan<byte> data = packedData.Slice(pos, lengths[i]);
            pos += lengths[i];
            (long l2Offset, ulong[] table, int index) = _mapping.GetL2ForWrite(guestOffsets[i] >> _clusterBits);
            long host = _refcounts.AllocateCompressedBytes(data.Length);
            _image.CheckMetadataOverlap(host, data.Length);
            _image.HostWrite(host, data);
            _mapping.SetL2Entry(l2Offset, table, index, new Qcow2L2Entry(Qcow2CompressedClusterDescriptor.Encode(host, data.Length, _clusterBits)));
        }
    }

    public void WriteCompressedBatch(ReadOnlySpan<long> guestOffsets, ReadOnlySpan<int> lengths, ReadOnlySpan<byte> packedData)
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
        _image.CheckMetadataOverlap(start, total);
        _image.HostWrite(start, packedData);

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
                host += lengths[i + n];
                n++;
                if (i + n >= guestOffsets.Length ||
                    (guestOffsets[i + n] >> _clusterBits) != guestCluster + n ||
                    index + n >= (1 << _l2Bits))
                {
                    break;
                }
            }

            _mapping.CommitEntries(l2Offset, table, index, n);
            i += n;
        }
    }
}
