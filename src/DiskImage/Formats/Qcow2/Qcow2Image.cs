using System.Buffers;
using System.Buffers.Binary;
using DiskImage.Formats.Raw;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <summary>
/// A qcow2 image (versions 2 and 3). <see cref="DiskImageFile.Content"/> is the guest view: reads
/// follow the backing chain, writes allocate clusters and copy-on-write from the backing chain.
/// </summary>
/// <remarks>
/// <para>
/// Writes keep the image consistent at every step (data before L2, L2 before L1, refcount
/// increments before the reference), so a crash can leak clusters but never corrupt the image.
/// Concurrent reads are safe; writes are serialized internally.
/// </para>
/// <para>
/// By default an image that names a backing file or an external data file is refused with a
/// <see cref="NotSupportedException"/> whose message says how to opt in
/// (<see cref="DiskImageOpenOptions.BackingFiles"/>, <see cref="DiskImageOpenOptions.AllowExternalDataFile"/>):
/// an untrusted image must not make the library read arbitrary host files. Relative backing and
/// data file names resolve against the directory of the image that names them. Images with an
/// external data file can be read (not written) once allowed. A writable open of a dirty image
/// (incompatible bit 0: lazy refcounts and not closed cleanly) first repairs it like QEMU does
/// (<see cref="Check(Qcow2RepairMode)"/> with <see cref="Qcow2RepairMode.All"/>, which rebuilds the
/// refcounts and clears the bit) and fails with <see cref="InvalidDataException"/> when that repair
/// cannot leave it clean; a read-only open uses it unchanged (reads do not depend on refcounts). A
/// writable open of an image marked corrupt is refused with <see cref="InvalidDataException"/>.
/// </para>
/// </remarks>
public sealed partial class Qcow2Image : DiskImageFile
{
    /// <summary>The magic at offset 0: "QFI\xfb".</summary>
    public const uint Magic = 0x514649FB;

    /// <summary>Largest host offset any metadata may point to (<c>QCOW_MAX_CLUSTER_OFFSET</c>).</summary>
    internal const long MaxHostOffset = (1L << 56) - 1;

    /// <summary>Largest active or snapshot L1 table (<c>QCOW_MAX_L1_SIZE</c>).</summary>
    internal const int MaxL1Bytes = 32 * 1024 * 1024;

    /// <summary>Largest refcount table (<c>QCOW_MAX_REFTABLE_SIZE</c>).</summary>
    internal const int MaxRefcountTableBytes = 8 * 1024 * 1024;

    /// <summary>Most snapshots (<c>QCOW_MAX_SNAPSHOTS</c>).</summary>
    internal const int MaxSnapshots = 65536;

    /// <summary>Largest snapshot table (<c>QCOW_MAX_SNAPSHOTS_SIZE</c>).</summary>
    internal const int MaxSnapshotTableBytes = 64 * 1024 * 1024;

    private readonly BlockDevice _host;
    private readonly bool _leaveOpen;
    private readonly string? _fileName;
    private readonly Qcow2Header _header;
    private readonly int _clusterBits;
    private readonly int _clusterSize;
    private readonly bool _extendedL2;
    private readonly int _l2Bits;          // log2 of entries per L2 table
    private readonly int _subclusterBits;  // log2 of the subcluster size (extended L2), else cluster bits
    private readonly int _refcountOrder;
    private readonly int _refblockBits;    // log2 of entries per refcount block
    private readonly bool _writable;
    private readonly Qcow2CompressionType _compressionType;
    private readonly List<Qcow2SnapshotEntry> _snapshotEntries;
    private IReadOnlyList<Qcow2Snapshot> _snapshots;   // rebuilt when snapshots are created or deleted
    private readonly DiskImageFile? _backing;
    private readonly BlockDevice? _dataFile;      // external data file (read-only), or null
    private readonly bool _externalData;
    private readonly Qcow2ContentDevice _content;
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private readonly Qcow2TableCache<ulong[]> _l2Cache;
    private readonly Qcow2TableCache<byte[]> _refblockCache;
    private ulong[] _l1;
    private ulong[] _refcountTable;
    private int _disposed;
    private bool _metadataOnly;   // opened for GetInfo only: the backing chain was not opened

