using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>Size estimates for new images (<c>qemu-img measure -O qcow2</c>).</content>
public sealed partial class Qcow2Image
{
    private const long MeasureMaxL1Bytes = 32L * 1024 * 1024;

    /// <summary>
    /// How large a new image of <paramref name="virtualSize"/> bytes with <paramref name="options"/> is
    /// when empty (<see cref="Qcow2MeasureResult.Required"/>) and when fully allocated, computed as
    /// <c>qemu-img measure --size</c> does.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="virtualSize"/> is negative or too large for the cluster size.</exception>
    public static Qcow2MeasureResult Measure(long virtualSize, Qcow2CreateOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(virtualSize);
        options ??= Qcow2CreateOptions.Default;
        long size = MeasureAlign(virtualSize, options);
        return MeasureCore(options, size, required: 0, bitmaps: null);
    }

    /// <summary>
    /// How large a qcow2 copy of <paramref name="source"/> (a raw guest view) would be, counting the
    /// clusters that hold data (zero and unallocated ranges are skipped), like <c>qemu-img measure</c>
    /// on a raw source. With a <see cref="Qcow2CreateOptions.BackingFile"/> every cluster counts.
    /// </summary>
    public static Qcow2MeasureResult Measure(BlockDevice source, Qcow2CreateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        options ??= Qcow2CreateOptions.Default;
        return MeasureSource(source, options, bitmaps: null);
    }

    /// <summary>
    /// How large a qcow2 copy of the guest disk of <paramref name="source"/> would be (following its
    /// backing chain), like <c>qemu-img measure</c> on an image; for a version 3 qcow2 source (the
    /// version that can hold persistent bitmaps) and a version 3 target the space for its persistent
    /// bitmaps is reported too.
    /// </summary>
    public static Qcow2MeasureResult Measure(DiskImageFile source, Qcow2CreateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        options ??= Qcow2CreateOptions.Default;
        long? bitmaps = null;
        if (source is Qcow2Image { Version: >= 3 } qcow2 && options.Version >= 3)
        {
            bitmaps = qcow2.MeasureBitmaps(options.ClusterSize, source.Content.Length);
        }

        return MeasureSource(source.Content, options, bitmaps);
    }

    private static long MeasureAlign(long virtualSize, Qcow2CreateOptions options)
    {
        long cluster = options.ClusterSize;
        if (virtualSize > long.MaxValue - cluster)
        {
            throw new ArgumentOutOfRangeException(nameof(virtualSize), virtualSize, "The image size is too large.");
        }

        long size = (virtualSize + cluster - 1) / cluster * cluster;
        int l2EntrySize = options.ExtendedL2 ? 16 : 8;
        long l2Tables = ((size / cluster) + (cluster / l2EntrySize) - 1) / (cluster / l2EntrySize);
        if (l2Tables * 8 > MeasureMaxL1Bytes)
        {
            throw new ArgumentOutOfRangeException(nameof(virtualSize), virtualSize, "The image size is too large (try using a larger cluster size).");
        }

        return size;
    }

    private static Qcow2MeasureResult MeasureSource(BlockDevice source, Qcow2CreateOptions options, long? bitmaps)
    {
        long length = source.Length;
        long size = MeasureAlign(length, options);
        long required;
        if (options.BackingFile is not null)
        {
            // The new image's backing file may share nothing with the source: count every cluster.
            required = size;
        }
        else
        {
            long cluster = options.ClusterSize;
            required = 0;
            long coveredEnd = 0;
            foreach (AllocationExtent extent in source.EnumerateAllocation())
            {
                if (extent.Kind != AllocationKind.Data || extent.Length == 0)
                {
                    continue;
                }

                // Whole clusters touched by the data, each counted once.
                long start = Math.Max(extent.Offset / cluster * cluster, coveredEnd);
                long end = (extent.Offset + extent.Length + cluster - 1) / cluster * cluster;
                if (end > start)
                {
                    required += end - start;
                    coveredEnd = end;
                }
            }
        }

        return MeasureCore(options, size, required, bitmaps);
    }

    private static Qcow2MeasureResult MeasureCore(Qcow2CreateOptions options, long alignedSize, long required, long? bitmaps)
    {
        // Preallocation=metadata changes nothing here: metadata is always counted.
        long fully = PreallocatedSize(alignedSize, options.ClusterSize, options.RefcountBits, options.ExtendedL2);
        return new Qcow2MeasureResult(fully - alignedSize + required, fully, bitmaps);
    }

    /// <summary>File size of a fully allocated image: header, L1, L2, refcount structures and data.</summary>
    private static long PreallocatedSize(long alignedSize, long cluster, int refcountBits, bool extendedL2)
    {
        int l2EntrySize = extendedL2 ? 16 : 8;
        long meta = cluster;
        long perL2 = cluster / l2EntrySize;
        long l2Entries = (alignedSize / cluster + perL2 - 1) / perL2 * perL2;
        meta += l2Entries * l2EntrySize;
        long perL1Cluster = cluster / 8;
        long l1Entries = l2Entries * l2EntrySize / cluster;
        l1Entries = (l1Entries + perL1Cluster - 1) / perL1Cluster * perL1Cluster;
        meta += l1Entries * 8;
        meta += RefcountMetadataSize((meta + alignedSize) / cluster, cluster, refcountBits);
        return meta + alignedSize;
    }

