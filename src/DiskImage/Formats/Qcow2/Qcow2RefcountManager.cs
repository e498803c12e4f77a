using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <summary>
/// Owns the refcount structures of an open image (the refcount table and a cache of refcount
/// blocks): reads and sets refcounts, frees clusters, and allocates host clusters and room for
/// compressed data, adding refcount blocks and growing the table before anything refers to them.
/// </summary>
internal sealed class Qcow2RefcountManager
{
    private readonly Qcow2Image _image;
    private readonly BlockDevice _host;
    private readonly Qcow2Header _header;
    private readonly int _clusterBits;
    private readonly int _clusterSize;
    private readonly int _refcountOrder;
    private readonly int _refblockBits;    // log2 of entries per refcount block
    private readonly Qcow2TableCache<byte[]> _refblockCache;
    private readonly Qcow2TableCache<ulong[]> _l2Cache;
    private readonly HashSet<long> _metadataClusters;
    private readonly Qcow2MetadataWriteback _writeback;
    private ulong[] _refcountTable;
    private long _freeClusterHint;   // every host cluster below this index is in use
    private long _compressedCursor;  // host byte offset where the next compressed cluster may start (0: start a new cluster)
    private long _allocatedEnd;      // end (bytes) of the highest cluster this instance allocated

    /// <summary>
    /// Creates the manager of <paramref name="image"/>'s refcounts over the loaded
    /// <paramref name="refcountTable"/>; a freed cluster leaves <paramref name="l2Cache"/> and
    /// <paramref name="metadataClusters"/> (the image's L2 cache and metadata-overlap index). While the
    /// image defers metadata, refcount changes go to <paramref name="writeback"/>.
    /// </summary>
    public Qcow2RefcountManager(Qcow2Image image, ulong[] refcountTable, Qcow2TableCache<ulong[]> l2Cache, HashSet<long> metadataClusters, Qcow2MetadataWriteback writeback)
    {
        _writeback = writeback;
        _image = image;
        _host = image.Host;
        _header = image.Header;
        _clusterBits = image.ClusterBits;
        _clusterSize = image.ClusterSize;
        _refcountOrder = image.RefcountOrder;
        _refblockBits = image.RefcountBlockBits;
        _refcountTable = refcountTable;
        _l2Cache = l2Cache;
        _metadataClusters = metadataClusters;
        _refblockCache = new Qcow2TableCache<byte[]>(Math.Max(16, (4 * 1024 * 1024) >> _clusterBits));
    }

    /// <summary>The refcount table as loaded or last grown (host byte order; do not modify).</summary>
    public ulong[] Table => _refcountTable;

    /// <summary>Host byte offset where the next compressed cluster may start (0: a new cluster).</summary>
    public long CompressedCursor => _compressedCursor;

    /// <summary>Takes <paramref name="refcountTable"/> re-read from the host and forgets every cached block and allocation hint.</summary>
    public void Reset(ulong[] refcountTable)
    {
        _refcountTable = refcountTable;
        _refblockCache.Clear();
        _freeClusterHint = 0;
        _compressedCursor = 0;
    }

    /// <summary>Starts the allocation bound at the end of the host file (before the first write).</summary>
    public void InitializeAllocatedEnd()
    {
        if (_allocatedEnd == 0)
        {
            _allocatedEnd = _image.AlignUp(_host.Length);
        }
    }

    /// <summary>End (bytes) of the highest cluster this instance allocated (0 before the first write).</summary>
    public long AllocatedEnd => _allocatedEnd;

    /// <summary>Records that clusters up to byte <paramref name="end"/> were allocated by this instance.</summary>
    public void ExtendAllocatedEnd(long end) => _allocatedEnd = Math.Max(_allocatedEnd, end);

    /// <summary>The refcount block at <paramref name="offset"/>, from the cache or the file.</summary>
    public byte[] GetRefcountBlock(long offset)
    {
        byte[]? block = _writeback.GetRefcountBlock(offset) ?? _refblockCache.Get(offset);
        if (block is null)
        {
            block = _image.ReadRefcountBlock(offset);
            _refblockCache.Put(offset, block);
        }

        return block;
    }