    private Qcow2Image(BlockDevice host, bool leaveOpen, string? fileName, Qcow2Header header, bool writable,
        ulong[] l1, ulong[] refcountTable, List<Qcow2SnapshotEntry> snapshotEntries, DiskImageFile? backing, BlockDevice? dataFile)
    {
        _dataFile = dataFile;
        _externalData = dataFile is not null;
        _host = host;
        _leaveOpen = leaveOpen;
        _fileName = fileName;
        _header = header;
        _clusterBits = header.ClusterBits;
        _clusterSize = header.ClusterSize;
        _extendedL2 = header.HasExtendedL2;
        _l2Bits = _clusterBits - (_extendedL2 ? 4 : 3);
        _subclusterBits = _extendedL2 ? _clusterBits - 5 : _clusterBits;
        _refcountOrder = header.RefcountOrder;
        _refblockBits = Qcow2Refcounts.BlockEntriesBits(_clusterBits, _refcountOrder);
        _writable = writable;
        _compressionType = (Qcow2CompressionType)header.CompressionTypeByte;
        _l1 = l1;
        _refcountTable = refcountTable;
        _snapshotEntries = snapshotEntries;
        var list = new List<Qcow2Snapshot>(snapshotEntries.Count);
        foreach (Qcow2SnapshotEntry e in snapshotEntries)
        {
            list.Add(e.ToSnapshot((long)header.Size));
        }

        _snapshots = list.AsReadOnly();
        _backing = backing;
        int cacheTables = Math.Max(16, (32 * 1024 * 1024) >> _clusterBits);
        _l2Cache = new Qcow2TableCache<ulong[]>(cacheTables);
        _refblockCache = new Qcow2TableCache<byte[]>(Math.Max(16, (4 * 1024 * 1024) >> _clusterBits));
        _content = new Qcow2ContentDevice(this, null, -1);
        _content.MarkHeldByOwner();
        if (writable)
        {
            RebuildMetadataIndex();
        }
    }

    /// <summary>Whether <paramref name="header"/> starts with the qcow2 magic.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> header) =>
        header.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(header) == Magic;

    /// <summary>Opens the qcow2 image at <paramref name="path"/>.</summary>
    /// <remarks>A writable open of a dirty image repairs it first (see the type remarks); this modifies the file.</remarks>
    /// <exception cref="InvalidDataException">The image is malformed, marked corrupt (when opened writable), dirty and not repairable (when opened writable), or its backing chain is too deep or loops.</exception>
    /// <exception cref="NotSupportedException">
    /// The image uses a feature this library does not implement (named in the message), or names a
    /// backing/data file that the policy denies (the message says which option opts in).
    /// </exception>
    /// <exception cref="FileNotFoundException">The image, or a backing or data file it names (when allowed), does not exist.</exception>
    public static new Qcow2Image Open(string path, DiskImageOpenOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= DiskImageOpenOptions.Default;
        return OpenFile(path, options, new OpenContext());
    }

    /// <summary>Opens a qcow2 image stored in <paramref name="host"/>. Backing files named by the image resolve against <paramref name="fileName"/>'s directory (or the current directory).</summary>
    /// <remarks>A writable open of a dirty image repairs it in <paramref name="host"/> first (see the type remarks).</remarks>
    /// <exception cref="InvalidDataException">The image is malformed, or dirty and not repairable (when opened writable).</exception>
    /// <exception cref="NotSupportedException">The image uses an unsupported feature, or names a backing/data file that the policy denies.</exception>
    public static Qcow2Image Open(BlockDevice host, DiskImageOpenOptions? options = null, bool leaveOpen = false, string? fileName = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        options ??= DiskImageOpenOptions.Default;
        var context = new OpenContext();
        if (fileName is not null)
        {
            context.Visited.Add(CanonicalPath(fileName));
        }

        return OpenCore(host, options, leaveOpen, fileName, context, forRepair: false);
    }

