using System.Buffers;
using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <summary>
/// Writes the guest-to-host mapping of an open image, the active L1 and L2 tables: gives a write a
/// private L2 table (a new one, or a copy of one shared with a snapshot), updates L2 and L1 entries
/// in memory and on disk, drops the references a replaced entry held, and grows the L1 table.
/// </summary>
internal sealed class Qcow2MappingWriter
{
    private readonly Qcow2Image _image;
    private readonly BlockDevice _host;
    private readonly Qcow2Header _header;
    private readonly int _clusterBits;
    private readonly int _clusterSize;
    private readonly int _l2Bits;          // log2 of entries per L2 table
    private readonly bool _extendedL2;
    private readonly bool _externalData;
    private readonly Qcow2TableCache<ulong[]> _l2Cache;
    private readonly HashSet<long> _metadataClusters;
    private readonly Qcow2RefcountManager _refcounts;
    private readonly Qcow2MetadataWriteback _writeback;

    /// <summary>
    /// Creates the writer of <paramref name="image"/>'s active tables; new and copied L2 tables go into
    /// <paramref name="l2Cache"/> and <paramref name="metadataClusters"/>, clusters come from <paramref name="refcounts"/>;
    /// while the image defers metadata, table changes go to <paramref name="writeback"/>.
    /// </summary>
    public Qcow2MappingWriter(Qcow2Image image, Qcow2TableCache<ulong[]> l2Cache, HashSet<long> metadataClusters, Qcow2RefcountManager refcounts, Qcow2MetadataWriteback writeback)
    {
        _writeback = writeback;
        _image = image;
        _host = image.Host;
        _header = image.Header;
        _clusterBits = image.ClusterBits;
        _clusterSize = image.ClusterSize;
        _l2Bits = image.L2Bits;
        _extendedL2 = image.HasExtendedL2;
        _externalData = image.HasExternalData;
        _l2Cache = l2Cache;
        _metadataClusters = metadataClusters;
        _refcounts = refcounts;
    }

    public Qcow2L2Entry EntryAt(ulong[] table, int index) =>
        _extendedL2 ? new Qcow2L2Entry(table[index * 2], table[(index * 2) + 1]) : new Qcow2L2Entry(table[index]);

    public void StoreEntry(ulong[] table, int index, Qcow2L2Entry entry)
    {
        if (_extendedL2)
        {
            table[index * 2] = entry.Value;
            table[(index * 2) + 1] = entry.Bitmap;
        }
        else
        {
            table[index] = entry.Value;
        }
    }

    public void ValidateEntry(Qcow2L2Entry e, long l2Offset, long guestCluster)
    {
        if (!e.IsCompressed && (e.HostOffset & (_clusterSize - 1)) != 0)
        {
            FormatError.Throw("qcow2 L2 table", l2Offset, $"cluster allocation offset {e.HostOffset} unaligned (guest cluster {guestCluster}).");
        }

        if (_extendedL2 && !e.IsValidBitmap(_externalData))
        {
            FormatError.Throw("qcow2 L2 table", l2Offset, $"invalid subcluster bitmap 0x{e.Bitmap:x16} for guest cluster {guestCluster}.");
        }
    }

    /// <summary>Updates one L2 entry in memory and on disk (after the data it points to was written).</summary>
    public void SetL2Entry(long l2Offset, ulong[] table, int index, Qcow2L2Entry entry)
    {
        StoreEntry(table, index, entry);
        if (Defer())
        {
            _writeback.MarkL2(l2Offset, table);
            return;
        }

        if (_extendedL2)
        {
            Span<byte> b = stackalloc byte[16];
            BinaryPrimitives.WriteUInt64BigEndian(b, entry.Value);
            BinaryPrimitives.WriteUInt64BigEndian(b[8..], entry.Bitmap);
            _host.Write(l2Offset + ((long)index * 16), b);
        }
        else
        {
            Qcow2Image.WriteEntry(_host, l2Offset + ((long)index * 8), entry.Value);
        }
    }

    /// <summary>
    /// Stores entries [<paramref name="index"/>, +<paramref name="count"/>) of <paramref name="table"/>
    /// (already updated in memory) on the host: deferred, or in one write.
    /// </summary>
    public void CommitEntries(long l2Offset, ulong[] table, int index, int count)
    {
        if (Defer())
        {
            _writeback.MarkL2(l2Offset, table);
            return;
        }

        int perEntry = _extendedL2 ? 2 : 1;
        int words = count * perEntry;
        byte[] raw = ArrayPool<byte>.Shared.Rent(words * 8);
        try
        {
            for (int i = 0; i < words; i++)
            {
                BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), table[(index * perEntry) + i]);
            }

            _host.Write(l2Offset + ((long)index * perEntry * 8), raw.AsSpan(0, words * 8));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    /// <summary>Whether a change is deferred; otherwise pending changes are written first.</summary>
    private bool Defer()
    {
        if (_image.DefersMetadata)
        {
            return true;
        }

        _writeback.Flush();
        return false;
    }

    /// <summary>Drops the reference an L2 entry held (after the entry was replaced on disk).</summary>
    public void ReleaseEntry(Qcow2L2Entry e)
    {
        if (e.IsCompressed)
        {
            Qcow2CompressedClusterDescriptor d = Qcow2CompressedClusterDescriptor.Parse(e.Value, _clusterBits);
            long start = d.HostOffset & ~(long)(Qcow2CompressedClusterDescriptor.SectorSize - 1);
            long end = start + ((long)d.SectorCount * Qcow2CompressedClusterDescriptor.SectorSize);
            for (long c = start >> _clusterBits; c <= (end - 1) >> _clusterBits; c++)
            {
                _refcounts.DecrementRefcount(c);
            }

            return;
        }

        if (e.HostOffset != 0)
        {
            _refcounts.DecrementRefcount(e.HostOffset >> _clusterBits);
        }
    }

