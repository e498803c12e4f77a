using System.Buffers.Binary;
using System.Text;

namespace DiskImage.Formats.Qcow2;

/// <content>
/// Internal snapshots changed as QEMU changes them (<c>qemu-img snapshot -c/-d/-a</c>): a new
/// snapshot is a copy of the active L1 table whose clusters gain one reference; deleting one drops
/// those references; applying one makes its L1 table the active one. The COPIED flags of the active
/// tables follow the refcounts after each step, and the snapshot table is rewritten in new clusters
/// before the header points at it (the old table is freed last).
/// </content>
public sealed partial class Qcow2Image
{
    /// <summary>Creates an internal snapshot of the current guest disk (<c>qemu-img snapshot -c</c>).</summary>
    /// <param name="name">The snapshot's name (may repeat another's, as in QEMU).</param>
    /// <param name="time">The time recorded (microsecond precision, as qemu-img records it).</param>
    /// <returns>The new snapshot, with the next free numeric ID.</returns>
    /// <exception cref="NotSupportedException">The image was opened read-only, or has persistent bitmaps.</exception>
    /// <exception cref="InvalidOperationException">The image has the most snapshots QEMU allows, or a refcount would overflow.</exception>
    public Qcow2Snapshot CreateSnapshot(string name, DateTimeOffset time)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfDisposed();
        EnsureWritable();
        RequireNoBitmaps("create");
        _lock.EnterWriteLock();
        try
        {
            PrepareForWrite();
            FlushMetadata();
            if (_snapshotEntries.Count >= MaxSnapshots)
            {
                throw new InvalidOperationException("Too many snapshots");
            }

            if (_refcountOrder == 0)
            {
                // One-bit refcounts cannot count a second reference; QEMU fails with EINVAL before it writes.
                throw new InvalidOperationException("-22 (Invalid argument)");
            }

            long next = 1;
            foreach (Qcow2SnapshotEntry e in _snapshotEntries)
            {
                if (long.TryParse(Encoding.UTF8.GetString(e.IdString), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long id) && id >= next)
                {
                    next = id + 1;
                }
            }

            // The L1 copy (COPIED flags cleared: they only mean something in the active table).
            long l1Offset = 0;
            if (_l1.Length > 0)
            {
                int bytes = _l1.Length * 8;
                l1Offset = _refcounts.AllocateClusters((int)(AlignUp(bytes) >> _clusterBits));
                byte[] raw = new byte[AlignUp(bytes)];
                for (int i = 0; i < _l1.Length; i++)
                {
                    BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), _l1[i] & ~Qcow2L1Entry.CopiedFlag);
                }

