using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>Raw metadata access: L1/L2 tables, refcount table and blocks, all bounds-checked; used by the reader, the writer and the checker.</content>
public sealed partial class Qcow2Image
{
    // Host cluster indices holding active L2 tables and refcount blocks (writable images only):
    // the "cached" metadata-overlap check consults them before every data write.
    private readonly HashSet<long> _metadataClusters = [];

    /// <summary>The host device holding the image.</summary>
    internal BlockDevice Host => _host;

    /// <summary>The parsed header (do not modify).</summary>
    internal Qcow2Header Header => _header;

    /// <summary>log2 of the cluster size.</summary>
    internal int ClusterBits => _clusterBits;

    /// <summary>log2 of the number of entries in an L2 table.</summary>
    internal int L2Bits => _l2Bits;

    /// <summary>log2 of the number of entries in a refcount block.</summary>
    internal int RefcountBlockBits => _refblockBits;

    /// <summary>log2 of the refcount width.</summary>
    internal int RefcountOrder => _refcountOrder;

    /// <summary>The active L1 table as loaded (host byte order; do not modify).</summary>
    internal ReadOnlySpan<ulong> ActiveL1Table => _l1;

    /// <summary>The active L1 table (host byte order); replaced when the table grows.</summary>
    internal ulong[] ActiveL1
    {
        get => _l1;
        set => _l1 = value;
    }

    /// <summary>Whether guest data lives in an external data file.</summary>
    internal bool HasExternalData => _externalData;

    /// <summary>The refcount table as loaded (host byte order; do not modify).</summary>
    internal ReadOnlySpan<ulong> RefcountTable => _refcounts.Table;

    /// <summary>The raw snapshot table entries.</summary>
    internal IReadOnlyList<Qcow2SnapshotEntry> SnapshotEntries => _snapshotEntries;

    /// <summary>Whether <paramref name="offset"/> is a cluster-aligned host offset below 2^56.</summary>
    internal bool IsValidClusterOffset(long offset) =>
        offset > 0 && offset <= MaxHostOffset && (offset & (_clusterSize - 1)) == 0;

    /// <summary>Reads an L1 table of <paramref name="entries"/> entries at <paramref name="offset"/>, checking alignment, the 32 MiB cap and the file bounds.</summary>
    /// <exception cref="InvalidDataException">The table is misplaced or too large.</exception>
    internal ulong[] ReadL1Table(long offset, int entries)
    {
        if (entries < 0 || (long)entries * 8 > MaxL1Bytes)
        {
            FormatError.Throw("qcow2 L1 table", offset, $"too large ({entries} entries).");
        }

        if (entries == 0)
        {
            return [];
        }

        Qcow2HeaderValidator.ValidateTable((ulong)offset, (ulong)entries * 8, _host.Length, _clusterSize, "L1 table");
        return Qcow2TableReader.ReadTable(_host, offset, entries);
    }

    /// <summary>Reads the L2 table at <paramref name="offset"/> (decoded to host byte order) without the cache.</summary>
    /// <exception cref="InvalidDataException">The offset is not a cluster-aligned offset within the file.</exception>
    internal ulong[] ReadL2Table(long offset)
    {
        ValidateMetadataCluster(offset, "L2 table");
        return Qcow2TableReader.ReadTable(_host, offset, _clusterSize / 8);
    }

    /// <summary>Reads the refcount table of <paramref name="clusters"/> clusters at <paramref name="offset"/>.</summary>
    internal ulong[] ReadRefcountTable(long offset, int clusters)
    {
        long bytes = (long)clusters << _clusterBits;
        if (clusters <= 0 || bytes > MaxRefcountTableBytes)
        {
            FormatError.Throw("qcow2 refcount table", offset, $"invalid size ({clusters} clusters).");
        }

        Qcow2HeaderValidator.ValidateTable((ulong)offset, (ulong)bytes, _host.Length, _clusterSize, "refcount table");
        return Qcow2TableReader.ReadTable(_host, offset, (int)(bytes / 8));
    }

    /// <summary>Reads the refcount block at <paramref name="offset"/> (raw bytes, big-endian entries) without the cache.</summary>
    internal byte[] ReadRefcountBlock(long offset)
    {
        ValidateMetadataCluster(offset, "refcount block");
        byte[] block = new byte[_clusterSize];
        int n = _host.Read(offset, block);
        block.AsSpan(n).Clear();
        return block;
    }

