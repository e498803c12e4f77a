using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <summary>
/// Reads the qcow2 header from cluster 0 and validates it the way an open does (QEMU's open-time
/// limits, feature bits, placement of the refcount, snapshot and L1 tables).
/// </summary>
internal static class Qcow2HeaderValidator
{
    /// <summary>
    /// Reads cluster 0 of <paramref name="host"/> and validates the header like an open does (QEMU's
    /// open-time limits, feature bits, table placement), parsing its extensions.
    /// </summary>
    /// <exception cref="InvalidDataException">The header is malformed, or the image is marked corrupt and <paramref name="writable"/> without <paramref name="forRepair"/>.</exception>
    /// <exception cref="NotSupportedException">The image uses an unsupported feature.</exception>
    internal static Qcow2Header ReadValidatedHeader(BlockDevice host, bool writable, bool forRepair, bool tablesMayPassEnd = false)
    {
        long hostLength = host.Length;
        long tableLimit = tablesMayPassEnd ? long.MaxValue : hostLength;
        const string S = "qcow2 header";

        // Cluster 0: read a sector first to learn the cluster size, then the whole cluster (as far as it exists).
        Span<byte> first = stackalloc byte[512];
        int firstLength = host.Read(0, first);
        if (firstLength < 4 || !Qcow2Image.HasMagic(first))
        {
            FormatError.Throw(S, 0, "image is not in qcow2 format (bad magic).");
        }

        if (firstLength < Qcow2Header.V2Length)
        {
            FormatError.Throw(S, 0, "truncated header.");
        }

        uint clusterBits = BinaryPrimitives.ReadUInt32BigEndian(first[Qcow2Header.Field.ClusterBits..]);
        int cluster0Length = clusterBits is >= Qcow2Header.MinClusterBits and <= Qcow2Header.MaxClusterBits
            ? (int)Math.Min(1L << (int)clusterBits, hostLength)
            : firstLength;
        byte[] cluster0 = new byte[cluster0Length];
        host.Read(0, cluster0);
        Qcow2Header header = Qcow2Header.Parse(cluster0);
        int clusterSize = header.ClusterSize;

        // Incompatible features: refuse unknown bits, naming them from the feature name table.
        ulong unknown = (ulong)header.IncompatibleFeatures & ~(ulong)Qcow2IncompatibleFeatures.Known;
        if (unknown != 0)
        {
            header.ParseExtensions(cluster0, lenient: true);
            List<Qcow2FeatureName> names = header.GetFeatureNames();
            var parts = new List<string>();
            for (int bit = 0; bit < 64; bit++)
            {
                if ((unknown & (1UL << bit)) == 0)
                {
                    continue;
                }

                string? name = null;
                foreach (Qcow2FeatureName n in names)
                {
                    if (n.Type == Qcow2FeatureType.Incompatible && n.Bit == bit)
                    {
                        name = n.Name;
                        break;
                    }
                }

                parts.Add(name is null ? $"unknown incompatible feature bit {bit}" : $"'{name}' (incompatible feature bit {bit})");
            }

            FormatError.Unsupported($"The qcow2 image uses unsupported features: {string.Join(", ", parts)}.");
        }

        if (writable && !forRepair && (header.IncompatibleFeatures & Qcow2IncompatibleFeatures.Corrupt) != 0)
        {
            FormatError.Throw(S, Qcow2Header.Field.IncompatibleFeatures, "the image is marked corrupt; it cannot be opened read/write (open it read-only, or repair it with check -r all).");
        }

        if (header.RefcountOrder > 6)
        {
            FormatError.Throw(S, Qcow2Header.Field.RefcountOrder, $"reference count entry width too large (refcount_order {header.RefcountOrder}; may not exceed 64 bits).");
        }

        if (header.CryptMethod > 2)
        {
            FormatError.Unsupported($"The qcow2 image uses unknown encryption method {header.CryptMethod}.");
        }

        // Compression type (additional field at byte 104) must match incompatible bit 3.
        bool compressionBit = (header.IncompatibleFeatures & Qcow2IncompatibleFeatures.CompressionType) != 0;
        if (header.CompressionTypeByte > 1)
        {
            FormatError.Unsupported($"The qcow2 image uses unknown compression type {header.CompressionTypeByte}.");
        }

        if (header.CompressionTypeByte == 0 && compressionBit)
        {
            FormatError.Throw(S, Qcow2Header.Field.IncompatibleFeatures, "the compression type incompatible feature bit is set but compression_type is zlib.");
        }

        if (header.CompressionTypeByte != 0 && !compressionBit)
        {
            FormatError.Throw(S, Qcow2Header.Field.CompressionType, "compression_type is not zlib but the compression type incompatible feature bit is not set.");
        }

        if (header.HasExtendedL2 && header.ClusterBits < 14)
        {
            FormatError.Throw(S, Qcow2Header.Field.ClusterBits, $"extended L2 entries need clusters of at least 16 KiB (cluster size {clusterSize}).");
        }

        if (header.Size > long.MaxValue)
        {
            FormatError.Throw(S, Qcow2Header.Field.Size, $"virtual size {header.Size} is too large.");
        }

        // Refcount table (QEMU: "Reference count table too large", "Invalid reference count table offset").
        ulong reftableBytes = (ulong)header.RefcountTableClusters << header.ClusterBits;
        if (reftableBytes > Qcow2Image.MaxRefcountTableBytes)
        {
            FormatError.Throw(S, Qcow2Header.Field.RefcountTableClusters, $"reference count table too large ({header.RefcountTableClusters} clusters).");
        }

        if (header.RefcountTableClusters == 0)
        {
            FormatError.Throw(S, Qcow2Header.Field.RefcountTableClusters, "the image has no reference count table.");
        }

        ValidateTable(header.RefcountTableOffset, reftableBytes, tableLimit, clusterSize, "reference count table");

        // Snapshot table header fields.
        if (header.SnapshotCount > Qcow2Image.MaxSnapshots)
        {
            FormatError.Throw(S, Qcow2Header.Field.SnapshotCount, $"too many snapshots ({header.SnapshotCount}).");
        }

        if (header.SnapshotCount > 0)
        {
            ValidateTable(header.SnapshotsOffset, (ulong)header.SnapshotCount * Qcow2SnapshotEntry.FixedSize, tableLimit, clusterSize, "snapshot table");
        }

        // Active L1 table.
        ulong l1Bytes = (ulong)header.L1Size * 8;
        if (l1Bytes > Qcow2Image.MaxL1Bytes)
        {
            FormatError.Throw(S, Qcow2Header.Field.L1Size, $"active L1 table too large ({header.L1Size} entries).");
        }

        int l2Bits = header.ClusterBits - (header.HasExtendedL2 ? 4 : 3);
        ulong bytesPerL1Entry = 1UL << (header.ClusterBits + l2Bits);
        ulong sizeToL1 = (header.Size / bytesPerL1Entry) + (header.Size % bytesPerL1Entry != 0 ? 1UL : 0);
        if (sizeToL1 > int.MaxValue)
        {
            FormatError.Throw(S, Qcow2Header.Field.Size, "image is too big.");
        }

        if (header.L1Size < sizeToL1)
        {
            FormatError.Throw(S, Qcow2Header.Field.L1Size, $"L1 table is too small ({header.L1Size} entries, the virtual size needs {sizeToL1}).");
        }

        if (header.L1Size > 0)
        {
            ValidateTable(header.L1TableOffset, l1Bytes, tableLimit, clusterSize, "active L1 table");
        }

        // Header extensions and backing file name.
        header.ParseExtensions(cluster0);
        return header;
    }

    /// <summary>Checks that a table lies cluster-aligned within the file (QEMU's <c>qcow2_validate_table</c>, plus an end-of-file bound).</summary>
    internal static void ValidateTable(ulong offset, ulong bytes, long hostLength, int clusterSize, string name)
    {
        if ((offset & (ulong)(clusterSize - 1)) != 0 || offset == 0)
        {
            FormatError.Throw("qcow2 header", -1, $"invalid {name} offset {offset} (must be a non-zero multiple of the cluster size).");
        }

        if (offset > Qcow2Image.MaxHostOffset || bytes > Qcow2Image.MaxHostOffset - offset)
        {
            FormatError.Throw("qcow2 header", -1, $"invalid {name} offset {offset}: the table would end past the largest host offset.");
        }

        if (offset + bytes > (ulong)hostLength)
        {
            FormatError.Throw("qcow2 header", -1, $"the {name} at offset {offset} ({bytes} bytes) extends past the end of the file ({hostLength} bytes).");
        }
    }
}
