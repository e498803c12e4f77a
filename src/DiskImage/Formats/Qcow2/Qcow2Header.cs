using System.Buffers.Binary;
using System.Text;

namespace DiskImage.Formats.Qcow2;

/// <summary>
/// The qcow2 header (spec "Header"): fixed fields of version 2/3, additional fields, header
/// extensions and the backing file name, all stored in cluster 0. Unknown trailing header bytes
/// and unknown extensions are kept and written back byte-exact.
/// </summary>
internal sealed class Qcow2Header
{
    /// <summary>Byte offsets of the header fields (spec names in comments).</summary>
    internal static class Field
    {
        public const int Magic = 0;                  // magic
        public const int Version = 4;                // version
        public const int BackingFileOffset = 8;      // backing_file_offset
        public const int BackingFileSize = 16;       // backing_file_size
        public const int ClusterBits = 20;           // cluster_bits
        public const int Size = 24;                  // size
        public const int CryptMethod = 32;           // crypt_method
        public const int L1Size = 36;                // l1_size
        public const int L1TableOffset = 40;         // l1_table_offset
        public const int RefcountTableOffset = 48;   // refcount_table_offset
        public const int RefcountTableClusters = 56; // refcount_table_clusters
        public const int SnapshotCount = 60;         // nb_snapshots
        public const int SnapshotsOffset = 64;       // snapshots_offset
        public const int IncompatibleFeatures = 72;  // incompatible_features (v3)
        public const int CompatibleFeatures = 80;    // compatible_features (v3)
        public const int AutoclearFeatures = 88;     // autoclear_features (v3)
        public const int RefcountOrder = 96;         // refcount_order (v3)
        public const int HeaderLength = 100;         // header_length (v3)
        public const int CompressionType = 104;      // compression_type (additional field)
    }

    /// <summary>Length of a version 2 header.</summary>
    public const int V2Length = 72;

    /// <summary>Minimum length of a version 3 header.</summary>
    public const int V3MinLength = 104;

    /// <summary>Header length qemu-img 7.2 writes for version 3 (with compression_type and padding).</summary>
    public const int V3DefaultLength = 112;

    /// <summary>Smallest supported cluster_bits.</summary>
    public const int MinClusterBits = 9;

    /// <summary>Largest supported cluster_bits.</summary>
    public const int MaxClusterBits = 21;

    /// <summary>Longest backing file name.</summary>
    public const int MaxBackingFileNameLength = 1023;

    private byte[] _raw = new byte[V3DefaultLength];

    /// <summary>Header version, 2 or 3 (<c>version</c>).</summary>
    public uint Version { get; set; } = 3;

    /// <summary>Offset of the backing file name in cluster 0, 0 when none (<c>backing_file_offset</c>).</summary>
    public ulong BackingFileOffset { get; set; }

    /// <summary>Length of the backing file name (<c>backing_file_size</c>).</summary>
    public uint BackingFileSize { get; set; }

    /// <summary>log2 of the cluster size (<c>cluster_bits</c>).</summary>
    public int ClusterBits { get; set; } = 16;

    /// <summary>Virtual disk size in bytes (<c>size</c>).</summary>
    public ulong Size { get; set; }

    /// <summary>Encryption method: 0 none, 1 AES, 2 LUKS (<c>crypt_method</c>).</summary>
    public uint CryptMethod { get; set; }

    /// <summary>Entries in the active L1 table (<c>l1_size</c>).</summary>
    public uint L1Size { get; set; }

    /// <summary>Host offset of the active L1 table (<c>l1_table_offset</c>).</summary>
    public ulong L1TableOffset { get; set; }

    /// <summary>Host offset of the refcount table (<c>refcount_table_offset</c>).</summary>
    public ulong RefcountTableOffset { get; set; }

    /// <summary>Size of the refcount table in clusters (<c>refcount_table_clusters</c>).</summary>
    public uint RefcountTableClusters { get; set; }

    /// <summary>Number of snapshots (<c>nb_snapshots</c>).</summary>
    public uint SnapshotCount { get; set; }