    /// <summary>Refcount of host cluster <paramref name="clusterIndex"/> (0 where no refcount block exists).</summary>
    public ulong GetRefcount(long clusterIndex)
    {
        long blockIndex = clusterIndex >> _refblockBits;
        if (blockIndex >= _refcountTable.Length)
        {
            return 0;
        }

        long blockOffset = (long)(_refcountTable[blockIndex] & Qcow2Refcounts.TableOffsetMask);
        if (blockOffset == 0)
        {
            return 0;
        }

        byte[] block = GetRefcountBlock(blockOffset);
        return Qcow2Refcounts.Get(block, (int)(clusterIndex & ((1L << _refblockBits) - 1)), _refcountOrder);
    }

    /// <summary>
    /// Allocates <paramref name="count"/> contiguous host clusters with refcount 1 and returns the
    /// first offset. Refcount blocks missing for the area are placed directly in front of the run
    /// (each counting itself and the run), written before the refcount table references them.
    /// </summary>
    public long AllocateClusters(int count)
    {
        if (_allocatedEnd == 0)
        {
            _allocatedEnd = _image.AlignUp(_host.Length);
        }

        while (true)
        {
            int need = count;
            long start = FindFreeRun(need);
            List<long> missing = MissingBlocks(start, start + count);
            for (int guard = 0; ; guard++)
            {
                List<long> needed = MissingBlocks(start, start + missing.Count + count);
                if (needed.Count == missing.Count && IsFreeRun(start, needed.Count + count))
                {
                    missing = needed;
                    break;
                }

                if (guard > 64)
                {
                    throw new InvalidOperationException("qcow2 allocator did not converge.");
                }

                missing = needed;
                if (!IsFreeRun(start, missing.Count + count))
                {
                    need = Math.Max(need, missing.Count + count);
                    start = FindFreeRun(need);
                }
            }

            int total = missing.Count + count;
            if (start + total > (Qcow2Image.MaxHostOffset >> _clusterBits))
            {
                throw new IOException("The qcow2 image cannot grow further (host offsets would exceed 2^56).");
            }

            long maxBlock = -1;
            foreach (long bi in missing)
            {
                maxBlock = Math.Max(maxBlock, bi);
            }

            if (maxBlock >= _refcountTable.Length)
            {
                GrowRefcountTable(maxBlock + 1);
                continue;
            }

            // New refcount blocks first, each counting the area clusters in its range.
            bool defer = Defer();
            for (int j = 0; j < missing.Count; j++)
            {
                long bi = missing[j];
                byte[] block = new byte[_clusterSize];
                long rangeStart = Math.Max(start, bi << _refblockBits);
                long rangeEnd = Math.Min(start + total, (bi + 1) << _refblockBits);
                for (long c = rangeStart; c < rangeEnd; c++)
                {
                    Qcow2Refcounts.Set(block, (int)(c & ((1L << _refblockBits) - 1)), _refcountOrder, 1);
                }

                long offset = (start + j) << _clusterBits;
                if (defer)
                {
                    _writeback.MarkRefcountBlock(offset, block);
                }
                else
                {
                    _image.HostWrite(offset, block);
                }

                _refblockCache.Put(offset, block);
                _metadataClusters.Add(start + j);
            }

            // Area clusters whose refcount blocks already exist.
            long run = start;
            while (run < start + total)
            {
                long bi = run >> _refblockBits;
                long rangeEnd = Math.Min(start + total, (bi + 1) << _refblockBits);
                if (!missing.Contains(bi))
                {
                    SetRefcountRange(run, (int)(rangeEnd - run), 1);
                }

                run = rangeEnd;
            }

            // Only now do the new blocks become reachable.
            for (int j = 0; j < missing.Count; j++)
            {
                long offset = (start + j) << _clusterBits;
                _refcountTable[missing[j]] = (ulong)offset;
                if (defer)
                {
                    _writeback.MarkRefcountTableEntry(missing[j]);
                }
                else
                {
                    Qcow2Image.WriteEntry(_host, (long)_header.RefcountTableOffset + (missing[j] * 8), (ulong)offset);
                }
            }

            _allocatedEnd = Math.Max(_allocatedEnd, (start + total) << _clusterBits);
            return (start + missing.Count) << _clusterBits;
        }
    }

