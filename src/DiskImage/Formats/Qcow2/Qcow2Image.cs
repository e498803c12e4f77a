using System.Buffers.Binary;
using DiskImage.Formats.Luks;
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
    private readonly Qcow2RefcountManager _refcounts;
    private readonly Qcow2MappingWriter _mapping;
    private readonly Qcow2CompressedBatchWriter _compressedBatch;
    private readonly Qcow2MetadataWriteback _writeback;
    private ulong[] _l1;
    private int _disposed;
    private bool _metadataOnly;   // opened for GetInfo only: the backing chain was not opened
    private Qcow2Encryption? _encryption;   // crypt_method 1 or 2; its Payload ciphers data clusters
    private Luks.LuksHostWriter? _hostWriter;

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
        _writeback = new Qcow2MetadataWriteback(this);
        _refcounts = new Qcow2RefcountManager(this, refcountTable, _l2Cache, _metadataClusters, _writeback);
        _mapping = new Qcow2MappingWriter(this, _l2Cache, _metadataClusters, _refcounts, _writeback);
        _compressedBatch = new Qcow2CompressedBatchWriter(this, _refcounts, _mapping);
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
        return OpenFile(path, options, new Qcow2OpenContext());
    }

    /// <summary>Opens a qcow2 image stored in <paramref name="host"/>. Backing files named by the image resolve against <paramref name="fileName"/>'s directory (or the current directory).</summary>
    /// <remarks>A writable open of a dirty image repairs it in <paramref name="host"/> first (see the type remarks).</remarks>
    /// <exception cref="InvalidDataException">The image is malformed, or dirty and not repairable (when opened writable).</exception>
    /// <exception cref="NotSupportedException">The image uses an unsupported feature, or names a backing/data file that the policy denies.</exception>
    public static Qcow2Image Open(BlockDevice host, DiskImageOpenOptions? options = null, bool leaveOpen = false, string? fileName = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        options ??= DiskImageOpenOptions.Default;
        var context = new Qcow2OpenContext();
        if (fileName is not null)
        {
            context.Visited.Add(Qcow2BackingChain.CanonicalPath(fileName));
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
            Qcow2Header header = Qcow2HeaderValidator.ReadValidatedHeader(host, writable: false, forRepair: true, tablesMayPassEnd: true);
            Qcow2BitmapDirectoryReader.ReadBitmapDirectory(host, header, writable: false);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            return false;
        }

        try
        {
            Qcow2Header strict = Qcow2HeaderValidator.ReadValidatedHeader(host, writable: false, forRepair: true);
            Qcow2TableReader.ReadSnapshotTable(host, strict, host.Length);
            return false;
        }
        catch (InvalidDataException)
        {
            return true;
        }
    }

    /// <summary>Opens an image for the checker: writable opens of dirty or corrupt images are allowed so they can be repaired.</summary>
    internal static Qcow2Image OpenForRepair(BlockDevice host, DiskImageOpenOptions? options, bool leaveOpen, string? fileName) =>
        OpenCore(host, options ?? DiskImageOpenOptions.Default, leaveOpen, fileName, new Qcow2OpenContext(), forRepair: true);

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
        string? fullBacking = backingName is null ? null : Qcow2BackingChain.CombineBackingPath(backingName, _fileName);
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
                DataFileRaw = _header.ExternalDataFileName is null ? null : (_header.AutoclearFeatures & Qcow2AutoclearFeatures.RawExternalData) != 0,
                Bitmaps = Bitmaps,
                Version = (int)_header.Version,
                EncryptionFormat = _encryption?.FormatName,
                Luks = _encryption?.Luks is { } luks ? LuksVolume.ToInfo(luks) : null,
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
                        // Deferred metadata first; then persistent bitmaps are written back (and leave
                        // the in-use state) on close, as QEMU does.
                        FlushMetadata();
                        StoreBitmaps();
                        TrimHost();
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
                _encryption?.Dispose();
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

    internal static Qcow2Image OpenFile(string path, DiskImageOpenOptions options, Qcow2OpenContext context)
    {
        string canonical = Qcow2BackingChain.CanonicalPath(path);
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

    private static Qcow2Image OpenCore(BlockDevice host, DiskImageOpenOptions options, bool leaveOpen, string? fileName, Qcow2OpenContext context, bool forRepair)
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
        Qcow2Header header = Qcow2HeaderValidator.ReadValidatedHeader(host, writable, forRepair);
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
        Qcow2Encryption? encryption = null;
        try
        {
            // Legacy AES and LUKS without a passphrase open for their metadata only.
            encryption = Qcow2Encryption.Open(host, header, options);

            if ((header.IncompatibleFeatures & Qcow2IncompatibleFeatures.ExternalDataFile) != 0)
            {
                dataFile = Qcow2BackingChain.OpenDataFile(header, fileName, writable, context);
            }

            if (header.BackingFileNameBytes is not null && !options.MetadataOnly)
            {
                backing = Qcow2BackingChain.OpenBacking(header, fileName, options, context);
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
            ulong[] refcountTable = Qcow2TableReader.ReadTable(host, (long)header.RefcountTableOffset, (int)(reftableBytes / 8));
            ulong[] l1 = Qcow2TableReader.ReadTable(host, (long)header.L1TableOffset, (int)header.L1Size);
            List<Qcow2SnapshotEntry> snapshots = Qcow2TableReader.ReadSnapshotTable(host, header, hostLength);
            List<Qcow2BitmapDirectoryEntry>? bitmaps = Qcow2BitmapDirectoryReader.ReadBitmapDirectory(host, header, writable);
            return new Qcow2Image(host, leaveOpen, fileName, header, writable, l1, refcountTable, snapshots, backing, dataFile)
            {
                _metadataOnly = options.MetadataOnly,
                _bitmapDirectory = bitmaps,
                _encryption = encryption,
            };
        }
        catch
        {
            encryption?.Dispose();
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
        Qcow2Header header = Qcow2HeaderValidator.ReadValidatedHeader(host, writable: true, forRepair: false);
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

}
