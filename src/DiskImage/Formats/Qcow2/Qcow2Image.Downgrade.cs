namespace DiskImage.Formats.Qcow2;

/// <content>
/// What a downgrade to version 2 needs before the header changes (<c>qemu-img amend -o compat=0.10</c>):
/// version 2 has no zero flag, so zero clusters become data clusters that hold zeros, or are
/// deallocated when nothing would show through.
/// </content>
public sealed partial class Qcow2Image
{
    /// <summary>
    /// The reason QEMU gives for refusing to downgrade this image to version 2 before it changes
    /// anything, checked in QEMU's order (refcount width, external data file, snapshots, incompatible
    /// features other than the compression type), or null when the downgrade can go ahead.
    /// </summary>
    internal string? DowngradeRefusal()
    {
        if (_refcountOrder != 4)
        {
            return "compat=0.10 requires refcount_bits=16";
        }

        if (_externalData || _header.ExternalDataFileName is not null)
        {
            return "Cannot downgrade an image with a data file";
        }

        foreach (Qcow2SnapshotEntry e in _snapshotEntries)
        {
            if (e.VmStateSize > uint.MaxValue || (e.DiskSize is { } size && size != _header.Size))
            {
                return "Internal snapshots prevent downgrade of image";
            }
        }

        const Qcow2IncompatibleFeatures ignored = Qcow2IncompatibleFeatures.Dirty | Qcow2IncompatibleFeatures.CompressionType;
        ulong other = (ulong)(_header.IncompatibleFeatures & ~ignored);
        return other != 0 ? $"Cannot downgrade an image with incompatible features 0x{other:x} set" : null;
    }

    /// <summary>
    /// Turns every zero cluster of the active L1 table and of every snapshot's L1 table into something
    /// version 2 can express, as QEMU's <c>qcow2_expand_zero_clusters</c> does: a zero cluster without
    /// a host cluster is deallocated when the image has no backing file, and otherwise gets a new host
    /// cluster of zeros (its refcount that of the L2 table that names it); a zero cluster with a host
    /// cluster has that cluster zeroed and becomes a normal one. A preallocated zero cluster that some
    /// other table still uses as data (QEMU would zero it under that table) is handled like one
    /// without a host cluster instead, so no other view changes.
    /// </summary>
    /// <exception cref="NotSupportedException">The image was opened read-only or has extended L2 entries.</exception>
    internal void ExpandZeroClusters()
    {
        ThrowIfDisposed();
        EnsureWritable();
        if (_extendedL2)
        {
            throw new NotSupportedException("Zero clusters of an image with extended L2 entries cannot be expanded.");
        }

        _lock.EnterWriteLock();
        try
        {
            PrepareForWrite();
            FlushMetadata();
            bool backed = _header.BackingFileNameBytes is not null;
            byte[] zeros = new byte[_clusterSize];
            ExpandZeroClustersIn(_l1, backed, zeros);
            foreach (Qcow2SnapshotEntry e in _snapshotEntries.ToArray())
            {
                ExpandZeroClustersIn(ReadL1Table((long)e.L1TableOffset, (int)e.L1Size), backed, zeros);
            }

            FlushMetadata();
            _host.Flush();
            _l2Cache.Clear();
            Interlocked.Increment(ref _generation);
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Whether any cluster of the guest disk (the active L1 table) is compressed.</summary>
    internal bool HasCompressedClusters()
    {
        ThrowIfDisposed();
        int entries = 1 << _l2Bits;
        foreach (ulong l1Entry in _l1)
        {
            long l2Offset = (long)(l1Entry & Qcow2L1Entry.OffsetMask);
            if (l2Offset == 0)
            {
                continue;
            }

            ValidateMetadataCluster(l2Offset, "L2 table");
            ulong[] table = GetL2Table(l2Offset);
            for (int j = 0; j < entries; j++)
            {
                if (_mapping.EntryAt(table, j).IsCompressed)
                {
                    return true;
                }
            }
        }

        return false;
    }

    private void ExpandZeroClustersIn(ulong[] l1, bool backed, byte[] zeros)
    {
        int entries = 1 << _l2Bits;
        foreach (ulong l1Entry in l1)
        {
            long l2Offset = (long)(l1Entry & Qcow2L1Entry.OffsetMask);
            if (l2Offset == 0)
            {
                continue;
            }

            ValidateMetadataCluster(l2Offset, "L2 table");
            ulong l2Refcount = _refcounts.GetRefcount(l2Offset >> _clusterBits);
            ulong[] table = GetL2Table(l2Offset);
            bool dirty = false;
            for (int j = 0; j < entries; j++)
            {
                Qcow2L2Entry e = _mapping.EntryAt(table, j);
                if (e.IsCompressed || (e.Value & Qcow2L2Entry.ZeroFlag) == 0)
                {
                    continue;
                }

                long host = e.HostOffset;
                if (host != 0 && _refcounts.GetRefcount(host >> _clusterBits) > l2Refcount)
                {
                    // Shared beyond this table: another view uses its bytes. Drop this table's references.
                    for (ulong k = 0; k < l2Refcount; k++)
                    {
                        _refcounts.DecrementRefcount(host >> _clusterBits);
                    }

                    host = 0;
                }

                if (host == 0)
                {
                    if (!backed)
                    {
                        _mapping.StoreEntry(table, j, default);
                        dirty = true;
                        continue;
                    }

                    host = _refcounts.AllocateClusters(1);
                    if (l2Refcount > 1)
                    {
                        _refcounts.SetRefcount(host >> _clusterBits, l2Refcount);
                    }
                }

                HostWrite(host, zeros);
                ulong value = (ulong)host | (l2Refcount == 1 ? Qcow2L2Entry.CopiedFlag : 0);
                _mapping.StoreEntry(table, j, new Qcow2L2Entry(value));
                dirty = true;
            }

            if (dirty)
            {
                _host.Flush();
                WriteL2Table(l2Offset, table);
            }
        }
    }
}