                HostWrite(l1Offset, raw);
            }

            UpdateTreeRefcounts(_l1, active: true, addend: 1);

            long unixSeconds = time.ToUnixTimeSeconds();
            long micros = (time.UtcTicks % TimeSpan.TicksPerSecond) / 10;
            byte[] extra = new byte[24];
            BinaryPrimitives.WriteUInt64BigEndian(extra.AsSpan(8), _header.Size);
            var entry = new Qcow2SnapshotEntry
            {
                L1TableOffset = (ulong)l1Offset,
                L1Size = (uint)_l1.Length,
                IdString = Encoding.UTF8.GetBytes(next.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                Name = Encoding.UTF8.GetBytes(name),
                DateSeconds = (uint)unixSeconds,
                DateNanoseconds = (uint)(micros * 1000),
                ExtraData = extra,
            };
            var entries = new List<Qcow2SnapshotEntry>(_snapshotEntries) { entry };
            WriteSnapshotTable(entries);
            _host.Flush();
            return _snapshots[^1];
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Deletes <paramref name="snapshot"/>, freeing what only it referenced (<c>qemu-img snapshot -d</c>).</summary>
    /// <exception cref="ArgumentException"><paramref name="snapshot"/> is not one of this image's snapshots.</exception>
    /// <exception cref="NotSupportedException">The image was opened read-only, or has persistent bitmaps.</exception>
    public void DeleteSnapshot(Qcow2Snapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ThrowIfDisposed();
        EnsureWritable();
        RequireNoBitmaps("delete");
        _lock.EnterWriteLock();
        try
        {
            PrepareForWrite();
            FlushMetadata();
            int index = IndexOfSnapshot(snapshot);
            Qcow2SnapshotEntry entry = _snapshotEntries[index];
            var entries = new List<Qcow2SnapshotEntry>(_snapshotEntries);
            entries.RemoveAt(index);
            WriteSnapshotTable(entries);

            ulong[] l1 = ReadL1Table((long)entry.L1TableOffset, (int)entry.L1Size);
            UpdateTreeRefcounts(l1, active: false, addend: -1);
            FreeRun((long)entry.L1TableOffset, (long)entry.L1Size * 8);
            UpdateTreeRefcounts(_l1, active: true, addend: 0);
            _host.Flush();
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Makes the guest disk what it was when <paramref name="snapshot"/> was taken; the snapshot stays (<c>qemu-img snapshot -a</c>).</summary>
    /// <exception cref="ArgumentException"><paramref name="snapshot"/> is not one of this image's snapshots.</exception>
    /// <exception cref="NotSupportedException">The image was opened read-only or has persistent bitmaps, or the snapshot's disk size differs from the current one.</exception>
    public void ApplySnapshot(Qcow2Snapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ThrowIfDisposed();
        EnsureWritable();
        RequireNoBitmaps("apply");
        _lock.EnterWriteLock();
        try
        {
            int index = IndexOfSnapshot(snapshot);
            Qcow2SnapshotEntry entry = _snapshotEntries[index];
            if (entry.DiskSize is { } size && size != _header.Size)
            {
                throw new NotSupportedException($"Applying a snapshot of another disk size ({size} bytes, the image has {_header.Size}) is not supported.");
            }

            if (entry.L1Size > _l1.Length)
            {
                throw new NotSupportedException("Applying a snapshot whose L1 table is larger than the active one is not supported.");
            }

            PrepareForWrite();
            FlushMetadata();
            ulong[] snapshotL1 = ReadL1Table((long)entry.L1TableOffset, (int)entry.L1Size);
            UpdateTreeRefcounts(snapshotL1, active: false, addend: 1);

            // The active L1 table in place: the snapshot's entries, the rest empty.
            ulong[] old = (ulong[])_l1.Clone();
            var fresh = new ulong[_l1.Length];
            Array.Copy(snapshotL1, fresh, snapshotL1.Length);
            byte[] raw = new byte[fresh.Length * 8];
            for (int i = 0; i < fresh.Length; i++)
            {
                BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), fresh[i]);
            }

            _host.Write((long)_header.L1TableOffset, raw);
            UpdateTreeRefcounts(old, active: false, addend: -1);
            _l1 = fresh;
            UpdateTreeRefcounts(_l1, active: true, addend: 0);
            RebuildMetadataIndex();
            _l2Cache.Clear();
            Interlocked.Increment(ref _generation);
            _host.Flush();
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    private void RequireNoBitmaps(string what)
    {
        if (_bitmapDirectory is { Count: > 0 })
        {
            throw new NotSupportedException($"Cannot {what} internal snapshots of an image with persistent dirty bitmaps (not supported by diskimage).");
        }
    }

    private int IndexOfSnapshot(Qcow2Snapshot snapshot)
    {
        for (int i = 0; i < _snapshots.Count; i++)
        {
            if (ReferenceEquals(_snapshots[i], snapshot) || _snapshots[i] == snapshot)
            {
                return i;
            }
        }

        throw new ArgumentException("The snapshot does not belong to this image.", nameof(snapshot));
    }

    /// <summary>
    /// Adds <paramref name="addend"/> (1, -1 or 0) to the refcount of every L2 table and cluster that
    /// <paramref name="l1"/> references, then sets the COPIED flags (refcount exactly 1) of the L2
    /// entries and, for the <paramref name="active"/> table, of the L1 entries (QEMU's
    /// <c>qcow2_update_snapshot_refcount</c>).
    /// </summary>
    private void UpdateTreeRefcounts(ulong[] l1, bool active, int addend)
    {
        int entries = 1 << _l2Bits;
        for (int i = 0; i < l1.Length; i++)
        {
            long l2Offset = (long)(l1[i] & Qcow2L1Entry.OffsetMask);
            if (l2Offset == 0)
            {
                continue;
            }

            ValidateMetadataCluster(l2Offset, "L2 table");
            long l2Cluster = l2Offset >> _clusterBits;
            bool survives = (long)_refcounts.GetRefcount(l2Cluster) + addend > 0;
            ulong[] table = GetL2Table(l2Offset);
            bool changed = false;
            for (int j = 0; j < entries; j++)
            {
                Qcow2L2Entry e = _mapping.EntryAt(table, j);
                if (e.IsCompressed)
                {
                    if (addend != 0)
                    {
                        Qcow2CompressedClusterDescriptor d = Qcow2CompressedClusterDescriptor.Parse(e.Value, _clusterBits);
                        long start = d.HostOffset & ~(long)(Qcow2CompressedClusterDescriptor.SectorSize - 1);
                        long end = start + ((long)d.SectorCount * Qcow2CompressedClusterDescriptor.SectorSize);
                        for (long c = start >> _clusterBits; c <= (end - 1) >> _clusterBits; c++)
                        {
                            AddRefcount(c, addend);
                        }
                    }

                    continue;
                }

                if (e.HostOffset == 0)
                {
                    continue;
                }

                long cluster = e.HostOffset >> _clusterBits;
                if (addend != 0)
                {
                    AddRefcount(cluster, addend);
                }

                ulong value = _refcounts.GetRefcount(cluster) == 1 ? e.Value | Qcow2L2Entry.CopiedFlag : e.Value & ~Qcow2L2Entry.CopiedFlag;
                if (value != e.Value)
                {
                    _mapping.StoreEntry(table, j, new Qcow2L2Entry(value, e.Bitmap));
                    changed = true;
                }
            }

            if (changed && survives)
            {
                WriteL2Table(l2Offset, table);
            }

            if (addend != 0)
            {
                AddRefcount(l2Cluster, addend);
            }

            if (active)
            {
                ulong entry = _refcounts.GetRefcount(l2Cluster) == 1 ? l1[i] | Qcow2L1Entry.CopiedFlag : l1[i] & ~Qcow2L1Entry.CopiedFlag;
                if (entry != l1[i])
                {
                    l1[i] = entry;
                    if (ReferenceEquals(l1, _l1))
                    {
                        WriteEntry(_host, (long)_header.L1TableOffset + ((long)i * 8), entry);
                    }
                }
            }
        }
    }

    private void AddRefcount(long cluster, int addend)
    {
        if (addend < 0)
        {
            _refcounts.DecrementRefcount(cluster);
            return;
        }

        ulong value = _refcounts.GetRefcount(cluster) + (ulong)addend;
        ulong max = _refcountOrder == 6 ? ulong.MaxValue : (1UL << (1 << _refcountOrder)) - 1;
        if (value > max || value == 0)
        {
            throw new InvalidOperationException($"The refcount of host cluster {cluster} would exceed the {RefcountBits}-bit maximum.");
        }

        _refcounts.SetRefcount(cluster, value);
    }

    private void WriteL2Table(long offset, ulong[] table)
    {
        byte[] raw = new byte[_clusterSize];
        for (int i = 0; i < table.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), table[i]);
        }

        _host.Write(offset, raw);
    }

    private void FreeRun(long offset, long bytes)
    {
        if (offset == 0 || bytes <= 0)
        {
            return;
        }

        for (long c = offset >> _clusterBits; c <= (offset + bytes - 1) >> _clusterBits; c++)
        {
            _refcounts.DecrementRefcount(c);
        }
    }

    /// <summary>Writes <paramref name="entries"/> as the new snapshot table in fresh clusters, points the header at it, then frees the old table.</summary>
    private void WriteSnapshotTable(List<Qcow2SnapshotEntry> entries)
    {
        long oldOffset = (long)_header.SnapshotsOffset;
        long oldBytes = _header.SnapshotCount > 0 ? SnapshotTableLength() : 0;
        long bytes = 0;
        foreach (Qcow2SnapshotEntry e in entries)
        {
            bytes += e.DiskLength;
        }

        if (bytes > MaxSnapshotTableBytes)
        {
            throw new InvalidOperationException("The snapshot table would be too large.");
        }

        long offset = 0;
        if (entries.Count > 0)
        {
            byte[] raw = new byte[AlignUp(bytes)];
            int pos = 0;
            foreach (Qcow2SnapshotEntry e in entries)
            {
                pos += e.WriteTo(raw.AsSpan(pos));
            }

            offset = _refcounts.AllocateClusters((int)(raw.Length >> _clusterBits));
            HostWrite(offset, raw);
            _host.Flush();
        }

        _header.SnapshotCount = (uint)entries.Count;
        _header.SnapshotsOffset = (ulong)offset;
        WriteHeaderFields();
        _snapshotEntries.Clear();
        _snapshotEntries.AddRange(entries);
        var list = new List<Qcow2Snapshot>(entries.Count);
        foreach (Qcow2SnapshotEntry e in entries)
        {
            list.Add(e.ToSnapshot((long)_header.Size));
        }

        _snapshots = list.AsReadOnly();
        if (oldBytes > 0)
        {
            FreeRun(oldOffset, oldBytes);
        }
    }
}
