using System.Buffers.Binary;

namespace DiskImage.Formats.Qcow2;

/// <content>
/// Repair of the snapshot table (<see cref="Qcow2RepairMode.All"/>): entries whose extra data is
/// incomplete (version 3 needs vm_state_size_large and disk_size) or too large are rewritten with
/// the full 24 bytes of known extra data, as qemu-img check does, into a new table; the header
/// switches to it in one write and the old table is freed.
/// </content>
internal sealed partial class Qcow2Checker
{
    private const int SnapshotExtraSize = 24;   // vm_state_size_large, disk_size, icount

    private readonly List<SnapshotEntryBytes> _snapshotEntries = [];
    private Qcow2RepairMode _repairMode;
    private long _snapshotCorruptions;

    private void KeepSnapshotEntry(ulong position, ReadOnlySpan<byte> fixedPart, uint extraSize, ReadOnlySpan<byte> id, ReadOnlySpan<byte> name)
    {
        // qemu keeps at most 1024 bytes of extra data.
        byte[] extra = new byte[Math.Min(extraSize, 1024)];
        ReadZeroFilled(position + 40, extra);
        _snapshotEntries.Add(new SnapshotEntryBytes(fixedPart.ToArray(), extra, id.ToArray(), name.ToArray()));
    }

    /// <summary>Writes the snapshot table anew (qemu's qcow2_write_snapshots); false when it could not be placed.</summary>
    private bool RewriteSnapshotTable()
    {
        // Entries are 8-byte aligned; the table ends right after the last one.
        long size = 0;
        foreach (SnapshotEntryBytes e in _snapshotEntries)
        {
            size = ((size + 7) & ~7L) + 40 + Math.Max(SnapshotExtraSize, e.Extra.Length) + e.Id.Length + e.Name.Length;
        }

        byte[] table = new byte[size];
        long pos = 0;
        foreach (SnapshotEntryBytes e in _snapshotEntries)
        {
            pos = (pos + 7) & ~7L;
            Span<byte> d = table.AsSpan((int)pos);
            e.Fixed.CopyTo(d);
            int extraLength = Math.Max(SnapshotExtraSize, e.Extra.Length);
            BinaryPrimitives.WriteUInt32BigEndian(d[36..], (uint)extraLength);
            ulong vmStateLarge = e.Extra.Length >= 8 ? BinaryPrimitives.ReadUInt64BigEndian(e.Extra) : BinaryPrimitives.ReadUInt32BigEndian(e.Fixed.AsSpan(32));
            ulong diskSize = e.Extra.Length >= 16 ? BinaryPrimitives.ReadUInt64BigEndian(e.Extra.AsSpan(8)) : _virtualSize;
            ulong icount = e.Extra.Length >= 24 ? BinaryPrimitives.ReadUInt64BigEndian(e.Extra.AsSpan(16)) : ulong.MaxValue;
            BinaryPrimitives.WriteUInt64BigEndian(d[40..], vmStateLarge);
            BinaryPrimitives.WriteUInt64BigEndian(d[48..], diskSize);
            BinaryPrimitives.WriteUInt64BigEndian(d[56..], icount);
            if (e.Extra.Length > SnapshotExtraSize)
            {
                e.Extra.AsSpan(SnapshotExtraSize).CopyTo(d[(40 + SnapshotExtraSize)..]);
            }

            e.Id.CopyTo(d[(40 + extraLength)..]);
            e.Name.CopyTo(d[(40 + extraLength + e.Id.Length)..]);
            pos += 40 + extraLength + e.Id.Length + e.Name.Length;
        }

        long clusters = Math.Max(1, (size + _clusterSize - 1) / _clusterSize);
        long start = FindFreeStoredRun(clusters);
        if (start < 0)
        {
            AddMessage("ERROR failed to update the snapshot table: no free clusters covered by a refcount block");
            _checkErrors++;
            return false;
        }

        for (long c = start; c < start + clusters; c++)
        {
            SetStoredRefcount(c, 1);
        }

        ulong offset = (ulong)start << _clusterBits;
        WriteHost(offset, table);
        _host.Flush();

        // nb_snapshots (4 bytes at 60) and snapshots_offset (8 bytes at 64): one write.
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)_snapshotEntries.Count);
        BinaryPrimitives.WriteUInt64BigEndian(header[4..], offset);
        _host.Write(60, header);
        _host.Flush();

        ulong oldOffset = _snapshotsOffset;
        ulong oldSize = _snapshotsSize;
        _snapshotsOffset = offset;
        _snapshotsSize = (ulong)size;
        if (oldSize != 0)
        {
            if (oldOffset + oldSize > (ulong)_fileLength || (oldOffset & ClusterMask) != 0)
            {
                // qemu-img cannot free a table outside the file either; the clusters are left alone.
                AddMessage("qcow2_free_clusters failed: Invalid argument");
            }
            else
            {
                for (ulong c = oldOffset >> _clusterBits; c <= (oldOffset + oldSize - 1) >> _clusterBits; c++)
                {
                    if (TryGetStoredRefcount(c, out ulong refcount) && refcount > 0)
                    {
                        SetStoredRefcount((long)c, refcount - 1);
                    }
                }
            }
        }

        _host.Flush();
        return true;
    }

    /// <summary>First run of <paramref name="count"/> clusters whose stored refcount is 0 and whose refcount blocks exist; -1 when there is none.</summary>
    private long FindFreeStoredRun(long count)
    {
        long perBlock = RefblockEntries;
        long run = 0;
        long fileClusters = (long)(((ulong)_fileLength + ClusterMask) >> _clusterBits);
        long limit = Math.Min(_refTableEntries * perBlock, fileClusters + count + perBlock);
        for (long c = 1; c < limit; c++)
        {
            bool covered = (RefTableEntry(c / perBlock) & RefTableOffsetMask) != 0;
            if (covered && TryGetStoredRefcount((ulong)c, out ulong refcount) && refcount == 0)
            {
                if (++run == count)
                {
                    return c - count + 1;
                }
            }
            else
            {
                run = 0;
                if (!covered)
                {
                    // Skip the rest of a range without a refcount block.
                    c = ((c / perBlock) + 1) * perBlock - 1;
                }
            }
        }

        return -1;
    }

    /// <summary>Sets the stored refcount of <paramref name="cluster"/>, whose refcount block exists.</summary>
    private void SetStoredRefcount(long cluster, ulong value)
    {
        long perBlock = RefblockEntries;
        ulong blockOffset = RefTableEntry(cluster / perBlock) & RefTableOffsetMask;
        byte[] block = new byte[_clusterSize];
        ReadZeroFilled(blockOffset, block);
        SetRefcount(block, cluster % perBlock, value);
        WriteHost(blockOffset, block);
        _rbIndex = -1;
    }

    private sealed record SnapshotEntryBytes(byte[] Fixed, byte[] Extra, byte[] Id, byte[] Name);
}