    /// <summary>Host offset of the snapshot table (<c>snapshots_offset</c>).</summary>
    public ulong SnapshotsOffset { get; set; }

    /// <summary>Incompatible feature bits (v3).</summary>
    public Qcow2IncompatibleFeatures IncompatibleFeatures { get; set; }

    /// <summary>Compatible feature bits (v3).</summary>
    public Qcow2CompatibleFeatures CompatibleFeatures { get; set; }

    /// <summary>Autoclear feature bits (v3).</summary>
    public Qcow2AutoclearFeatures AutoclearFeatures { get; set; }

    /// <summary>log2 of the refcount width in bits (<c>refcount_order</c>; 4 for v2).</summary>
    public int RefcountOrder { get; set; } = 4;

    /// <summary>Header length in bytes (<c>header_length</c>; 72 for v2).</summary>
    public int HeaderLength { get; set; } = V3DefaultLength;

    /// <summary>Raw <c>compression_type</c> byte (0 when the field is absent).</summary>
    public byte CompressionTypeByte { get; set; }

    /// <summary>Header extensions in on-disk order, unknown ones included.</summary>
    public List<Qcow2HeaderExtension> Extensions { get; } = [];

    /// <summary>The backing file name bytes (not NUL-terminated), or <see langword="null"/>.</summary>
    public byte[]? BackingFileNameBytes { get; set; }

    /// <summary>Cluster size in bytes.</summary>
    public int ClusterSize => 1 << ClusterBits;

    /// <summary>Refcount width in bits.</summary>
    public int RefcountBits => 1 << RefcountOrder;

    /// <summary>Whether L2 entries are 128-bit with subclusters.</summary>
    public bool HasExtendedL2 => (IncompatibleFeatures & Qcow2IncompatibleFeatures.ExtendedL2) != 0;

    /// <summary>The backing file name as a string, or <see langword="null"/>.</summary>
    public string? BackingFileName => BackingFileNameBytes is null ? null : Encoding.UTF8.GetString(BackingFileNameBytes);

    /// <summary>The first extension of <paramref name="type"/>, or <see langword="null"/>.</summary>
    public Qcow2HeaderExtension? FindExtension(uint type)
    {
        foreach (Qcow2HeaderExtension e in Extensions)
        {
            if (e.Type == type)
            {
                return e;
            }
        }

        return null;
    }

    /// <summary>The backing format name from extension 0xe2792aca, or <see langword="null"/>.</summary>
    public string? BackingFormat => FindExtension(Qcow2HeaderExtension.BackingFormat) is { } e ? Encoding.UTF8.GetString(e.Data) : null;

    /// <summary>The external data file name (extension "DATA"), or <see langword="null"/>.</summary>
    public string? ExternalDataFileName => FindExtension(Qcow2HeaderExtension.ExternalDataFile) is { } e ? Encoding.UTF8.GetString(e.Data) : null;

