using System.Buffers;
using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>
/// The write path. Order of every update: refcount increments (and new refcount blocks / table)
/// first, then data, then the L2 entry, then the L1 entry, then refcount decrements of what the
/// update replaced. A crash between any two steps leaves at worst leaked clusters.
/// </content>
public sealed partial class Qcow2Image
{
    private static byte[]? s_zeros;

    private bool _preparedForWrite;
    private bool _deferMetadata;    // guest writes in progress: metadata goes to _writeback
    private long _logicalEnd = -1;   // end of the image in the grown-ahead host file, or -1 (the host length)

    internal static ReadOnlySpan<byte> Zeros(int length)
    {
        byte[] zeros = s_zeros ??= new byte[1 << Qcow2Header.MaxClusterBits];
        return zeros.AsSpan(0, length);
    }

    /// <summary>
    /// Changes the virtual size. Growing is always allowed; shrinking discards the clusters past the
    /// new end (snapshots keep theirs), as QEMU does. A version 2 image with internal snapshots cannot
    /// be resized (<see cref="InvalidOperationException"/>, QEMU's message).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="newVirtualSize"/> is negative, not a multiple of 512, or needs an L1 table over 32 MiB.</exception>
    /// <exception cref="NotSupportedException">The image is read-only.</exception>
    public void Resize(long newVirtualSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(newVirtualSize);
        if (newVirtualSize % 512 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(newVirtualSize), newVirtualSize, "The virtual size must be a multiple of 512.");
        }

