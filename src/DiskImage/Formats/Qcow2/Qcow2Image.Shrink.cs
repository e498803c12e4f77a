using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>Shrinking over data (<c>qemu-img resize --shrink</c>): what lies past the new end is discarded.</content>
public sealed partial class Qcow2Image
{
    /// <summary>
    /// Discards the guest clusters from <paramref name="firstDropped"/> to the end of the active L1
    /// table, as QEMU's shrink does (under the write lock, metadata flushed): L2 tables wholly past
    /// the new end leave the active L1 table and lose this image's references (freed unless a
    /// snapshot still uses them); in the boundary table the entries past the end become unallocated
    /// (a table shared with a snapshot is copied first). Snapshots keep their data. Each table is
    /// changed on disk before the references it held are dropped, so a crash can only leak.
    /// </summary>
    private void DiscardPastEnd(long firstDropped)
    {
        int entries = 1 << _l2Bits;
        for (long l1Index = firstDropped >> _l2Bits; l1Index < _l1.Length; l1Index++)
        {
            long l2Offset = (long)(_l1[l1Index] & Qcow2L1Entry.OffsetMask);
            if (l2Offset == 0)
            {
                continue;
            }

            long firstCluster = l1Index << _l2Bits;
            int from = (int)Math.Max(0, firstDropped - firstCluster);
            if (from == 0)
            {
                // The whole table goes: the L1 entry first, then the references it held.
                ValidateMetadataCluster(l2Offset, "L2 table");
                ulong[] table = GetL2Table(l2Offset);
                bool exclusive = _refcounts.GetRefcount(l2Offset >> _clusterBits) == 1;
                _mapping.SetL1Entry(l1Index, 0);
                for (int i = 0; i < entries; i++)
                {
                    Qcow2L2Entry e = _mapping.EntryAt(table, i);
                    _mapping.ValidateEntry(e, l2Offset, firstCluster + i);
                    _mapping.ReleaseEntry(e);
                }

                if (exclusive)
                {
                    _metadataClusters.Remove(l2Offset >> _clusterBits);
                    _l2Cache.Remove(l2Offset);
                }

                _refcounts.DecrementRefcount(l2Offset >> _clusterBits);
                continue;
            }

            (long offset, ulong[] own, _) = _mapping.GetL2ForWrite(firstCluster);
            var released = new List<Qcow2L2Entry>();
            for (int i = from; i < entries; i++)
            {
                Qcow2L2Entry e = _mapping.EntryAt(own, i);
                _mapping.ValidateEntry(e, offset, firstCluster + i);
                if (e.Value != 0 || e.Bitmap != 0)
                {
                    released.Add(e);
                    _mapping.StoreEntry(own, i, default);
                }
            }

            if (released.Count > 0)
            {
                _mapping.CommitEntries(offset, own, from, entries - from);
                foreach (Qcow2L2Entry e in released)
                {
                    _mapping.ReleaseEntry(e);
                }
            }
        }

        FlushMetadata();
        Interlocked.Increment(ref _generation);
    }

    /// <summary>Cuts the qcow2 file in <paramref name="host"/> (closed elsewhere) after its last cluster in use, as QEMU does after a shrink.</summary>
    internal static void TruncateAfterLastUsedCluster(BlockDevice host) => Qcow2Checker.TruncateAfterLastUsedCluster(host);
}