    /// <summary>
    /// Whether the image in <paramref name="host"/> is refused by an open only because its tables
    /// (refcount, snapshot, active L1) lie past the end of the file: such an image can still be checked
    /// and repaired, as qemu-img does. Any other problem (a malformed header or bitmap directory,
    /// which also fail qemu-img's open) gives false, and so does an image that opens.
    /// </summary>
    internal static bool IsCheckableHeader(BlockDevice host)
    {
        try
        {
            Qcow2Header header = ReadValidatedHeader(host, writable: false, forRepair: true, tablesMayPassEnd: true);
            ReadBitmapDirectory(host, header, writable: false);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            return false;
        }

        try
        {
            Qcow2Header strict = ReadValidatedHeader(host, writable: false, forRepair: true);
            ReadSnapshotTable(host, strict, host.Length);
            return false;
        }
        catch (InvalidDataException)
        {
            return true;
        }
    }

    /// <summary>Opens an image for the checker: writable opens of dirty or corrupt images are allowed so they can be repaired.</summary>
    internal static Qcow2Image OpenForRepair(BlockDevice host, DiskImageOpenOptions? options, bool leaveOpen, string? fileName) =>
        OpenCore(host, options ?? DiskImageOpenOptions.Default, leaveOpen, fileName, new OpenContext(), forRepair: true);

    /// <inheritdoc />
    public override DiskImageFormat Format => DiskImageFormat.Qcow2;

    /// <inheritdoc />
    public override BlockDevice Content => _metadataOnly ? throw MetadataOnlyException() : _content;

    /// <inheritdoc />
    public override string? FileName => _fileName;

    /// <summary>Header version, 2 or 3.</summary>
    public int Version => (int)_header.Version;

    /// <summary>Cluster size in bytes.</summary>
    public int ClusterSize => _clusterSize;

    /// <summary>Codec used for compressed clusters.</summary>
    public Qcow2CompressionType CompressionType => _compressionType;

    /// <summary>Whether the image was opened for writing.</summary>
    public bool IsWritable => _writable;

    /// <summary>Internal snapshots, in table order.</summary>
    public IReadOnlyList<Qcow2Snapshot> Snapshots => _snapshots;

    /// <summary>The opened backing image, or <see langword="null"/>.</summary>
    public DiskImageFile? Backing => _backing;

    /// <summary>Refcount width in bits.</summary>
    public int RefcountBits => 1 << _refcountOrder;

    /// <summary>Whether L2 entries are extended (subclusters).</summary>
    public bool HasExtendedL2 => _extendedL2;

    /// <summary>Virtual disk size in bytes.</summary>
    public long VirtualSize => (long)_header.Size;

    /// <inheritdoc />
    public override ImageInfo GetInfo()
    {
        ThrowIfDisposed();
        string? backingName = _header.BackingFileName;
        string? fullBacking = backingName is null ? null : CombineBackingPath(backingName, _fileName);
        return new ImageInfo
        {
            FileName = _fileName ?? string.Empty,
            Format = DiskImageFormat.Qcow2,
            VirtualSize = (long)_header.Size,
            ActualSize = _host is FileBlockDevice f ? f.AllocatedSize : -1,
            ClusterSize = _clusterSize,
            DirtyFlag = (_header.IncompatibleFeatures & Qcow2IncompatibleFeatures.Dirty) != 0,
            BackingFileName = backingName,
            FullBackingFileName = fullBacking,
            BackingFileFormat = _header.BackingFormat,
            Encrypted = _header.CryptMethod != 0,
            Snapshots = _snapshots,
            Qcow2 = new Qcow2FormatInfo
            {
                Compat = _header.Version >= 3 ? "1.1" : "0.10",
                CompressionType = _compressionType,
                LazyRefcounts = (_header.CompatibleFeatures & Qcow2CompatibleFeatures.LazyRefcounts) != 0,
                RefcountBits = RefcountBits,
                Corrupt = (_header.IncompatibleFeatures & Qcow2IncompatibleFeatures.Corrupt) != 0,
                ExtendedL2 = _extendedL2,
                DataFile = _header.ExternalDataFileName,
                Bitmaps = Bitmaps,
                Version = (int)_header.Version,
            },
        };
    }