    /// <summary>Indices of the refcount blocks that do not exist for host clusters [<paramref name="start"/>, <paramref name="end"/>).</summary>
    private List<long> MissingBlocks(long start, long end)
    {
        var list = new List<long>();
        for (long bi = start >> _refblockBits; bi <= (end - 1) >> _refblockBits; bi++)
        {
            if (!RefcountBlockExists(bi))
            {
                list.Add(bi);
            }
        }

        return list;
    }

    public bool RefcountBlockExists(long blockIndex) =>
        blockIndex < _refcountTable.Length && (_refcountTable[blockIndex] & Qcow2Refcounts.TableOffsetMask) != 0;

    private long FindFreeRun(int count)
    {
        long c = Math.Max(_freeClusterHint, 1);
        bool sawFree = false;
        long runStart = 0;
        int run = 0;
        while (true)
        {
            if (GetRefcount(c) == 0)
            {
                if (!sawFree)
                {
                    _freeClusterHint = c;
                    sawFree = true;
                }

                if (run == 0)
                {
                    runStart = c;
                }

                if (++run == count)
                {
                    return runStart;
                }
            }
            else
            {
                run = 0;
            }

            c++;
        }
    }

    private bool IsFreeRun(long start, int count)
    {
        for (long c = start; c < start + count; c++)
        {
            if (GetRefcount(c) != 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Replaces the refcount table by a larger one at the end of the image. The new area holds the
    /// refcount blocks that describe it followed by the table; the header switches over in one
    /// write, then the old table is freed.
    /// </summary>
    private void GrowRefcountTable(long minEntries)
    {
        // Rare: everything pending goes out first, then the new area is written through.
        _writeback.Flush();
        bool deferred = _image.DefersMetadata;
        _image.DefersMetadata = false;
        try
        {
            GrowRefcountTableThrough(minEntries);
        }
        finally
        {
            _image.DefersMetadata = deferred;
        }
    }

    private void GrowRefcountTableThrough(long minEntries)
    {
        long entriesPerCluster = _clusterSize / 8;
        long oldEntries = _refcountTable.Length;
        long want = Math.Max(minEntries, oldEntries + Math.Max(entriesPerCluster, oldEntries / 2));
        long tableClusters = (want + entriesPerCluster - 1) / entriesPerCluster;
        long start = Math.Max(_image.AlignUp(_image.HostEnd), _allocatedEnd) >> _clusterBits;
        var missing = new List<long>();
        while (true)
        {
            long areaEnd = start + missing.Count + tableClusters;
            var needed = new List<long>();
            for (long bi = start >> _refblockBits; bi <= (areaEnd - 1) >> _refblockBits; bi++)
            {
                if (bi >= oldEntries || (_refcountTable[bi] & Qcow2Refcounts.TableOffsetMask) == 0)
                {
                    needed.Add(bi);
                }
            }

            long lastBlock = (areaEnd - 1) >> _refblockBits;
            long needClusters = Math.Max(tableClusters, ((lastBlock + 1) + entriesPerCluster - 1) / entriesPerCluster);
            if (needed.Count == missing.Count && needClusters == tableClusters)
            {
                missing = needed;
                break;
            }

            missing = needed;
            tableClusters = needClusters;
        }

        if (tableClusters << _clusterBits > Qcow2Image.MaxRefcountTableBytes)
        {
            throw new IOException("The qcow2 refcount table would exceed 8 MiB; the image cannot grow further.");
        }

        long areaStart = start;
        long tableStart = start + missing.Count;
        long areaEndFinal = tableStart + tableClusters;
        var newTable = new ulong[tableClusters * entriesPerCluster];
        _refcountTable.AsSpan().CopyTo(newTable);

        // Area clusters described by blocks that already exist: count them there first.
        for (long c = areaStart; c < areaEndFinal; c++)
        {
            long bi = c >> _refblockBits;
            if (!missing.Contains(bi))
            {
                SetRefcount(c, 1);
            }
        }

        // New blocks, each counting the area clusters it describes.
        for (int j = 0; j < missing.Count; j++)
        {
            long bi = missing[j];
            byte[] block = new byte[_clusterSize];
            for (long c = areaStart; c < areaEndFinal; c++)
            {
                if (c >> _refblockBits == bi)
                {
                    Qcow2Refcounts.Set(block, (int)(c & ((1L << _refblockBits) - 1)), _refcountOrder, 1);
                }
            }

            long offset = (areaStart + j) << _clusterBits;
            _image.HostWrite(offset, block);
            _refblockCache.Put(offset, block);
            _metadataClusters.Add(areaStart + j);
            newTable[bi] = (ulong)offset;
        }

        byte[] raw = new byte[tableClusters << _clusterBits];
        for (int i = 0; i < newTable.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), newTable[i]);
        }

        _image.HostWrite(tableStart << _clusterBits, raw);
        long oldOffset = (long)_header.RefcountTableOffset;
        long oldClusters = _header.RefcountTableClusters;
        _header.RefcountTableOffset = (ulong)(tableStart << _clusterBits);
        _header.RefcountTableClusters = (uint)tableClusters;
        _image.WriteHeaderFields();
        _refcountTable = newTable;
        _allocatedEnd = Math.Max(_allocatedEnd, areaEndFinal << _clusterBits);
        for (long c = 0; c < oldClusters; c++)
        {
            DecrementRefcount((oldOffset >> _clusterBits) + c);
        }
    }

    /// <summary>Sets the refcount of a cluster whose refcount block exists.</summary>
    public void SetRefcount(long cluster, ulong value)
    {
        long blockIndex = cluster >> _refblockBits;
        long blockOffset = (long)(_refcountTable[blockIndex] & Qcow2Refcounts.TableOffsetMask);
        byte[] block = GetRefcountBlock(blockOffset);
        int index = (int)(cluster & ((1L << _refblockBits) - 1));
        bool defer = Defer();
        Qcow2Refcounts.Set(block, index, _refcountOrder, value);
        if (defer)
        {
            _writeback.MarkRefcountBlock(blockOffset, block);
            return;
        }

        (int off, int len) = Qcow2Refcounts.ByteRange(index, _refcountOrder);
        _host.Write(blockOffset + off, block.AsSpan(off, len));
    }

    /// <summary>Sets the refcounts of a run of clusters whose refcount blocks exist, one write per block.</summary>
    public void SetRefcountRange(long start, int count, ulong value)
    {
        long c = start;
        long end = start + count;
        bool defer = Defer();
        while (c < end)
        {
            long blockIndex = c >> _refblockBits;
            long blockEnd = Math.Min(end, (blockIndex + 1) << _refblockBits);
            long blockOffset = (long)(_refcountTable[blockIndex] & Qcow2Refcounts.TableOffsetMask);
            byte[] block = GetRefcountBlock(blockOffset);
            int first = (int)(c & ((1L << _refblockBits) - 1));
            int last = (int)((blockEnd - 1) & ((1L << _refblockBits) - 1));
            for (int i = first; i <= last; i++)
            {
                Qcow2Refcounts.Set(block, i, _refcountOrder, value);
            }

            if (defer)
            {
                _writeback.MarkRefcountBlock(blockOffset, block);
            }
            else
            {
                (int off, _) = Qcow2Refcounts.ByteRange(first, _refcountOrder);
                (int lastOff, int lastLen) = Qcow2Refcounts.ByteRange(last, _refcountOrder);
                _host.Write(blockOffset + off, block.AsSpan(off, lastOff + lastLen - off));
            }

            c = blockEnd;
        }
    }

    /// <summary>Drops one reference to a host cluster; at zero the cluster becomes free.</summary>
    public void DecrementRefcount(long cluster)
    {
        ulong v = GetRefcount(cluster);
        if (v == 0)
        {
            FormatError.Throw("qcow2 refcounts", cluster << _clusterBits, "freeing a cluster whose refcount is already 0; the metadata is inconsistent (run check).");
        }

        // The entry that dropped the reference must be on the host before the lower count is.
        if (_writeback.HasDirtyMapping)
        {
            _writeback.Flush();
        }

        SetRefcount(cluster, v - 1);
        if (v == 1)
        {
            if (cluster < _freeClusterHint)
            {
                _freeClusterHint = cluster;
            }

            long offset = cluster << _clusterBits;
            _l2Cache.Remove(offset);
            _writeback.Forget(offset);
            _metadataClusters.Remove(cluster);
            if (_compressedCursor != 0 && (_compressedCursor >> _clusterBits) == cluster)
            {
                _compressedCursor = 0;
            }

            _image.AdvanceGeneration();
        }
    }

    /// <summary>
    /// Whether a change is deferred (the image defers metadata); otherwise pending changes are written
    /// first, so a write-through change never overtakes them.
    /// </summary>
    private bool Defer()
    {
        if (_image.DefersMetadata)
        {
            return true;
        }

        _writeback.Flush();
        return false;
    }

    /// <summary>Finds room for <paramref name="length"/> bytes of compressed data, packed after the previous compressed cluster when possible.</summary>
    public long AllocateCompressedBytes(int length)
    {
        long cursor = _compressedCursor;
        if (cursor != 0)
        {
            long cluster = cursor >> _clusterBits;
            int remaining = _clusterSize - (int)(cursor & (_clusterSize - 1));
            ulong refcount = GetRefcount(cluster);
            ulong max = Qcow2Refcounts.MaxValue(_refcountOrder);
            if (refcount > 0 && refcount < max)
            {
                if (length <= remaining)
                {
                    SetRefcount(cluster, refcount + 1);
                    AdvanceCompressedCursor(cursor, length);
                    return cursor;
                }

                long next = cluster + 1;
                if (RefcountBlockExists(next >> _refblockBits) && GetRefcount(next) == 0)
                {
                    SetRefcount(next, 1);
                    SetRefcount(cluster, refcount + 1);
                    _allocatedEnd = Math.Max(_allocatedEnd, (next + 1) << _clusterBits);
                    AdvanceCompressedCursor(cursor, length);
                    return cursor;
                }
            }
        }

        long fresh = AllocateClusters(1);
        AdvanceCompressedCursor(fresh, length);
        return fresh;
    }

    public void AdvanceCompressedCursor(long start, int length)
    {
        long end = start + length;
        _compressedCursor = (end & (_clusterSize - 1)) == 0 ? 0 : end;
    }

    /// <summary>Sets the refcounts of consecutive clusters whose refcount blocks exist, one write per block.</summary>
    public void SetRefcountValues(long firstCluster, ReadOnlySpan<ulong> values)
    {
        long c = firstCluster;
        long end = firstCluster + values.Length;
        bool defer = Defer();
        while (c < end)
        {
            long blockIndex = c >> _refblockBits;
            long blockEnd = Math.Min(end, (blockIndex + 1) << _refblockBits);
            long blockOffset = (long)(_refcountTable[blockIndex] & Qcow2Refcounts.TableOffsetMask);
            byte[] block = GetRefcountBlock(blockOffset);
            int first = (int)(c & ((1L << _refblockBits) - 1));
            int last = (int)((blockEnd - 1) & ((1L << _refblockBits) - 1));
            for (int i = first; i <= last; i++)
            {
                Qcow2Refcounts.Set(block, i, _refcountOrder, values[(int)(c - firstCluster) + (i - first)]);
            }

            if (defer)
            {
                _writeback.MarkRefcountBlock(blockOffset, block);
            }
            else
            {
                (int off, _) = Qcow2Refcounts.ByteRange(first, _refcountOrder);
                (int lastOff, int lastLen) = Qcow2Refcounts.ByteRange(last, _refcountOrder);
                _host.Write(blockOffset + off, block.AsSpan(off, lastOff + lastLen - off));
            }

            c = blockEnd;
        }
    }
}