    /// <summary>
    /// Parses the fixed header and additional fields from the start of cluster 0, with QEMU's
    /// open-time checks of magic, version, cluster_bits, header_length and backing_file_offset.
    /// Extensions are read separately by <see cref="ParseExtensions"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">The header is malformed.</exception>
    /// <exception cref="NotSupportedException">The version is not 2 or 3.</exception>
    public static Qcow2Header Parse(ReadOnlySpan<byte> data)
    {
        const string S = "qcow2 header";
        if (data.Length < V2Length)
        {
            FormatError.Throw(S, 0, $"truncated: {data.Length} bytes, at least {V2Length} needed.");
        }

        if (BinaryPrimitives.ReadUInt32BigEndian(data) != Qcow2Image.Magic)
        {
            FormatError.Throw(S, 0, "image is not in qcow2 format (bad magic).");
        }

        var h = new Qcow2Header { Version = BinaryPrimitives.ReadUInt32BigEndian(data[Field.Version..]) };
        if (h.Version is not (2 or 3))
        {
            FormatError.Unsupported($"qcow2 version {h.Version} is not supported (only 2 and 3).");
        }

        uint clusterBits = BinaryPrimitives.ReadUInt32BigEndian(data[Field.ClusterBits..]);
        if (clusterBits is < MinClusterBits or > MaxClusterBits)
        {
            FormatError.Throw(S, Field.ClusterBits, $"unsupported cluster size: 2^{clusterBits} (must be 2^{MinClusterBits}..2^{MaxClusterBits}).");
        }

        h.ClusterBits = (int)clusterBits;
        h.BackingFileOffset = BinaryPrimitives.ReadUInt64BigEndian(data[Field.BackingFileOffset..]);
        h.BackingFileSize = BinaryPrimitives.ReadUInt32BigEndian(data[Field.BackingFileSize..]);
        h.Size = BinaryPrimitives.ReadUInt64BigEndian(data[Field.Size..]);
        h.CryptMethod = BinaryPrimitives.ReadUInt32BigEndian(data[Field.CryptMethod..]);
        h.L1Size = BinaryPrimitives.ReadUInt32BigEndian(data[Field.L1Size..]);
        h.L1TableOffset = BinaryPrimitives.ReadUInt64BigEndian(data[Field.L1TableOffset..]);
        h.RefcountTableOffset = BinaryPrimitives.ReadUInt64BigEndian(data[Field.RefcountTableOffset..]);
        h.RefcountTableClusters = BinaryPrimitives.ReadUInt32BigEndian(data[Field.RefcountTableClusters..]);
        h.SnapshotCount = BinaryPrimitives.ReadUInt32BigEndian(data[Field.SnapshotCount..]);
        h.SnapshotsOffset = BinaryPrimitives.ReadUInt64BigEndian(data[Field.SnapshotsOffset..]);

        if (h.Version == 2)
        {
            h.RefcountOrder = 4;
            h.HeaderLength = V2Length;
        }
        else
        {
            if (data.Length < V3MinLength)
            {
                FormatError.Throw(S, 0, $"truncated: {data.Length} bytes, a version 3 header needs {V3MinLength}.");
            }

            h.IncompatibleFeatures = (Qcow2IncompatibleFeatures)BinaryPrimitives.ReadUInt64BigEndian(data[Field.IncompatibleFeatures..]);
            h.CompatibleFeatures = (Qcow2CompatibleFeatures)BinaryPrimitives.ReadUInt64BigEndian(data[Field.CompatibleFeatures..]);
            h.AutoclearFeatures = (Qcow2AutoclearFeatures)BinaryPrimitives.ReadUInt64BigEndian(data[Field.AutoclearFeatures..]);
            uint refcountOrder = BinaryPrimitives.ReadUInt32BigEndian(data[Field.RefcountOrder..]);
            uint headerLength = BinaryPrimitives.ReadUInt32BigEndian(data[Field.HeaderLength..]);
            if (headerLength < V3MinLength)
            {
                FormatError.Throw(S, Field.HeaderLength, $"qcow2 header too short: header_length {headerLength} < {V3MinLength}.");
            }

            if (headerLength > (uint)h.ClusterSize)
            {
                FormatError.Throw(S, Field.HeaderLength, $"qcow2 header exceeds cluster size: header_length {headerLength} > {h.ClusterSize}.");
            }

            if (headerLength > (uint)data.Length)
            {
                FormatError.Throw(S, Field.HeaderLength, $"header_length {headerLength} extends past the end of the file.");
            }

            h.HeaderLength = (int)headerLength;
            h.RefcountOrder = refcountOrder > 63 ? 63 : (int)refcountOrder; // range checked by the opener, in QEMU's order
            if (headerLength > Field.CompressionType)
            {
                h.CompressionTypeByte = data[Field.CompressionType];
            }
        }

        h._raw = data[..h.HeaderLength].ToArray();
        if (h.BackingFileOffset > (ulong)h.ClusterSize)
        {
            FormatError.Throw(S, Field.BackingFileOffset, $"invalid backing file offset {h.BackingFileOffset} (must lie within the first cluster).");
        }

        return h;
    }