    /// <summary>A read-only view of the guest disk as it was when <paramref name="snapshot"/> was taken.</summary>
    /// <exception cref="ArgumentException"><paramref name="snapshot"/> is not one of this image's snapshots.</exception>
    public BlockDevice OpenSnapshot(Qcow2Snapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ThrowIfDisposed();
        int index = -1;
        for (int i = 0; i < _snapshots.Count; i++)
        {
            if (ReferenceEquals(_snapshots[i], snapshot) || _snapshots[i] == snapshot)
            {
                index = i;
                break;
            }
        }

        if (index < 0)
        {
            throw new ArgumentException("The snapshot does not belong to this image.", nameof(snapshot));
        }

        if (_metadataOnly)
        {
            throw MetadataOnlyException();
        }

        Qcow2SnapshotEntry e = _snapshotEntries[index];
        ulong[] l1 = ReadL1Table((long)e.L1TableOffset, (int)e.L1Size);
        return new Qcow2ContentDevice(this, l1, snapshot.DiskSize);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (disposing)
        {
            try
            {
                if (_writable)
                {
                    _lock.EnterWriteLock();
                    try
                    {
                        // Persistent bitmaps are written back (and leave the in-use state) on close, as QEMU does.
                        StoreBitmaps();
                        _host.Flush();
                    }
                    finally
                    {
                        _lock.ExitWriteLock();
                    }
                }
            }
            finally
            {
                _content.DisposeByOwner();
                _backing?.Dispose();
                _dataFile?.Dispose();
                if (!_leaveOpen)
                {
                    _host.Dispose();
                }

                _lock.Dispose();
            }
        }
    }

    private static InvalidOperationException MetadataOnlyException() =>
        new("The qcow2 image was opened for its metadata only (its backing chain is not open); its content is not available.");

    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    /// <summary>State shared while opening a backing chain: files seen (loop detection) and depth.</summary>
    private sealed class OpenContext
    {
        public HashSet<string> Visited { get; } = new(StringComparer.Ordinal);

        public int Depth { get; set; }
    }