    /// <summary>
    /// The L2 table for a write to <paramref name="guestCluster"/>: allocates a zeroed table when the
    /// L1 entry is empty, and copies a table shared with a snapshot (L1 entry without COPIED).
    /// </summary>
    public (long L2Offset, ulong[] Table, int Index) GetL2ForWrite(long guestCluster)
    {
        long l1Index = guestCluster >> _l2Bits;
        int index = (int)(guestCluster & ((1L << _l2Bits) - 1));
        if (l1Index >= _image.ActiveL1.Length)
        {
            throw new InvalidOperationException($"Guest cluster {guestCluster} is outside the L1 table.");
        }

        ulong l1e = _image.ActiveL1[l1Index];
        long l2Offset = (long)(l1e & Qcow2L1Entry.OffsetMask);
        if (l2Offset == 0)
        {
            long fresh = _refcounts.AllocateClusters(1);
            var table = new ulong[_clusterSize / 8];
            if (_image.DefersMetadata)
            {
                _writeback.MarkL2(fresh, table);
            }
            else
            {
                _image.HostWrite(fresh, Qcow2Image.Zeros(_clusterSize));
            }

            _metadataClusters.Add(fresh >> _clusterBits);
            _l2Cache.Put(fresh, table);
            SetL1Entry(l1Index, Qcow2L1Entry.Create(fresh, copied: true).Value);
            return (fresh, table, index);
        }

        if ((l2Offset & (_clusterSize - 1)) != 0)
        {
            FormatError.Throw("qcow2 L1 table", -1, $"L2 table offset {l2Offset} unaligned (L1 index {l1Index}).");
        }

        ulong[] current = _image.GetL2Table(l2Offset);
        if ((l1e & Qcow2L1Entry.CopiedFlag) != 0 && IsExclusivelyOwned(l2Offset, "L2 table"))
        {
            return (l2Offset, current, index);
        }

        // Shared with a snapshot: write to a private copy. Data cluster refcounts are unchanged
        // (they count L1 tables, not L2 copies); the old table loses one reference.
        long copyOffset = _refcounts.AllocateClusters(1);
        ulong[] copy = (ulong[])current.Clone();
        byte[] raw = ArrayPool<byte>.Shared.Rent(_clusterSize);
        try
        {
            for (int i = 0; i < copy.Length; i++)
            {
                BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), copy[i]);
            }

            _image.HostWrite(copyOffset, raw.AsSpan(0, _clusterSize));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }

        _metadataClusters.Add(copyOffset >> _clusterBits);
        _l2Cache.Put(copyOffset, copy);
        SetL1Entry(l1Index, Qcow2L1Entry.Create(copyOffset, copied: true).Value);
        _metadataClusters.Remove(l2Offset >> _clusterBits);
        _refcounts.DecrementRefcount(l2Offset >> _clusterBits);
        return (copyOffset, copy, index);
    }

    /// <summary>
    /// Whether a cluster flagged COPIED may be changed in place: its refcount must be exactly 1.
    /// A zero refcount means the entry points at space the image does not own (e.g. far past the
    /// end of the file), which is corruption; a higher one means the flag is stale, so the caller
    /// copies instead of writing into a shared cluster.
    /// </summary>
    public bool IsExclusivelyOwned(long hostOffset, string what)
    {
        long end = _image.HostEnd;
        if (hostOffset >= end)
        {
            FormatError.Throw("qcow2 L2 table", hostOffset, $"{what} at {hostOffset} lies past the end of the file ({end} bytes).");
        }

        ulong refcount = _refcounts.GetRefcount(hostOffset >> _clusterBits);
        if (refcount == 0)
        {
            FormatError.Throw("qcow2 refcounts", hostOffset, $"{what} at {hostOffset} is referenced but has refcount 0 (run check).");
        }

        return refcount == 1;
    }

    public void SetL1Entry(long index, ulong value)
    {
        _image.ActiveL1[index] = value;
        if (Defer())
        {
            _writeback.MarkL1Entry(index);
            return;
        }

        Qcow2Image.WriteEntry(_host, (long)_header.L1TableOffset + (index * 8), value);
    }

    public void GrowL1(int newEntries)
    {
        int oldEntries = _image.ActiveL1.Length;
        long oldOffset = (long)_header.L1TableOffset;
        long oldClusters = oldEntries == 0 ? 0 : _image.AlignUp((long)oldEntries * 8) >> _clusterBits;
        long newClusters = _image.AlignUp((long)newEntries * 8) >> _clusterBits;
        var newL1 = new ulong[newEntries];
        _image.ActiveL1.AsSpan().CopyTo(newL1);
        if (oldEntries > 0 && newClusters <= oldClusters)
        {
            // Fits in the clusters the table already owns: clear the new entries on disk first.
            _image.HostWrite(oldOffset + ((long)oldEntries * 8), Qcow2Image.Zeros((newEntries - oldEntries) * 8));
            _header.L1Size = (uint)newEntries;
            _image.WriteHeaderFields();
            _image.ActiveL1 = newL1;
            return;
        }

        long offset = _refcounts.AllocateClusters((int)newClusters);
        byte[] raw = new byte[newClusters << _clusterBits];
        for (int i = 0; i < newEntries; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), newL1[i]);
        }

        _image.HostWrite(offset, raw);
        _header.L1TableOffset = (ulong)offset;
        _header.L1Size = (uint)newEntries;
        _image.WriteHeaderFields();
        _image.ActiveL1 = newL1;
        for (long c = 0; c < oldClusters; c++)
        {
            _refcounts.DecrementRefcount((oldOffset >> _clusterBits) + c);
        }
    }
}