    /// <summary>
    /// Reads the header extensions (between header_length and the backing file name or the end of
    /// cluster 0) and the backing file name, with QEMU's checks.
    /// </summary>
    /// <param name="cluster0">Cluster 0 (or the part of it that exists in the file).</param>
    /// <param name="lenient">Stop quietly at the first malformed extension (used only to name unknown features in an error).</param>
    public void ParseExtensions(ReadOnlySpan<byte> cluster0, bool lenient = false)
    {
        const string S = "qcow2 header extension";
        Extensions.Clear();
        int end = BackingFileOffset != 0 ? (int)BackingFileOffset : ClusterSize;
        end = Math.Min(end, cluster0.Length);
        int pos = HeaderLength;
        var seen = new HashSet<uint>();
        while (pos < end)
        {
            if (end - pos < 8)
            {
                if (lenient)
                {
                    return;
                }

                FormatError.Throw(S, pos, "extension header runs past the end of the extension area.");
            }

            uint type = BinaryPrimitives.ReadUInt32BigEndian(cluster0[pos..]);
            uint length = BinaryPrimitives.ReadUInt32BigEndian(cluster0[(pos + 4)..]);
            if (type == Qcow2HeaderExtension.EndOfArea)
            {
                break;
            }

            pos += 8;
            if (length > (uint)(end - pos))
            {
                if (lenient)
                {
                    return;
                }

                FormatError.Throw(S, pos - 8, $"header extension too large (type 0x{type:x8}, length {length}).");
            }

            if (!seen.Add(type) && !lenient)
            {
                FormatError.Throw(S, pos - 8, $"extension type 0x{type:x8} appears more than once.");
            }

            Extensions.Add(new Qcow2HeaderExtension(type, cluster0.Slice(pos, (int)length).ToArray()));
            pos += (int)((length + 7) & ~7u);
        }

        if (lenient)
        {
            return;
        }

        if (FindExtension(Qcow2HeaderExtension.BackingFormat) is { } fmt && fmt.Data.Length > 1023)
        {
            FormatError.Throw(S, -1, "backing format name too long.");
        }

        if (FindExtension(Qcow2HeaderExtension.Bitmaps) is { } bitmaps)
        {
            if (bitmaps.Data.Length != 24)
            {
                FormatError.Throw(S, -1, $"bitmaps extension has length {bitmaps.Data.Length}, expected 24.");
            }
        }

        BackingFileNameBytes = null;
        if (BackingFileOffset != 0)
        {
            if (BackingFileSize > MaxBackingFileNameLength || BackingFileSize > (ulong)ClusterSize - BackingFileOffset)
            {
                FormatError.Throw("qcow2 header", Field.BackingFileSize, $"backing file name too long ({BackingFileSize} bytes).");
            }

            ulong nameEnd = BackingFileOffset + BackingFileSize;
            if (nameEnd > (ulong)cluster0.Length)
            {
                FormatError.Throw("qcow2 header", (long)BackingFileOffset, "backing file name extends past the end of the file.");
            }

            if (BackingFileOffset < (ulong)HeaderLength)
            {
                FormatError.Throw("qcow2 header", (long)BackingFileOffset, "backing file name overlaps the header.");
            }

            BackingFileNameBytes = cluster0.Slice((int)BackingFileOffset, (int)BackingFileSize).ToArray();
        }
    }

    /// <summary>Reads the feature name table extension, or an empty list.</summary>
    public List<Qcow2FeatureName> GetFeatureNames() =>
        FindExtension(Qcow2HeaderExtension.FeatureNameTable) is { } e ? Qcow2FeatureName.ParseTable(e.Data) : [];

