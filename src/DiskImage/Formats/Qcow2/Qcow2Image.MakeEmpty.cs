using System.Buffers;

namespace DiskImage.Formats.Qcow2;

/// <content>Emptying the active layer (what <c>qemu-img commit</c> does to the top image after committing it).</content>
public sealed partial class Qcow2Image
{
    /// <summary>
    /// Makes every guest cluster of the active layer unallocated, so the guest view is the backing
    /// file's again (all zeros without one), and frees the clusters only the active layer used.
    /// Snapshots keep their data; L2 tables stay allocated (with empty entries), as QEMU leaves them
    /// when it discards clusters.
    /// </summary>
    /// <exception cref="NotSupportedException">The image was opened read-only.</exception>
    internal void MakeEmpty()
    {
        ThrowIfDisposed();
        EnsureWritable();
        _lock.EnterWriteLock();
        try
        {
            PrepareForWrite();
            FlushMetadata();
            MarkBitmapsDirty(0, VirtualSize);
            int entrySize = _extendedL2 ? 16 : 8;
            int entries = 1 << _l2Bits;
            byte[] raw = ArrayPool<byte>.Shared.Rent(entries * entrySize);
            var released = new List<Qcow2L2Entry>();
            try
            {
                for (long l1Index = 0; l1Index < _l1.Length; l1Index++)
                {
                    if ((_l1[l1Index] & Qcow2L1Entry.OffsetMask) == 0)
                    {
                        continue;
                    }

                    long firstCluster = l1Index << _l2Bits;
                    ulong[] current = GetL2Table((long)(_l1[l1Index] & Qcow2L1Entry.OffsetMask));
                    if (IsAllZero(current))
                    {
                        continue;
                    }

                    // The table may be shared with a snapshot: GetL2ForWrite gives a private copy.
                    (long l2Offset, ulong[] table, _) = _mapping.GetL2ForWrite(firstCluster);
                    released.Clear();
                    for (int i = 0; i < entries; i++)
                    {
                        Qcow2L2Entry e = _mapping.EntryAt(table, i);
                        _mapping.ValidateEntry(e, l2Offset, firstCluster + i);
                        released.Add(e);
                        _mapping.StoreEntry(table, i, default);
                    }

                    raw.AsSpan(0, entries * entrySize).Clear();
                    _host.Write(l2Offset, raw.AsSpan(0, entries * entrySize));
                    foreach (Qcow2L2Entry old in released)
                    {
                        _mapping.ReleaseEntry(old);
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(raw);
            }

            Interlocked.Increment(ref _generation);
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    private static bool IsAllZero(ulong[] table)
    {
        foreach (ulong v in table)
        {
            if (v != 0)
            {
                return false;
            }
        }

        return true;
    }
}
