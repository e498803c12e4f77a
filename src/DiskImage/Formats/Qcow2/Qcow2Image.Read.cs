using System.Buffers;

namespace DiskImage.Formats.Qcow2;

/// <content>The read path: L1 → L2 (cached) → data, zero, compressed or backing.</content>
public sealed partial class Qcow2Image
{
    // The last decompressed cluster per thread, so small sequential reads inside one compressed
    // cluster decompress it once. Keyed by image, metadata generation and descriptor.
    [ThreadStatic]
    private static byte[]? t_decompressed;

    [ThreadStatic]
    private static Qcow2Image? t_decompressedOwner;

    [ThreadStatic]
    private static ulong t_decompressedKey;

    [ThreadStatic]
    private static long t_decompressedGeneration;

    // Incremented whenever host clusters are freed or metadata reloaded (invalidates the per-thread cache).
    private long _generation;

    /// <summary>Invalidates the per-thread decompressed-cluster cache (host clusters were freed).</summary>
    internal void AdvanceGeneration() => Interlocked.Increment(ref _generation);

    /// <summary>Reads guest bytes through <paramref name="l1"/> (null: the active L1).</summary>
    internal void ReadGuest(ulong[]? l1, long offset, Span<byte> buffer)
    {
        ThrowIfDisposed();
        _lock.EnterReadLock();
        try
        {
            ReadGuestUnlocked(l1 ?? _l1, offset, buffer);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    private void ReadGuestUnlocked(ulong[] l1, long offset, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            long guestCluster = offset >> _clusterBits;
            int inCluster = (int)(offset & (_clusterSize - 1));
            int n = Math.Min(buffer.Length, _clusterSize - inCluster);
            Qcow2L2Entry entry = GetL2Entry(l1, guestCluster);
            if (buffer.Length > n && IsWholeData(entry))
            {
                // Coalesce following clusters stored right after this one into one host read.
                long host = entry.HostOffset;
                long next = guestCluster + 1;
                int total = n;
                long tableEnd = (guestCluster | ((1L << _l2Bits) - 1)) + 1;
                while (total < buffer.Length && next < tableEnd && total < (8 << 20))
                {
                    Qcow2L2Entry e = GetL2Entry(l1, next);
                    if (!IsWholeData(e) || e.HostOffset != host + inCluster + total)
                    {
                        break;
                    }

                    total += Math.Min(buffer.Length - total, _clusterSize);
                    next++;
                }

                ReadHost(host + inCluster, buffer[..total]);
                buffer = buffer[total..];
                offset += total;
                continue;
            }

            ReadFromEntry(entry, guestCluster, inCluster, buffer[..n]);
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>Whether the cluster is a normal cluster whose every byte is data in the host cluster.</summary>
    private bool IsWholeData(Qcow2L2Entry e) =>
        e.GetClusterType(_extendedL2, _externalData) == Qcow2ClusterType.Normal && (!_extendedL2 || e.AllocatedBits == uint.MaxValue);

    /// <summary>Reads part of one guest cluster given its L2 entry.</summary>
    private void ReadFromEntry(Qcow2L2Entry entry, long guestCluster, int inCluster, Span<byte> buffer)
    {
        long guestOffset = (guestCluster << _clusterBits) + inCluster;
        Qcow2ClusterType type = entry.GetClusterType(_extendedL2, _externalData);
        switch (type)
        {
            case Qcow2ClusterType.Unallocated:
                if (_extendedL2 && entry.ZeroBits != 0)
                {
                    ReadSubclusters(entry, guestCluster, inCluster, buffer);
                }
                else
                {
                    ReadBacking(guestOffset, buffer);
                }

                return;
            case Qcow2ClusterType.ZeroPlain:
            case Qcow2ClusterType.ZeroAllocated:
                buffer.Clear();
                return;
            case Qcow2ClusterType.Compressed:
                ReadCompressed(entry, inCluster, buffer);
                return;
            default:
                if (_extendedL2 && entry.AllocatedBits != uint.MaxValue)
                {
                    ReadSubclusters(entry, guestCluster, inCluster, buffer);
                }
                else
                {
                    ReadHost(entry.HostOffset + inCluster, buffer);
                }

                return;
        }
    }

    private void ReadSubclusters(Qcow2L2Entry entry, long guestCluster, int inCluster, Span<byte> buffer)
    {
        int subclusterSize = 1 << _subclusterBits;
        while (!buffer.IsEmpty)
        {
            int sc = inCluster >> _subclusterBits;
            Qcow2SubclusterType type = entry.GetSubclusterType(sc, _externalData);
            int end = (sc + 1) << _subclusterBits;
            // Extend over following subclusters of the same type.
            while (end < _clusterSize && end - inCluster < buffer.Length && entry.GetSubclusterType(end >> _subclusterBits, _externalData) == type)
            {
                end += subclusterSize;
            }

            int n = Math.Min(buffer.Length, end - inCluster);
            Span<byte> part = buffer[..n];
            switch (type)
            {
                case Qcow2SubclusterType.Normal:
                    ReadHost(entry.HostOffset + inCluster, part);
                    break;
                case Qcow2SubclusterType.ZeroPlain:
                case Qcow2SubclusterType.ZeroAllocated:
                    part.Clear();
                    break;
                case Qcow2SubclusterType.UnallocatedPlain:
                case Qcow2SubclusterType.UnallocatedAllocated:
                    ReadBacking((guestCluster << _clusterBits) + inCluster, part);
                    break;
                default:
                    FormatError.Throw("qcow2 L2 table", -1, $"invalid subcluster {sc} of guest cluster {guestCluster} (bitmap 0x{entry.Bitmap:x16}).");
                    break;
            }

            buffer = buffer[n..];
            inCluster += n;
        }
    }

    private void ReadHost(long hostOffset, Span<byte> buffer)
    {
        if (_encryption?.Payload is { } payload)
        {
            payload.Read(_host, hostOffset, buffer);
            return;
        }

        // Guest data lives in the external data file when there is one.
        int n = (_dataFile ?? _host).Read(hostOffset, buffer);
        if (n < buffer.Length)
        {
            // Past the end of the file (e.g. preallocated metadata with a truncated file): zeros.
            buffer[n..].Clear();
        }
    }

    /// <summary>Reads from the backing chain; zeros without a backing file or past its end.</summary>
    private void ReadBacking(long guestOffset, Span<byte> buffer)
    {
        if (_backing is null)
        {
            buffer.Clear();
            return;
        }

        int n = _backing.Content.Read(guestOffset, buffer);
        if (n < buffer.Length)
        {
            buffer[n..].Clear();
        }
    }

    private void ReadCompressed(Qcow2L2Entry entry, int inCluster, Span<byte> buffer)
    {
        if (_encryption is not null)
        {
            FormatError.Throw("qcow2 L2 entry", -1, "an encrypted image has a compressed cluster.");
        }

        if (buffer.Length == _clusterSize)
        {
            DecompressCluster(entry, buffer);
            return;
        }

        long generation = Volatile.Read(ref _generation);
        byte[]? cached = t_decompressed;
        if (cached is null || cached.Length < _clusterSize)
        {
            cached = new byte[Math.Max(_clusterSize, cached?.Length ?? 0)];
            t_decompressed = cached;
            t_decompressedOwner = null;
        }

        if (!ReferenceEquals(t_decompressedOwner, this) || t_decompressedKey != entry.Value || t_decompressedGeneration != generation)
        {
            t_decompressedOwner = null;
            DecompressCluster(entry, cached.AsSpan(0, _clusterSize));
            t_decompressedOwner = this;
            t_decompressedKey = entry.Value;
            t_decompressedGeneration = generation;
        }

        cached.AsSpan(inCluster, buffer.Length).CopyTo(buffer);
    }

    /// <summary>Decompresses the cluster described by a compressed L2 entry into <paramref name="destination"/> (one cluster).</summary>
    internal void DecompressCluster(Qcow2L2Entry entry, Span<byte> destination)
    {
        if (_externalData)
        {
            FormatError.Throw("qcow2 L2 table", -1, "compressed clusters are not allowed in an image with an external data file.");
        }

        Qcow2CompressedClusterDescriptor d = Qcow2CompressedClusterDescriptor.Parse(entry.Value, _clusterBits);
        long hostLength = _host.Length;
        if (d.HostOffset <= 0 || d.HostOffset > MaxHostOffset || d.HostOffset >= hostLength)
        {
            FormatError.Throw("qcow2 compressed cluster", d.HostOffset, $"descriptor 0x{entry.Value:x16} points outside the file ({hostLength} bytes).");
        }

        // At most 2 clusters of input (the sector count field is bounded by the cluster size).
        int length = d.CompressedLength;
        byte[] input = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            Span<byte> span = input.AsSpan(0, length);
            int n = _host.Read(d.HostOffset, span);
            span[n..].Clear(); // the last sectors of the file may be absent
            Qcow2Compression.Decompress(_compressionType, span, destination);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(input);
        }
    }
}