    /// <summary>Clusters of refcount blocks and table needed for <paramref name="clusters"/> clusters plus themselves.</summary>
    private static long RefcountMetadataSize(long clusters, long cluster, int refcountBits)
    {
        long blocksPerTableCluster = cluster / 8;
        long refcountsPerBlock = cluster * 8 / refcountBits;
        long table = 0;
        long blocks = 0;
        long n = 0;
        long last;
        do
        {
            last = n;
            blocks = (clusters + table + blocks + refcountsPerBlock - 1) / refcountsPerBlock;
            table = (blocks + blocksPerTableCluster - 1) / blocksPerTableCluster;
            n = clusters + blocks + table;
        }
        while (n != last);

        return (blocks + table) * cluster;
    }

    /// <summary>Space for this image's persistent bitmaps in a new image with <paramref name="clusterSize"/> clusters.</summary>
    private long MeasureBitmaps(int clusterSize, long virtualSize) => MeasureBitmaps(Host, clusterSize, virtualSize);

    /// <summary>Reads the bitmap directory of the qcow2 image in <paramref name="host"/> and sizes every bitmap for the target cluster size.</summary>
    internal static long MeasureBitmaps(BlockDevice host, int clusterSize, long virtualSize)
    {
        Span<byte> header = stackalloc byte[112];
        header.Clear();
        host.Read(0, header);
        if (BinaryPrimitives.ReadUInt32BigEndian(header[4..]) < 3 || (BinaryPrimitives.ReadUInt64BigEndian(header[88..]) & 1) == 0)
        {
            return 0;
        }

        int sourceClusterBits = (int)BinaryPrimitives.ReadUInt32BigEndian(header[20..]);
        if (sourceClusterBits is < 9 or > 21)
        {
            return 0;
        }

        long sourceCluster = 1L << sourceClusterBits;
        long headerLength = BinaryPrimitives.ReadUInt32BigEndian(header[100..]);
        long backingOffset = (long)Math.Min(BinaryPrimitives.ReadUInt64BigEndian(header[8..]), (ulong)sourceCluster);
        long end = backingOffset != 0 ? backingOffset : sourceCluster;
        long pos = headerLength;
        Span<byte> ext = stackalloc byte[32];
        ulong dirOffset = 0;
        ulong dirSize = 0;
        uint count = 0;
        while (pos + 8 <= end)
        {
            ext.Clear();
            host.Read(pos, ext);
            uint type = BinaryPrimitives.ReadUInt32BigEndian(ext);
            uint length = BinaryPrimitives.ReadUInt32BigEndian(ext[4..]);
            if (type == 0)
            {
                break;
            }

            if (type == 0x23852875 && length >= 24)
            {
                count = BinaryPrimitives.ReadUInt32BigEndian(ext[8..]);
                dirSize = BinaryPrimitives.ReadUInt64BigEndian(ext[16..]);
                dirOffset = BinaryPrimitives.ReadUInt64BigEndian(ext[24..]);
                break;
            }

            pos += 8 + (((long)length + 7) & ~7L);
        }

        if (count == 0 || dirSize > 1024UL * 65535 || dirOffset >= (ulong)host.Length)
        {
            return 0;
        }

        byte[] dir = new byte[(int)Math.Min(dirSize, (ulong)host.Length - dirOffset)];
        host.Read((long)dirOffset, dir);
        long total = 0;
        long dirBytes = 0;
        int at = 0;
        for (uint i = 0; i < count && at + 24 <= dir.Length; i++)
        {
            ReadOnlySpan<byte> e = dir.AsSpan(at);
            int granularityBits = e[17];
            int nameSize = BinaryPrimitives.ReadUInt16BigEndian(e[18..]);
            uint extraSize = BinaryPrimitives.ReadUInt32BigEndian(e[20..]);
            at += (int)Math.Min(int.MaxValue, (24L + extraSize + nameSize + 7) & ~7L);
            if (granularityBits is < 9 or > 31)
            {
                continue;
            }

            long granularity = 1L << granularityBits;
            long bits = (virtualSize + granularity - 1) / granularity;
            long bytes = (bits + 7) / 8;
            long clusters = (bytes + clusterSize - 1) / clusterSize;
            total += clusters * clusterSize;
            total += ((clusters * 8) + clusterSize - 1) / clusterSize * clusterSize;
            dirBytes += (24 + nameSize + 7) & ~7;
        }

        return total + ((dirBytes + clusterSize - 1) / clusterSize * clusterSize);
    }
}