    private static string CanonicalPath(string path)
    {
        string full = Path.GetFullPath(path);
        try
        {
            FileSystemInfo? target = File.ResolveLinkTarget(full, returnFinalTarget: true);
            if (target is not null)
            {
                full = target.FullName;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return full;
    }

    private static Qcow2Image OpenFile(string path, DiskImageOpenOptions options, OpenContext context)
    {
        string canonical = CanonicalPath(path);
        if (!context.Visited.Add(canonical))
        {
            FormatError.Throw("qcow2 backing chain", -1, $"the backing chain loops: '{path}' is reached twice.");
        }

        FileBlockDevice host = FileBlockDevice.Open(path, options.Writable, ImageLockRequest.ForQcow2(options.Writable, options.MetadataOnly, options.Locking));
        try
        {
            return OpenCore(host, options, leaveOpen: false, path, context, forRepair: false);
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    private static Qcow2Image OpenCore(BlockDevice host, DiskImageOpenOptions options, bool leaveOpen, string? fileName, OpenContext context, bool forRepair)
    {
        bool writable = options.Writable;
        if (writable && options.MetadataOnly)
        {
            throw new ArgumentException("An image opened for its metadata only cannot be writable.", nameof(options));
        }

        if (writable && !host.CanWrite)
        {
            throw new ArgumentException("The host device is read-only but a writable open was requested.", nameof(host));
        }

        long hostLength = host.Length;
        Qcow2Header header = ReadValidatedHeader(host, writable, forRepair);
        ulong reftableBytes = (ulong)header.RefcountTableClusters << header.ClusterBits;
        if ((header.IncompatibleFeatures & Qcow2IncompatibleFeatures.ExternalDataFile) != 0 || header.FindExtension(Qcow2HeaderExtension.ExternalDataFile) is not null)
        {
            string name = header.ExternalDataFileName ?? "(unnamed)";
            if (!options.AllowExternalDataFile)
            {
                FormatError.Unsupported($"The qcow2 image stores its data in the external data file '{name}'; opening it is denied by default. Set DiskImageOpenOptions.AllowExternalDataFile to allow it.");
            }

        }

        BlockDevice? dataFile = null;
        DiskImageFile? backing = null;
        try
        {
            if ((header.IncompatibleFeatures & Qcow2IncompatibleFeatures.ExternalDataFile) != 0)
            {
                dataFile = OpenDataFile(header, fileName, writable, context);
            }

            if (header.BackingFileNameBytes is not null && !options.MetadataOnly)
            {
                backing = OpenBacking(header, fileName, options, context);
            }

            // A dirty image (lazy refcounts, not closed cleanly) may have stale refcounts: a writable
            // open repairs it first, like QEMU, once the open policy has accepted the image. Reads do
            // not depend on refcounts, so a read-only open uses it as it is.
            if (writable && !forRepair && (header.IncompatibleFeatures & Qcow2IncompatibleFeatures.Dirty) != 0)
            {
                header = RepairDirtyOnOpen(host, header);
                hostLength = host.Length;
                reftableBytes = (ulong)header.RefcountTableClusters << header.ClusterBits;
            }

            // Load tables (sizes are bounded by the file length, checked above).
            ulong[] refcountTable = ReadTable(host, (long)header.RefcountTableOffset, (int)(reftableBytes / 8));
            ulong[] l1 = ReadTable(host, (long)header.L1TableOffset, (int)header.L1Size);
            List<Qcow2SnapshotEntry> snapshots = ReadSnapshotTable(host, header, hostLength);
            List<Qcow2BitmapDirectoryEntry>? bitmaps = ReadBitmapDirectory(host, header, writable);
            return new Qcow2Image(host, leaveOpen, fileName, header, writable, l1, refcountTable, snapshots, backing, dataFile)
            {
                _metadataOnly = options.MetadataOnly,
                _bitmapDirectory = bitmaps,
            };
        }
        catch
        {
            backing?.Dispose();
            dataFile?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Repairs the dirty image in <paramref name="host"/> (the checker in <see cref="Qcow2RepairMode.All"/>
    /// mode, which rebuilds refcounts and clears the dirty bit) and returns the re-read header.
    /// </summary>
    /// <exception cref="InvalidDataException">The repair did not leave a clean image.</exception>
    private static Qcow2Header RepairDirtyOnOpen(BlockDevice host, Qcow2Header dirtyHeader)
    {
        Qcow2CheckResult result = RepairDirtyImage(host);
        Qcow2Header header = ReadValidatedHeader(host, writable: true, forRepair: false);
        if (result.CheckErrors > 0 || result.Corruptions > 0 || (header.IncompatibleFeatures & Qcow2IncompatibleFeatures.Dirty) != 0)
        {
            string detail = string.Empty;
            foreach (string message in result.Messages)
            {
                if (message.StartsWith("ERROR", StringComparison.Ordinal))
                {
                    detail = " First problem: " + message;
                    break;
                }
            }

            FormatError.Throw("qcow2 image", Qcow2Header.Field.IncompatibleFeatures,
                $"the image is dirty and could not be repaired ({result.Corruptions} corruptions, {result.CheckErrors} check errors remain); open it read-only.{detail}");
        }

        if (header.Version != dirtyHeader.Version || header.ClusterBits != dirtyHeader.ClusterBits || header.Size != dirtyHeader.Size)
        {
            FormatError.Throw("qcow2 header", 0, "the header changed while the dirty image was repaired.");
        }

        return header;
    }

    /// <summary>
    /// Reads cluster 0 of <paramref name="host"/> and validates the header like an open does (QEMU's
    /// open-time limits, feature bits, table placement), parsing its extensions.
    /// </summary>
    /// <exception cref="InvalidDataException">The header is malformed, or the image is marked corrupt and <paramref name="writable"/> without <paramref name="forRepair"/>.</exception>
    /// <exception cref="NotSupportedException">The image uses an unsupported feature.</exception>
    private static Qcow2Header ReadValidatedHeader(BlockDevice host, bool writable, bool forRepair, bool tablesMayPassEnd = false)
    {
        long hostLength = host.Length;
        long tableLimit = tablesMayPassEnd ? long.MaxValue : hostLength;
        const string S = "qcow2 header";

        // Cluster 0: read a sector first to learn the cluster size, then the whole cluster (as far as it exists).
        Span<byte> first = stackalloc byte[512];
        int firstLength = host.Read(0, first);
        if (firstLength < 4 || !HasMagic(first))
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

        if (header.CryptMethod != 0)
        {
            FormatError.Unsupported(header.CryptMethod switch
            {
                1 => "The qcow2 image is encrypted with legacy AES, which is not supported.",
                2 => "The qcow2 image is LUKS-encrypted, which is not supported.",
                _ => $"The qcow2 image uses unknown encryption method {header.CryptMethod}.",
            });
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
        if (reftableBytes > MaxRefcountTableBytes)
        {
            FormatError.Throw(S, Qcow2Header.Field.RefcountTableClusters, $"reference count table too large ({header.RefcountTableClusters} clusters).");
        }

        if (header.RefcountTableClusters == 0)
        {
            FormatError.Throw(S, Qcow2Header.Field.RefcountTableClusters, "the image has no reference count table.");
        }

        ValidateTable(header.RefcountTableOffset, reftableBytes, tableLimit, clusterSize, "reference count table");

        // Snapshot table header fields.
        if (header.SnapshotCount > MaxSnapshots)
        {
            FormatError.Throw(S, Qcow2Header.Field.SnapshotCount, $"too many snapshots ({header.SnapshotCount}).");
        }

        if (header.SnapshotCount > 0)
        {
            ValidateTable(header.SnapshotsOffset, (ulong)header.SnapshotCount * Qcow2SnapshotEntry.FixedSize, tableLimit, clusterSize, "snapshot table");
        }

        // Active L1 table.
        ulong l1Bytes = (ulong)header.L1Size * 8;
        if (l1Bytes > MaxL1Bytes)
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
    private static void ValidateTable(ulong offset, ulong bytes, long hostLength, int clusterSize, string name)
    {
        if ((offset & (ulong)(clusterSize - 1)) != 0 || offset == 0)
        {
            FormatError.Throw("qcow2 header", -1, $"invalid {name} offset {offset} (must be a non-zero multiple of the cluster size).");
        }

        if (offset > MaxHostOffset || bytes > MaxHostOffset - offset)
        {
            FormatError.Throw("qcow2 header", -1, $"invalid {name} offset {offset}: the table would end past the largest host offset.");
        }

        if (offset + bytes > (ulong)hostLength)
        {
            FormatError.Throw("qcow2 header", -1, $"the {name} at offset {offset} ({bytes} bytes) extends past the end of the file ({hostLength} bytes).");
        }
    }

    /// <summary>Reads <paramref name="entries"/> big-endian 64-bit entries at <paramref name="offset"/>; the range is already validated.</summary>
    private static ulong[] ReadTable(BlockDevice host, long offset, int entries)
    {
        var table = new ulong[entries];
        if (entries == 0)
        {
            return table;
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Min(entries * 8, 1 << 20));
        try
        {
            int done = 0;
            while (done < entries)
            {
                int n = Math.Min(entries - done, buffer.Length / 8);
                Span<byte> span = buffer.AsSpan(0, n * 8);
                int read = host.Read(offset + ((long)done * 8), span);
                span[read..].Clear();
                for (int i = 0; i < n; i++)
                {
                    table[done + i] = BinaryPrimitives.ReadUInt64BigEndian(span[(i * 8)..]);
                }

                done += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return table;
    }

    private static List<Qcow2SnapshotEntry> ReadSnapshotTable(BlockDevice host, Qcow2Header header, long hostLength)
    {
        var list = new List<Qcow2SnapshotEntry>((int)Math.Min(header.SnapshotCount, 1024));
        if (header.SnapshotCount == 0)
        {
            return list;
        }

        const string S = "qcow2 snapshot table";
        long tableOffset = (long)header.SnapshotsOffset;
        long pos = tableOffset;
        byte[] entry = new byte[Qcow2SnapshotEntry.FixedSize + Qcow2SnapshotEntry.MaxExtraDataSize + (2 * ushort.MaxValue) + 8];
        for (uint i = 0; i < header.SnapshotCount; i++)
        {
            // Each entry: the fixed part says how long the rest is (bounded: extra ≤ 1 KiB, names ≤ 64 KiB each).
            if (pos + Qcow2SnapshotEntry.FixedSize > hostLength)
            {
                FormatError.Throw(S, pos, "the snapshot table extends past the end of the file.");
            }

            host.ReadExactly(pos, entry.AsSpan(0, Qcow2SnapshotEntry.FixedSize));
            long extra = BinaryPrimitives.ReadUInt32BigEndian(entry.AsSpan(Qcow2SnapshotEntry.Field.ExtraDataSize));
            long names = BinaryPrimitives.ReadUInt16BigEndian(entry.AsSpan(Qcow2SnapshotEntry.Field.IdStringSize)) +
                         BinaryPrimitives.ReadUInt16BigEndian(entry.AsSpan(Qcow2SnapshotEntry.Field.NameSize));
            if (extra > Qcow2SnapshotEntry.MaxExtraDataSize)
            {
                FormatError.Throw(S, pos, $"snapshot {i} has too much extra metadata ({extra} bytes, at most {Qcow2SnapshotEntry.MaxExtraDataSize}).");
            }

            long length = (Qcow2SnapshotEntry.FixedSize + extra + names + 7) & ~7L;
            if (pos + length - tableOffset > MaxSnapshotTableBytes)
            {
                FormatError.Throw(S, tableOffset, "snapshot table too large.");
            }

            long available = Math.Min(length, hostLength - pos);
            if (Qcow2SnapshotEntry.FixedSize + extra + names > available)
            {
                FormatError.Throw(S, pos, "the snapshot table extends past the end of the file.");
            }

            host.ReadExactly(pos, entry.AsSpan(0, (int)available));
            Qcow2SnapshotEntry e = Qcow2SnapshotEntry.Parse(entry.AsSpan(0, (int)available), pos, out _);
            if (header.Version >= 3 && e.ExtraData.Length < 16)
            {
                FormatError.Throw(S, pos, $"snapshot {i} has {e.ExtraData.Length} bytes of extra data; version 3 requires at least 16.");
            }

            ulong l1Bytes = (ulong)e.L1Size * 8;
            if (l1Bytes > MaxL1Bytes)
            {
                FormatError.Throw(S, pos, $"snapshot {i} L1 table too large ({e.L1Size} entries).");
            }

            if (e.L1Size > 0)
            {
                ValidateTable(e.L1TableOffset, l1Bytes, hostLength, header.ClusterSize, $"snapshot {i} L1 table");
            }

            list.Add(e);
            pos += length;
        }

        return list;
    }

    /// <summary>The backing name joined to the overlay's directory as given (relative stays relative), like qemu's <c>full-backing-filename</c>.</summary>
    private static string CombineBackingPath(string name, string? overlayFileName)
    {
        if (Path.IsPathRooted(name) || overlayFileName is null)
        {
            return name;
        }

        string? dir = Path.GetDirectoryName(overlayFileName);
        return string.IsNullOrEmpty(dir) ? name : Path.Combine(dir, name);
    }

    private static string ResolveBackingPath(string name, string? overlayFileName)
    {
        if (Path.IsPathRooted(name))
        {
            return name;
        }

        string? dir = overlayFileName is null ? null : Path.GetDirectoryName(Path.GetFullPath(overlayFileName));
        return Path.GetFullPath(Path.Combine(dir ?? Directory.GetCurrentDirectory(), name));
    }

    /// <summary>Opens the external data file (read-only; the caller allowed it) named by the "DATA" extension.</summary>
    private static FileBlockDevice OpenDataFile(Qcow2Header header, string? fileName, bool writable, OpenContext context)
    {
        string? name = header.ExternalDataFileName;
        if (string.IsNullOrEmpty(name))
        {
            FormatError.Throw("qcow2 header", Qcow2Header.Field.IncompatibleFeatures, "the external data file bit is set but the image names no data file.");
        }

        if (writable)
        {
            FormatError.Unsupported($"Writing qcow2 images whose data lives in an external data file ('{name}') is not supported; open it read-only.");
        }

        if (name.StartsWith("json:", StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal))
        {
            FormatError.Unsupported($"The data file name '{name}' is not a plain file name.");
        }

        string path = ResolveBackingPath(name, fileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The external data file '{name}' (resolved to '{path}') does not exist.", path);
        }

        if (!context.Visited.Add(CanonicalPath(path)))
        {
            FormatError.Throw("qcow2 header", -1, $"the external data file '{name}' is the image itself or one of its backing files.");
        }

        return FileBlockDevice.Open(path, writable: false);
    }

    private static DiskImageFile OpenBacking(Qcow2Header header, string? fileName, DiskImageOpenOptions options, OpenContext context)
    {
        string name = header.BackingFileName!;
        if (options.BackingFiles != BackingFilePolicy.Allow)
        {
            FormatError.Unsupported($"The qcow2 image names the backing file '{name}'; following backing files is denied by default. Set DiskImageOpenOptions.BackingFiles to BackingFilePolicy.Allow to open it.");
        }

        if (name.Length == 0 || name.StartsWith("json:", StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal))
        {
            FormatError.Unsupported($"The backing file name '{name}' is not a plain file name.");
        }

        if (context.Depth + 1 > options.MaxBackingChainDepth)
        {
            FormatError.Throw("qcow2 backing chain", -1, $"the backing chain is deeper than DiskImageOpenOptions.MaxBackingChainDepth ({options.MaxBackingChainDepth}).");
        }

        string path = ResolveBackingPath(name, fileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The backing file '{name}' (resolved to '{path}') does not exist.", path);
        }

        string? format = header.BackingFormat;
        DiskImageFormat kind;
        if (format is null)
        {
            // No backing format recorded: detect by content, but a qcow2 magic is never read as raw.
            kind = DiskImageFile.DetectFormat(path);
        }
        else
        {
            kind = format switch
            {
                "qcow2" => DiskImageFormat.Qcow2,
                "raw" => DiskImageFormat.Raw,
                _ => throw new NotSupportedException($"The backing file '{name}' has format '{format}', which is not supported (only qcow2 and raw)."),
            };
            if (kind == DiskImageFormat.Raw && DiskImageFile.DetectFormat(path) == DiskImageFormat.Qcow2)
            {
                // Stated raw while the content is qcow2: honour the statement, as QEMU does (the format is explicit).
                kind = DiskImageFormat.Raw;
            }
        }

        var backingOptions = new DiskImageOpenOptions
        {
            Writable = false,
            BackingFiles = options.BackingFiles,
            AllowExternalDataFile = options.AllowExternalDataFile,
            MaxBackingChainDepth = options.MaxBackingChainDepth,
            Format = kind,
            Locking = options.Locking,
        };
        if (kind == DiskImageFormat.Raw)
        {
            string canonical = CanonicalPath(path);
            if (!context.Visited.Add(canonical))
            {
                FormatError.Throw("qcow2 backing chain", -1, $"the backing chain loops: '{path}' is reached twice.");
            }

            return RawImage.Open(path, backingOptions);
        }

        context.Depth++;
        try
        {
            return OpenFile(path, backingOptions, context);
        }
        finally
        {
            context.Depth--;
        }
    }
}
