using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>Allocation status (what <c>qemu-img map</c> reports), following the backing chain.</content>
public sealed partial class Qcow2Image
{
    internal AllocationExtent GetAllocationGuest(ulong[]? l1, long offset, long maxLength)
    {
        ThrowIfDisposed();
        _lock.EnterReadLock();
        try
        {
            AllocationExtent extent = GetAllocationUnlocked(l1 ?? _l1, offset, maxLength);
            // Encrypted data has no host offset a reader could use as plain bytes (qemu-img map leaves it out).
            return _encryption is null ? extent : extent with { HostOffset = -1 };
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    private AllocationExtent GetAllocationUnlocked(ulong[] l1, long offset, long maxLength)
    {
        long end = offset + maxLength;
        (AllocationKind kind, long host, long length) = Classify(l1, offset, end);
        long pos = offset + length;
        while (pos < end)
        {
            (AllocationKind k, long h, long n) = Classify(l1, pos, end);
            bool sameHost = host < 0 ? h < 0 : h == host + (pos - offset);
            if (k != kind || !sameHost)
            {
                break;
            }

            pos += n;
        }

        if (kind != AllocationKind.Unallocated || _backing is null)
        {
            return new AllocationExtent(offset, pos - offset, kind, host, 0);
        }

        // Unallocated here: the backing chain decides, one level deeper.
        long backingLength = _backing.Content.Length;
        if (offset >= backingLength)
        {
            return new AllocationExtent(offset, pos - offset, AllocationKind.Unallocated, -1, 0);
        }

        AllocationExtent below = _backing.Content.GetAllocation(offset, Math.Min(pos, backingLength) - offset);
        return new AllocationExtent(offset, below.Length, below.Kind, below.HostOffset, below.Depth + 1);
    }

    /// <summary>The state at <paramref name="offset"/> and how far (up to the cluster end, or the L1 entry's range when no L2 table exists) it lasts.</summary>
    private (AllocationKind Kind, long Host, long Length) Classify(ulong[] l1, long offset, long end)
    {
        long guestCluster = offset >> _clusterBits;
        long l1Index = guestCluster >> _l2Bits;
        if (l1Index >= l1.Length || (l1[l1Index] & Qcow2L1Entry.OffsetMask) == 0)
        {
            long rangeEnd = (l1Index + 1) << (_l2Bits + _clusterBits);
            return (AllocationKind.Unallocated, -1, Math.Min(rangeEnd, end) - offset);
        }

        int inCluster = (int)(offset & (_clusterSize - 1));
        long clusterRest = Math.Min(_clusterSize - inCluster, end - offset);
        Qcow2L2Entry e = GetL2Entry(l1, guestCluster);
        switch (e.GetClusterType(_extendedL2, _externalData))
        {
            case Qcow2ClusterType.Compressed:
                return (AllocationKind.Data, -1, clusterRest);
            case Qcow2ClusterType.ZeroPlain:
                return (AllocationKind.Zero, -1, clusterRest);
            case Qcow2ClusterType.ZeroAllocated:
                return (AllocationKind.Zero, e.HostOffset + inCluster, clusterRest);
            case Qcow2ClusterType.Unallocated when !_extendedL2 || e.Bitmap == 0:
                return (AllocationKind.Unallocated, -1, clusterRest);
            case Qcow2ClusterType.Normal when !_extendedL2 || e.AllocatedBits == uint.MaxValue:
                return (AllocationKind.Data, e.HostOffset + inCluster, clusterRest);
        }

        // Extended L2 with mixed subclusters.
        int sc = inCluster >> _subclusterBits;
        Qcow2SubclusterType type = e.GetSubclusterType(sc, _externalData);
        int scEnd = (sc + 1) << _subclusterBits;
        while (scEnd < _clusterSize && e.GetSubclusterType(scEnd >> _subclusterBits, _externalData) == type)
        {
            scEnd += 1 << _subclusterBits;
        }

        long length = Math.Min(scEnd - inCluster, end - offset);
        return type switch
        {
            Qcow2SubclusterType.Normal => (AllocationKind.Data, e.HostOffset + inCluster, length),
            Qcow2SubclusterType.ZeroPlain => (AllocationKind.Zero, -1, length),
            Qcow2SubclusterType.ZeroAllocated => (AllocationKind.Zero, e.HostOffset + inCluster, length),
            Qcow2SubclusterType.UnallocatedPlain => (AllocationKind.Unallocated, -1, length),

            // qemu-img map reports the reserved host location of unallocated subclusters.
            Qcow2SubclusterType.UnallocatedAllocated => (AllocationKind.Unallocated, _backing is null ? e.HostOffset + inCluster : -1, length),
            _ => FormatError.Throw<(AllocationKind, long, long)>("qcow2 L2 table", -1, $"invalid subcluster {sc} of guest cluster {guestCluster} (bitmap 0x{e.Bitmap:x16})."),
        };
    }
}
