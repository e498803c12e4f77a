namespace DiskImage.Formats.Qcow2;

/// <content>
/// Batched compressed writes for convert: the arguments are checked and the L2 tables made to exist
/// (allocated empty first if needed) here, under the write lock; <see cref="Qcow2CompressedBatchWriter"/>
/// then writes data, refcount increments and L2 entries in that order.
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
        RefuseCompressedIfEncrypted();
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

            BeginDeferredMetadata();
            try
            {
                WriteCompressedClustersDeferred(guestOffsets, lengths, packedData);
            }
            finally
            {
                _deferMetadata = false;
            }

            FlushMetadataWhenFull();
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>The body of <see cref="WriteCompressedClusters"/>, with metadata deferred.</summary>
    private void WriteCompressedClustersDeferred(ReadOnlySpan<long> guestOffsets, ReadOnlySpan<int> lengths, ReadOnlySpan<byte> packedData)
    {
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
            _compressedBatch.WriteCompressedOneByOne(guestOffsets, lengths, packedData);
            return;
        }

        _compressedBatch.WriteCompressedBatch(guestOffsets, lengths, packedData);
    }
}