    /// <summary>
    /// Drops every cached table and re-reads the header, the L1 table and the refcount table from the
    /// host (after the checker rewrote metadata, possibly moving the refcount table). The re-read
    /// header is validated like an open; its table locations and feature bits replace the in-memory
    /// ones, while the in-memory header extensions are kept (the checker does not touch them).
    /// </summary>
    /// <exception cref="InvalidDataException">The header on the host is malformed now, or its layout (version, cluster size, refcount width, extended L2, compression type, virtual size, snapshot table) no longer matches the open image.</exception>
    /// <exception cref="NotSupportedException">The header now uses an unsupported feature.</exception>
    internal void ReloadMetadata()
    {
        _lock.EnterWriteLock();
        try
        {
            Qcow2Header fresh = Qcow2HeaderValidator.ReadValidatedHeader(_host, _writable, forRepair: true);
            if (fresh.Version != _header.Version || fresh.ClusterBits != _header.ClusterBits ||
                fresh.RefcountOrder != _header.RefcountOrder || fresh.HasExtendedL2 != _header.HasExtendedL2 ||
                fresh.CompressionTypeByte != _header.CompressionTypeByte || fresh.Size != _header.Size ||
                fresh.HeaderLength != _header.HeaderLength || fresh.SnapshotCount != _header.SnapshotCount ||
                fresh.SnapshotsOffset != _header.SnapshotsOffset ||
                ((fresh.IncompatibleFeatures ^ _header.IncompatibleFeatures) & ~(Qcow2IncompatibleFeatures.Dirty | Qcow2IncompatibleFeatures.Corrupt)) != 0)
            {
                FormatError.Throw("qcow2 header", 0, "the header changed under the open image (its layout no longer matches).");
            }

            ulong[] l1 = Qcow2TableReader.ReadTable(_host, (long)fresh.L1TableOffset, (int)fresh.L1Size);
            ulong[] refcountTable = Qcow2TableReader.ReadTable(_host, (long)fresh.RefcountTableOffset, (int)(((ulong)fresh.RefcountTableClusters << _clusterBits) / 8));

            _header.L1TableOffset = fresh.L1TableOffset;
            _header.L1Size = fresh.L1Size;
            _header.RefcountTableOffset = fresh.RefcountTableOffset;
            _header.RefcountTableClusters = fresh.RefcountTableClusters;
            _header.IncompatibleFeatures = fresh.IncompatibleFeatures;
            _header.CompatibleFeatures = fresh.CompatibleFeatures;
            _header.AutoclearFeatures = fresh.AutoclearFeatures;
            _l1 = l1;
            _writeback.Discard();
            _logicalEnd = -1;
            _refcounts.Reset(refcountTable);
            _l2Cache.Clear();
            _generation++;
            if (_writable)
            {
                RebuildMetadataIndex();
            }
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    private void ValidateMetadataCluster(long offset, string name)
    {
        if (!IsValidClusterOffset(offset))
        {
            FormatError.Throw($"qcow2 {name}", offset, "offset is not a non-zero multiple of the cluster size below 2^56.");
        }

        if (offset > _host.Length - _clusterSize)
        {
            FormatError.Throw($"qcow2 {name}", offset, $"extends past the end of the file ({_host.Length} bytes).");
        }
    }

    /// <summary>The L2 table at <paramref name="offset"/>, from the cache or the file.</summary>
    internal ulong[] GetL2Table(long offset)
    {
        ulong[]? table = _writeback.GetL2(offset) ?? _l2Cache.Get(offset);
        if (table is null)
        {
            table = ReadL2Table(offset);
            _l2Cache.Put(offset, table);
        }

        return table;
    }

    /// <summary>Looks up the L2 entry of guest cluster <paramref name="guestCluster"/> through <paramref name="l1"/>.</summary>
    private Qcow2L2Entry GetL2Entry(ulong[] l1, long guestCluster)
    {
        long l1Index = guestCluster >> _l2Bits;
        if (l1Index >= l1.Length)
        {
            return default;
        }

        long l2Offset = (long)(l1[l1Index] & Qcow2L1Entry.OffsetMask);
        if (l2Offset == 0)
        {
            return default;
        }

        if ((l2Offset & (_clusterSize - 1)) != 0)
        {
            FormatError.Throw("qcow2 L1 table", -1, $"L2 table offset {l2Offset} unaligned (L1 index {l1Index}).");
        }

        ulong[] table = GetL2Table(l2Offset);
        int index = (int)(guestCluster & ((1L << _l2Bits) - 1));
        Qcow2L2Entry entry = _extendedL2 ? new(table[index * 2], table[(index * 2) + 1]) : new(table[index]);
        if (!entry.IsCompressed)
        {
            long host = entry.HostOffset;
            if ((host & (_clusterSize - 1)) != 0)
            {
                FormatError.Throw("qcow2 L2 table", l2Offset, $"cluster allocation offset {host} unaligned (guest cluster {guestCluster}).");
            }

            if (_extendedL2 && !entry.IsValidBitmap(_externalData))
            {
                FormatError.Throw("qcow2 L2 table", l2Offset, $"invalid subcluster bitmap 0x{entry.Bitmap:x16} for guest cluster {guestCluster}.");
            }
        }
        else if (_extendedL2 && entry.Bitmap != 0)
        {
            FormatError.Throw("qcow2 L2 table", l2Offset, $"compressed guest cluster {guestCluster} has a non-zero subcluster bitmap.");
        }

        return entry;
    }

    /// <summary>Records which host clusters hold active L2 tables and refcount blocks (for the overlap check).</summary>
    private void RebuildMetadataIndex()
    {
        _metadataClusters.Clear();
        foreach (ulong e in _l1)
        {
            long off = (long)(e & Qcow2L1Entry.OffsetMask);
            if (off != 0)
            {
                _metadataClusters.Add(off >> _clusterBits);
            }
        }

        foreach (ulong e in _refcounts.Table)
        {
            long off = (long)(e & Qcow2Refcounts.TableOffsetMask);
            if (off != 0)
            {
                _metadataClusters.Add(off >> _clusterBits);
            }
        }
    }

    /// <summary>
    /// Refuses a data write to host bytes [<paramref name="offset"/>, +<paramref name="length"/>) that
    /// would land on metadata (header, L1, L2, refcount table/blocks, snapshot table, snapshot L1s).
    /// </summary>
    internal void CheckMetadataOverlap(long offset, long length)
    {
        long first = offset >> _clusterBits;
        long last = (offset + length - 1) >> _clusterBits;
        for (long c = first; c <= last; c++)
        {
            string? what = null;
            if (c == 0)
            {
                what = "the header";
            }
            else if (InRange(c, (long)_header.L1TableOffset, (long)_l1.Length * 8))
            {
                what = "the active L1 table";
            }
            else if (InRange(c, (long)_header.RefcountTableOffset, (long)_refcounts.Table.Length * 8))
            {
                what = "the refcount table";
            }
            else if (_metadataClusters.Contains(c))
            {
                what = "an L2 table or refcount block";
            }
            else if (_header.SnapshotCount > 0 && InRange(c, (long)_header.SnapshotsOffset, SnapshotTableLength()))
            {
                what = "the snapshot table";
            }
            else
            {
                foreach (Qcow2SnapshotEntry s in _snapshotEntries)
                {
                    if (InRange(c, (long)s.L1TableOffset, (long)s.L1Size * 8))
                    {
                        what = "a snapshot L1 table";
                        break;
                    }
                }
            }

            if (what is not null)
            {
                FormatError.Throw("qcow2 image", c << _clusterBits, $"a data write would overwrite {what}; the metadata is inconsistent (run check).");
            }
        }

        bool InRange(long cluster, long start, long bytes) =>
            bytes > 0 && cluster >= start >> _clusterBits && cluster <= (start + bytes - 1) >> _clusterBits;
    }

    private long SnapshotTableLength()
    {
        long total = 0;
        foreach (Qcow2SnapshotEntry s in _snapshotEntries)
        {
            total += s.DiskLength;
        }

        return total;
    }

    /// <summary>Writes the first header_length bytes of the header (fixed and additional fields; extensions untouched).</summary>
    internal void WriteHeaderFields()
    {
        Span<byte> buffer = stackalloc byte[_header.HeaderLength <= 1024 ? _header.HeaderLength : 0];
        byte[]? big = buffer.IsEmpty ? new byte[_header.HeaderLength] : null;
        Span<byte> dest = big ?? buffer;
        _header.WriteFixedTo(dest);
        _host.Write(0, dest);
    }

    internal static void WriteEntry(BlockDevice host, long offset, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, value);
        host.Write(offset, b);
    }
}