    /// <summary>
    /// Writes the first <see cref="HeaderLength"/> bytes: the fixed fields and additional fields,
    /// with bytes this implementation does not know copied unchanged from the parsed header.
    /// </summary>
    public void WriteFixedTo(Span<byte> destination)
    {
        Span<byte> d = destination[..HeaderLength];
        d.Clear();
        _raw.AsSpan(0, Math.Min(_raw.Length, HeaderLength)).CopyTo(d);
        BinaryPrimitives.WriteUInt32BigEndian(d[Field.Magic..], Qcow2Image.Magic);
        BinaryPrimitives.WriteUInt32BigEndian(d[Field.Version..], Version);
        BinaryPrimitives.WriteUInt64BigEndian(d[Field.BackingFileOffset..], BackingFileOffset);
        BinaryPrimitives.WriteUInt32BigEndian(d[Field.BackingFileSize..], BackingFileSize);
        BinaryPrimitives.WriteUInt32BigEndian(d[Field.ClusterBits..], (uint)ClusterBits);
        BinaryPrimitives.WriteUInt64BigEndian(d[Field.Size..], Size);
        BinaryPrimitives.WriteUInt32BigEndian(d[Field.CryptMethod..], CryptMethod);
        BinaryPrimitives.WriteUInt32BigEndian(d[Field.L1Size..], L1Size);
        BinaryPrimitives.WriteUInt64BigEndian(d[Field.L1TableOffset..], L1TableOffset);
        BinaryPrimitives.WriteUInt64BigEndian(d[Field.RefcountTableOffset..], RefcountTableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(d[Field.RefcountTableClusters..], RefcountTableClusters);
        BinaryPrimitives.WriteUInt32BigEndian(d[Field.SnapshotCount..], SnapshotCount);
        BinaryPrimitives.WriteUInt64BigEndian(d[Field.SnapshotsOffset..], SnapshotsOffset);
        if (Version >= 3)
        {
            BinaryPrimitives.WriteUInt64BigEndian(d[Field.IncompatibleFeatures..], (ulong)IncompatibleFeatures);
            BinaryPrimitives.WriteUInt64BigEndian(d[Field.CompatibleFeatures..], (ulong)CompatibleFeatures);
            BinaryPrimitives.WriteUInt64BigEndian(d[Field.AutoclearFeatures..], (ulong)AutoclearFeatures);
            BinaryPrimitives.WriteUInt32BigEndian(d[Field.RefcountOrder..], (uint)RefcountOrder);
            BinaryPrimitives.WriteUInt32BigEndian(d[Field.HeaderLength..], (uint)HeaderLength);
            if (HeaderLength > Field.CompressionType)
            {
                d[Field.CompressionType] = CompressionTypeByte;
            }
        }
    }

    /// <summary>Bytes the extensions and end marker occupy after the fixed header.</summary>
    public int ExtensionAreaSize
    {
        get
        {
            int size = 8;
            foreach (Qcow2HeaderExtension e in Extensions)
            {
                size += e.DiskSize;
            }

            return size;
        }
    }

    /// <summary>
    /// Writes the whole header area (fixed fields, extensions, end marker, backing file name) into
    /// <paramref name="destination"/> (cluster 0). Sets <see cref="BackingFileOffset"/> and
    /// <see cref="BackingFileSize"/> to where the name is placed.
    /// </summary>
    public void WriteTo(Span<byte> destination)
    {
        int pos = HeaderLength;
        int nameOffset = pos + ExtensionAreaSize;
        if (BackingFileNameBytes is { } name)
        {
            if (nameOffset + name.Length > destination.Length || name.Length > MaxBackingFileNameLength)
            {
                throw new ArgumentException("The header extensions and backing file name do not fit in the first cluster.");
            }

            BackingFileOffset = (ulong)nameOffset;
            BackingFileSize = (uint)name.Length;
        }
        else
        {
            if (nameOffset > destination.Length)
            {
                throw new ArgumentException("The header extensions do not fit in the first cluster.");
            }

            BackingFileOffset = 0;
            BackingFileSize = 0;
        }

        destination[..nameOffset].Clear();
        WriteFixedTo(destination);
        foreach (Qcow2HeaderExtension e in Extensions)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination[pos..], e.Type);
            BinaryPrimitives.WriteUInt32BigEndian(destination[(pos + 4)..], (uint)e.Data.Length);
            e.Data.CopyTo(destination[(pos + 8)..]);
            pos += e.DiskSize;
        }

        // End marker: type 0, length 0 (already cleared).
        BackingFileNameBytes?.CopyTo(destination[nameOffset..]);
    }
}