        ThrowIfDisposed();
        EnsureWritable();
        _lock.EnterWriteLock();
        try
        {
            if (_snapshotEntries.Count > 0 && _header.Version < 3)
            {
                // Snapshot disk sizes are optional in version 2 (as in QEMU).
                throw new InvalidOperationException("Can't resize a v2 image which has snapshots");
            }

            PrepareForWrite();
            FlushMetadata();
            ResizeBitmaps(newVirtualSize, check: true);
            long old = (long)_header.Size;
            if (newVirtualSize > old)
            {
                long needed = SizeToL1(newVirtualSize);
                if (needed * 8 > MaxL1Bytes)
                {
                    throw new ArgumentOutOfRangeException(nameof(newVirtualSize), newVirtualSize, "The size needs an L1 table larger than 32 MiB.");
                }

                if (needed > _l1.Length)
                {
                    _mapping.GrowL1((int)needed);
                }

                _header.Size = (ulong)newVirtualSize;
                WriteHeaderFields();
                ResizeBitmaps(newVirtualSize, check: false);

                // What a backing file holds past the old end must not show through the grown area.
                if (_backing is not null && _backing.Content.Length > old)
                {
                    long end = Math.Min(newVirtualSize, _backing.Content.Length);
                    WriteZeroesUnlocked(old, end - old);
                }
            }
            else if (newVirtualSize < old)
            {
                long firstDropped = (newVirtualSize + _clusterSize - 1) >> _clusterBits;
                DiscardPastEnd(firstDropped);

                // The kept part of the boundary cluster must not resurface if the image grows again.
                long boundaryEnd = Math.Min(old, firstDropped << _clusterBits);
                if (boundaryEnd > newVirtualSize)
                {
                    WriteZeroesUnlocked(newVirtualSize, boundaryEnd - newVirtualSize);
                }

                _header.Size = (ulong)newVirtualSize;
                WriteHeaderFields();
                ResizeBitmaps(newVirtualSize, check: false);
            }
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>
    /// Stores already-compressed data for the guest cluster at <paramref name="guestOffset"/> (cluster
    /// aligned; the cluster must be unallocated). <paramref name="compressedData"/> comes from
    /// <see cref="Qcow2Compression.TryCompress(Qcow2CompressionType, ReadOnlySpan{byte}, Span{byte}, out int)"/> with this image's <see cref="CompressionType"/> and
    /// <see cref="ClusterSize"/>. Compressed clusters are packed byte-contiguously after each other.
    /// </summary>
    /// <exception cref="ArgumentException">The offset is not cluster aligned or past the end, or the data is empty or larger than a cluster.</exception>
    /// <exception cref="InvalidOperationException">The guest cluster is already allocated.</exception>
    public void WriteCompressedCluster(long guestOffset, ReadOnlySpan<byte> compressedData)
    {
        RefuseCompressedIfEncrypted();
        ArgumentOutOfRangeException.ThrowIfNegative(guestOffset);
        if ((guestOffset & (_clusterSize - 1)) != 0 || guestOffset >= (long)_header.Size)
        {
            throw new ArgumentOutOfRangeException(nameof(guestOffset), guestOffset, "The offset must be cluster aligned and inside the virtual disk.");
        }

        if (compressedData.IsEmpty || compressedData.Length > _clusterSize)
        {
            throw new ArgumentException($"Compressed data must be 1..{_clusterSize} bytes.", nameof(compressedData));
        }

        ThrowIfDisposed();
        EnsureWritable();
        _lock.EnterWriteLock();
        try
        {
            PrepareForWrite();
            MarkBitmapsDirty(guestOffset, _clusterSize);
            BeginDeferredMetadata();
            try
            {
                long guestCluster = guestOffset >> _clusterBits;
                (long l2Offset, ulong[] table, int index) = _mapping.GetL2ForWrite(guestCluster);
                Qcow2L2Entry e = _mapping.EntryAt(table, index);
                if (e.IsCompressed || e.HostOffset != 0)
                {
                    throw new InvalidOperationException($"Guest cluster at {guestOffset} is already allocated; compressed clusters can only be written to unallocated clusters.");
                }

                long host = _refcounts.AllocateCompressedBytes(compressedData.Length);
                CheckMetadataOverlap(host, compressedData.Length);
                HostWrite(host, compressedData);
                ulong value = Qcow2CompressedClusterDescriptor.Encode(host, compressedData.Length, _clusterBits);
                _mapping.SetL2Entry(l2Offset, table, index, new Qcow2L2Entry(value));
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

    internal void WriteGuest(long offset, ReadOnlySpan<byte> data)
    {
        ThrowIfDisposed();
        EnsureWritable();
        _lock.EnterWriteLock();
        try
        {
            PrepareForWrite();
            MarkBitmapsDirty(offset, data.Length);
            BeginDeferredMetadata();
            try
            {
                WriteGuestUnlocked(offset, data);
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

    internal void WriteZeroesGuest(long offset, long length)
    {
        ThrowIfDisposed();
        EnsureWritable();
        _lock.EnterWriteLock();
        try
        {
            PrepareForWrite();
            MarkBitmapsDirty(offset, length);
            BeginDeferredMetadata();
            try
            {
                WriteZeroesUnlocked(offset, length);
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

    internal void FlushImage()
    {
        ThrowIfDisposed();
        if (!_writable)
        {
            return;
        }

        _lock.EnterWriteLock();
        try
        {
            FlushMetadata();
            TrimHost();
            _host.Flush();
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Whether L2/L1 and refcount changes are collected in <see cref="Qcow2MetadataWriteback"/> rather than written at once (guest writes only).</summary>
    internal bool DefersMetadata
    {
        get => _deferMetadata;
        set => _deferMetadata = value;
    }

    /// <summary>The end of the image in the host file: past the physical length while deferred tables wait, before it while the file was grown ahead.</summary>
    internal long HostEnd => Math.Max(_logicalEnd >= 0 ? _logicalEnd : _host.Length, _refcounts.AllocatedEnd);

    /// <summary>Starts a guest write whose metadata changes are deferred (under the write lock).</summary>
    private void BeginDeferredMetadata() => _deferMetadata = true;

    /// <summary>After a guest write: writes the pending tables back once enough are dirty.</summary>
    private void FlushMetadataWhenFull()
    {
        if (_writeback.ShouldFlush)
        {
            _writeback.Flush();
        }
    }

    /// <summary>Writes every deferred metadata change to the host, in crash-safe order (under the write lock).</summary>
    internal void FlushMetadata() => _writeback.Flush();

    /// <summary>Cuts the host file back to the end of the image after it was grown ahead of the writes.</summary>
    private void TrimHost()
    {
        if (_logicalEnd >= 0)
        {
            if (_host.Length > _logicalEnd)
            {
                _host.SetLength(_logicalEnd);
            }

            _logicalEnd = -1;
        }
    }

    private void EnsureWritable()
    {
        if (!_writable)
        {
            throw new NotSupportedException("The qcow2 image was opened read-only.");
        }
    }

    /// <summary>
    /// Before the first change: clear the autoclear bits this library does not maintain (all but the
    /// bitmaps bit of an image whose bitmaps it keeps), then load the persistent bitmaps and mark them
    /// in use on disk.
    /// </summary>
    private void PrepareForWrite()
    {
        if (_preparedForWrite)
        {
            return;
        }

        _refcounts.InitializeAllocatedEnd();

        Qcow2AutoclearFeatures keep = _bitmapDirectory is null ? Qcow2AutoclearFeatures.None : Qcow2AutoclearFeatures.Bitmaps;
        if (_header.Version >= 3 && (_header.AutoclearFeatures & ~keep) != Qcow2AutoclearFeatures.None)
        {
            _header.AutoclearFeatures &= keep;
            WriteHeaderFields();
        }

        LoadBitmapsForWrite();
        _preparedForWrite = true;
    }

    internal long AlignUp(long bytes) => (bytes + _clusterSize - 1) & ~(long)(_clusterSize - 1);

    private long SizeToL1(long size)
    {
        int shift = _clusterBits + _l2Bits;
        return (size + (1L << shift) - 1) >> shift;
    }

    private void WriteGuestUnlocked(long offset, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            long guestCluster = offset >> _clusterBits;
            int inCluster = (int)(offset & (_clusterSize - 1));
            if (inCluster == 0 && data.Length >= 2 * _clusterSize)
            {
                int written = WriteFreshRun(guestCluster, data);
                if (written > 0)
                {
                    data = data[written..];
                    offset += written;
                    continue;
                }
            }

            int n = Math.Min(data.Length, _clusterSize - inCluster);
            WriteClusterPart(guestCluster, inCluster, data[..n]);
            data = data[n..];
            offset += n;
        }
    }

    /// <summary>
    /// Fast path for long writes: whole guest clusters in one L2 table that have no host cluster
    /// get one contiguous host run, one data write, one refcount update and one L2 write.
    /// Returns the bytes written (0 when the first cluster does not qualify).
    /// </summary>
    private int WriteFreshRun(long guestCluster, ReadOnlySpan<byte> data)
    {
        (long l2Offset, ulong[] table, int index) = _mapping.GetL2ForWrite(guestCluster);
        int entriesPerTable = 1 << _l2Bits;
        int max = Math.Min(data.Length >> _clusterBits, entriesPerTable - index);
        int count = 0;
        while (count < max)
        {
            Qcow2L2Entry e = _mapping.EntryAt(table, index + count);
            if (e.IsCompressed || e.HostOffset != 0)
            {
                break;
            }

            count++;
        }

        if (count < 2)
        {
            return 0;
        }

        int bytes = count << _clusterBits;
        long host = _refcounts.AllocateClusters(count);
        CheckMetadataOverlap(host, bytes);
        DataWrite(host, data[..bytes]);
        for (int i = 0; i < count; i++)
        {
            var ne = Qcow2L2Entry.Normal(host + ((long)i << _clusterBits), copied: true, _extendedL2 ? Qcow2L2Entry.AllAllocated : 0);
            _mapping.StoreEntry(table, index + i, ne);
        }

        _mapping.CommitEntries(l2Offset, table, index, count);
        return bytes;
    }

    /// <summary>Writes bytes inside one guest cluster, allocating or copying on write as needed.</summary>
    private void WriteClusterPart(long guestCluster, int inCluster, ReadOnlySpan<byte> data)
    {
        (long l2Offset, ulong[] table, int index) = _mapping.GetL2ForWrite(guestCluster);
        Qcow2L2Entry e = _mapping.EntryAt(table, index);
        _mapping.ValidateEntry(e, l2Offset, guestCluster);
        Qcow2ClusterType type = e.GetClusterType(_extendedL2, _externalData);
        if (type == Qcow2ClusterType.Normal && e.Copied && _mapping.IsExclusivelyOwned(e.HostOffset, "data cluster"))
        {
            long host = e.HostOffset;
            if (!_extendedL2)
            {
                CheckMetadataOverlap(host + inCluster, data.Length);
                DataWrite(host + inCluster, data);
                return;
            }

            int s0 = inCluster >> _subclusterBits;
            int s1 = (inCluster + data.Length - 1) >> _subclusterBits;
            uint mask = Qcow2L2Entry.SubclusterMask(s0, s1 - s0 + 1);
            if ((e.AllocatedBits & mask) == mask)
            {
                CheckMetadataOverlap(host + inCluster, data.Length);
                DataWrite(host + inCluster, data);
                return;
            }

            // Newly allocated subclusters: fill the parts the write does not cover with their current content.
            int a = s0 << _subclusterBits;
            int b = (s1 + 1) << _subclusterBits;
            byte[] merged = ArrayPool<byte>.Shared.Rent(b - a);
            try
            {
                Span<byte> span = merged.AsSpan(0, b - a);
                ReadFromEntry(e, guestCluster, a, span);
                data.CopyTo(span[(inCluster - a)..]);
                CheckMetadataOverlap(host + a, span.Length);
                DataWrite(host + a, span);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(merged);
            }

            ulong alloc = e.AllocatedBits | mask;
            ulong zero = e.ZeroBits & ~mask;
            _mapping.SetL2Entry(l2Offset, table, index, new Qcow2L2Entry(e.Value, alloc | (zero << 32)));
            return;
        }

        // Allocate a new cluster holding the merged content (copy-on-write from whatever the
        // cluster reads as now: backing file, zeros, compressed data, or a shared cluster).
        byte[] buffer = ArrayPool<byte>.Shared.Rent(_clusterSize);
        try
        {
            Span<byte> cluster = buffer.AsSpan(0, _clusterSize);
            if (inCluster != 0 || data.Length != _clusterSize)
            {
                ReadFromEntry(e, guestCluster, 0, cluster);
            }

            data.CopyTo(cluster[inCluster..]);
            long host = _refcounts.AllocateClusters(1);
            CheckMetadataOverlap(host, _clusterSize);
            DataWrite(host, cluster);
            _mapping.SetL2Entry(l2Offset, table, index, Qcow2L2Entry.Normal(host, copied: true, _extendedL2 ? Qcow2L2Entry.AllAllocated : 0));
            _mapping.ReleaseEntry(e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void WriteZeroesUnlocked(long offset, long length)
    {
        while (length > 0)
        {
            long guestCluster = offset >> _clusterBits;
            int inCluster = (int)(offset & (_clusterSize - 1));
            int n = (int)Math.Min(length, _clusterSize - inCluster);
            if (n == _clusterSize && _header.Version >= 3 && length >= 2L * _clusterSize)
            {
                long whole = ZeroWholeClusters(guestCluster, length >> _clusterBits);
                offset += whole << _clusterBits;
                length -= whole << _clusterBits;
                continue;
            }

            if (n == _clusterSize)
            {
                ZeroWholeCluster(guestCluster);
            }
            else
            {
                ZeroPartial(guestCluster, inCluster, n);
            }

            offset += n;
            length -= n;
        }
    }

    /// <summary>
    /// Version 3: makes up to <paramref name="maxClusters"/> whole clusters (within one L2 table)
    /// zero clusters with a single L2 write, then frees what they held. Ranges without an L2 table
    /// and without backing data already read as zeros and are skipped. Returns the clusters done.
    /// </summary>
    private long ZeroWholeClusters(long guestCluster, long maxClusters)
    {
        long l1Index = guestCluster >> _l2Bits;
        int index = (int)(guestCluster & ((1L << _l2Bits) - 1));
        int count = (int)Math.Min(maxClusters, (1L << _l2Bits) - index);
        bool noBacking = _backing is null || guestCluster << _clusterBits >= _backing.Content.Length;
        if ((_l1[l1Index] & Qcow2L1Entry.OffsetMask) == 0 && noBacking)
        {
            return count;
        }

        (long l2Offset, ulong[] table, _) = _mapping.GetL2ForWrite(guestCluster);
        Qcow2L2Entry zero = _extendedL2 ? new Qcow2L2Entry(0, Qcow2L2Entry.AllZero) : new Qcow2L2Entry(Qcow2L2Entry.ZeroFlag);
        var released = new List<Qcow2L2Entry>();
        for (int i = 0; i < count; i++)
        {
            _mapping.ValidateEntry(_mapping.EntryAt(table, index + i), l2Offset, guestCluster + i);
        }

        for (int i = 0; i < count; i++)
        {
            Qcow2L2Entry old = _mapping.EntryAt(table, index + i);
            released.Add(old);
            _mapping.StoreEntry(table, index + i, zero);
        }

        _mapping.CommitEntries(l2Offset, table, index, count);

        foreach (Qcow2L2Entry old in released)
        {
            _mapping.ReleaseEntry(old);
        }

        return count;
    }

    /// <summary>Whether guest bytes at <paramref name="guestOffset"/> that are unallocated here read as zeros (no backing data there).</summary>
    private bool BackingIsZeroAt(long guestOffset) => _backing is null || guestOffset >= _backing.Content.Length;

    private void ZeroWholeCluster(long guestCluster)
    {
        Qcow2L2Entry current = GetL2Entry(_l1, guestCluster);
        Qcow2ClusterType type = current.GetClusterType(_extendedL2, _externalData);
        bool backingZero = BackingIsZeroAt(guestCluster << _clusterBits);
        if (type == Qcow2ClusterType.ZeroPlain || (_extendedL2 && current.HostOffset == 0 && !current.IsCompressed && current.ZeroBits == uint.MaxValue))
        {
            return;
        }

        if (type == Qcow2ClusterType.Unallocated && backingZero && (!_extendedL2 || current.Bitmap == 0))
        {
            return;
        }

        if (_header.Version < 3)
        {
            if (!backingZero)
            {
                WriteClusterPart(guestCluster, 0, Zeros(_clusterSize));
                return;
            }

            // No backing data: an unallocated cluster reads as zeros.
            (long l2Off, ulong[] t, int i) = _mapping.GetL2ForWrite(guestCluster);
            Qcow2L2Entry old = _mapping.EntryAt(t, i);
            _mapping.SetL2Entry(l2Off, t, i, default);
            _mapping.ReleaseEntry(old);
            return;
        }

        (long l2Offset, ulong[] table, int index) = _mapping.GetL2ForWrite(guestCluster);
        Qcow2L2Entry e = _mapping.EntryAt(table, index);
        Qcow2L2Entry zero = _extendedL2 ? new Qcow2L2Entry(0, Qcow2L2Entry.AllZero) : new Qcow2L2Entry(Qcow2L2Entry.ZeroFlag);
        _mapping.SetL2Entry(l2Offset, table, index, zero);
        _mapping.ReleaseEntry(e);
    }

    private void ZeroPartial(long guestCluster, int inCluster, int length)
    {
        Qcow2L2Entry e = GetL2Entry(_l1, guestCluster);
        Qcow2ClusterType type = e.GetClusterType(_extendedL2, _externalData);
        if (type is Qcow2ClusterType.ZeroPlain or Qcow2ClusterType.ZeroAllocated)
        {
            return;
        }

        if (type == Qcow2ClusterType.Unallocated && BackingIsZeroAt(guestCluster << _clusterBits) && (!_extendedL2 || e.Bitmap == 0))
        {
            return;
        }

        if (_extendedL2 && _header.Version >= 3)
        {
            // Whole subclusters become zero subclusters; the ragged ends are written as zeros.
            int subclusterSize = 1 << _subclusterBits;
            int s0 = (inCluster + subclusterSize - 1) >> _subclusterBits;
            int s1 = (inCluster + length) >> _subclusterBits;
            bool canMark = s0 < s1 && !e.IsCompressed && (e.HostOffset == 0 || e.Copied);
            if (canMark)
            {
                int head = (s0 << _subclusterBits) - inCluster;
                int tailStart = s1 << _subclusterBits;
                if (head > 0)
                {
                    WriteClusterPart(guestCluster, inCluster, Zeros(head));
                }

                if (tailStart < inCluster + length)
                {
                    WriteClusterPart(guestCluster, tailStart, Zeros(inCluster + length - tailStart));
                }

                (long l2Offset, ulong[] table, int index) = _mapping.GetL2ForWrite(guestCluster);
                Qcow2L2Entry cur = _mapping.EntryAt(table, index);
                if (!cur.IsCompressed && (cur.HostOffset == 0 || cur.Copied))
                {
                    uint mask = Qcow2L2Entry.SubclusterMask(s0, s1 - s0);
                    ulong alloc = cur.AllocatedBits & ~mask;
                    ulong zero = cur.ZeroBits | mask;
                    _mapping.SetL2Entry(l2Offset, table, index, new Qcow2L2Entry(cur.Value, alloc | (zero << 32)));
                    return;
                }

                WriteClusterPart(guestCluster, s0 << _subclusterBits, Zeros((s1 - s0) << _subclusterBits));
                return;
            }
        }

        WriteClusterPart(guestCluster, inCluster, Zeros(length));
    }

    /// <summary>
    /// Writes to the host. A write past the end grows the host file ahead in large steps (a quarter of
    /// its length, 1 MiB to 256 MiB) rather than by each write's length; <see cref="TrimHost"/> cuts
    /// the file back to the last written byte on flush and close. The unwritten tail reads as zeros
    /// and nothing refers to it, so a crash with the tail in place leaves a clean image.
    /// </summary>
    internal void HostWrite(long offset, ReadOnlySpan<byte> data)
    {
        HostWriteCore(offset, data);
    }

    /// <summary>Compressed clusters are never encrypted (QEMU refuses them in encrypted images).</summary>
    internal void RefuseCompressedIfEncrypted()
    {
        if (_encryption is not null)
        {
            throw new NotSupportedException("Compression is not supported for encrypted qcow2 images.");
        }
    }

    /// <summary>Writes guest data into host clusters, encrypting it when the image is encrypted.</summary>
    private void DataWrite(long offset, ReadOnlySpan<byte> data)
    {
        if (_encryption?.Payload is { } payload)
        {
            payload.Write(_host, offset, data, _hostWriter ??= HostWriteCore);
            return;
        }

        HostWriteCore(offset, data);
    }

    private void HostWriteCore(long offset, ReadOnlySpan<byte> data)
    {
        long end = offset + data.Length;
        if (_logicalEnd >= 0 && end > _logicalEnd)
        {
            _logicalEnd = end;
        }

        long physical = _host.Length;
        if (end > physical)
        {
            if (_logicalEnd < 0)
            {
                _logicalEnd = end;
            }

            long step = Math.Clamp(physical / 4, 1L << 20, 256L << 20);
            _host.SetLength(AlignUp(end + step));
        }

        _host.Write(offset, data);
    }
}
