using System.Globalization;
using System.Runtime.CompilerServices;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <summary>
/// Consistency check and repair of a qcow2 image with the semantics of <c>qemu-img check</c>: every
/// host cluster's references (header, L1/L2 tables of the active state and of every snapshot, data
/// and compressed clusters, snapshot table, refcount table and blocks, bitmaps, encryption header)
/// are counted and compared with the stored refcounts.
/// </summary>
/// <remarks>
/// The checker reads the host device itself and trusts nothing in it: every table is read in
/// bounded chunks (ranges past the end of the file read as zeros), every offset is range-checked,
/// and the in-memory refcount array is bounded by the file size. Malformed structures are reported,
/// never thrown. Repair writes are ordered so that a crash during repair can at worst leave leaks:
/// refcount increments and new refcount structures are written before anything refers to them,
/// and the switch to a rebuilt refcount table is a single header write.
/// </remarks>
internal sealed partial class Qcow2Checker
{
    private const ulong L1OffsetMask = 0x00fffffffffffe00;
    private const ulong L2OffsetMask = 0x00fffffffffffe00;
    private const ulong L2StdReservedMask = 0x3f000000000001fe;
    private const ulong RefTableOffsetMask = 0xfffffffffffffe00;
    private const ulong FlagCopied = 1UL << 63;
    private const ulong FlagCompressed = 1UL << 62;
    private const ulong FlagZero = 1;
    private const int MaxMessages = 10_000;
    private const int MaxL1Bytes = 32 * 1024 * 1024;
    private const int MaxRefTableBytes = 8 * 1024 * 1024;
    private const int MaxSnapshots = 65536;
    private const int MaxSnapshotTableBytes = 64 * 1024 * 1024;

    /// <summary>Upper bound on the computed-refcount array (4 bytes per host cluster).</summary>
    internal const long MaxTrackedClusters = 1L << 28;

    private readonly BlockDevice _host;
    private readonly List<string> _messages = [];
    private long _fileLength;

    // Header fields.
    private int _version;
    private int _clusterBits;
    private int _clusterSize;
    private int _refcountOrder;
    private ulong _virtualSize;
    private uint _l1Size;
    private ulong _l1Offset;
    private ulong _refTableOffset;
    private uint _refTableClusters;
    private uint _snapshotCount;
    private ulong _snapshotsOffset;
    private ulong _snapshotsSize;
    private ulong _incompatible;
    private ulong _autoclear;
    private int _headerLength;
    private bool _extendedL2;
    private bool _externalData;
    private ulong _bitmapDirOffset;
    private ulong _bitmapDirSize;
    private uint _bitmapCount;
    private bool _hasBitmapsExtension;
    private ulong _cryptOffset;
    private ulong _cryptLength;
    private readonly List<SnapshotRef> _snapshots = [];

    // Refcount table (validated size, entries beyond the end of the file read as zero).
    private ulong[] _refTable = [];
    private long _refTableEntries;

    // Computed references per host cluster.
    private uint[] _refs = [];
    private long _refsLength;
    private long _refsCap;

    // Counters, named as qemu-img reports them.
    private long _corruptions;
    private long _leaks;
    private long _checkErrors;
    private long _corruptionsFixed;
    private long _leaksFixed;
    private long _allocated;
    private long _fragmented;
    private long _compressed;
    private long _highestCluster = -1;
    private bool _rebuild;
    private string? _failure;

    // One-refblock cache for random stored-refcount lookups.
    private byte[]? _rbBuffer;
    private long _rbIndex = -1;

    private Qcow2Checker(BlockDevice host)
    {
        _host = host;
    }

    private ulong ClusterMask => (ulong)_clusterSize - 1;

    private int RefcountBits => 1 << _refcountOrder;

    private ulong RefcountMax => _refcountOrder == 6 ? ulong.MaxValue : (1UL << RefcountBits) - 1;

    private long RefblockEntries => (long)_clusterSize * 8 / RefcountBits;

    private int L2EntrySize => _extendedL2 ? 16 : 8;

    private int L2Entries => _clusterSize / L2EntrySize;

    /// <summary>
    /// Checks the qcow2 image stored in <paramref name="host"/> and optionally repairs it. Never throws
    /// for malformed content: problems that stop the check are counted in
    /// <see cref="Qcow2CheckResult.CheckErrors"/>. After a repair that fixed something, the image is
    /// checked again and the remaining corruptions and leaks come from that second pass, as
    /// <c>qemu-img check -r</c> does.
    /// </summary>
    /// <param name="host">The image file; must be writable when <paramref name="repair"/> is not <see cref="Qcow2RepairMode.None"/>.</param>
    /// <param name="repair">What to fix.</param>
    public static Qcow2CheckResult Run(BlockDevice host, Qcow2RepairMode repair)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (repair != Qcow2RepairMode.None && !host.CanWrite)
        {
            throw new InvalidOperationException("Repairing a qcow2 image needs a writable image.");
        }

        var first = new Qcow2Checker(host);
        Qcow2CheckResult result = first.Execute(repair);
        if (repair == Qcow2RepairMode.None || (result.CorruptionsFixed == 0 && result.LeaksFixed == 0))
        {
            return result;
        }

        // Double-check the repaired image; its corruption and leak counts are the ones reported.
        var second = new Qcow2Checker(host);
        Qcow2CheckResult recheck = second.Execute(Qcow2RepairMode.None);
        var messages = new List<string>(first._messages.Count + second._messages.Count + 1);
        messages.AddRange(first._messages);
        messages.Add("Double checking the fixed image now...");
        messages.AddRange(second._messages);
        return recheck with
        {
            CorruptionsFixed = result.CorruptionsFixed,
            LeaksFixed = result.LeaksFixed,
            Messages = messages,
        };
    }

    private Qcow2CheckResult Execute(Qcow2RepairMode repair)
    {
        try
        {
            ExecuteCore(repair);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or ArgumentException or NotSupportedException or UnauthorizedAccessException or OutOfMemoryException)
        {
            // EndOfStreamException derives from IOException; a failing device surfaces here too.
            _checkErrors++;
            AddMessage("ERROR: check could not complete: " + ex.Message);
        }

        return BuildResult();
    }

    private Qcow2CheckResult BuildResult() => new()
    {
        Corruptions = _corruptions,
        Leaks = _leaks,
        CorruptionsFixed = _corruptionsFixed,
        LeaksFixed = _leaksFixed,
        CheckErrors = _checkErrors,
        ImageEndOffset = _clusterSize == 0 ? 0 : (_highestCluster + 1) * (long)_clusterSize,
        TotalClusters = _clusterSize == 0 ? 0 : (long)((_virtualSize + ClusterMask) >> _clusterBits),
        AllocatedClusters = _allocated,
        FragmentedClusters = _fragmented,
        CompressedClusters = _compressed,
        Messages = _messages,
        Failure = _failure,
    };

    private void ExecuteCore(Qcow2RepairMode repair)
    {
        _repairMode = repair;
        _fileLength = _host.Length;
        if (!ReadHeader())
        {
            _checkErrors++;
            return;
        }

        long fileClusters = (long)(((ulong)_fileLength + ClusterMask) >> _clusterBits);
        if (fileClusters > MaxTrackedClusters)
        {
            AddMessage($"ERROR: image has {fileClusters} host clusters, more than the checker tracks ({MaxTrackedClusters})");
            _checkErrors++;
            return;
        }

        long headerCorruptions = _corruptions;
        ResetReferences(fileClusters);
        CalculateReferences(includeRefcountStructures: true);

        var preCompare = (Corruptions: _corruptions, Leaks: _leaks, CheckErrors: _checkErrors);
        CompareRefcounts(Qcow2RepairMode.None);

        if (_rebuild && repair == Qcow2RepairMode.All)
        {
            long oldCorruptions = _corruptions;
            long oldLeaks = _leaks;
            AddMessage("Rebuilding refcount structure");
            if (RebuildRefcountStructure())
            {
                // Count again against the new structures: what remains (say, damaged L2 entries) is
                // still reported, and the difference is what the rebuild fixed. The old structures are
                // now leaked: freed here without being counted, as qemu-img does.
                _rebuild = false;
                _corruptions = headerCorruptions;
                _leaks = 0;
                _checkErrors = preCompare.CheckErrors;
                _fileLength = _host.Length;
                ResetReferences((long)(((ulong)_fileLength + ClusterMask) >> _clusterBits));
                CalculateReferences(includeRefcountStructures: true);
                var saved = (_corruptions, _leaks, _checkErrors, _corruptionsFixed, _leaksFixed);
                _corruptions = 0;
                _leaks = 0;
                CompareRefcounts(Qcow2RepairMode.Leaks);
                long freshLeaks = _leaks;
                (_corruptions, _leaks, _checkErrors, _corruptionsFixed, _leaksFixed) = saved;
                _corruptionsFixed += Math.Max(0, oldCorruptions - _corruptions);
                _leaksFixed += Math.Max(0, oldLeaks - _leaks);
                _leaks += freshLeaks;
            }
            else
            {
                _checkErrors++;
            }
        }
        else if (repair != Qcow2RepairMode.None)
        {
            if (_rebuild)
            {
                AddMessage("ERROR need to rebuild refcount structures");
                _checkErrors++;
                _failure = "Input/output error";
                return;
            }

            if (_leaks != 0 || _corruptions != 0)
            {
                (_corruptions, _leaks, _checkErrors) = preCompare;
                CompareRefcounts(repair);
            }
        }

        bool repairCopied = repair == Qcow2RepairMode.All ||
            (repair == Qcow2RepairMode.Leaks && _checkErrors == 0 && _corruptions == 0 && _leaks == 0);
        CheckCopiedFlags(repairCopied);

        if (repair != Qcow2RepairMode.None)
        {
            if (repair == Qcow2RepairMode.All && _snapshotCorruptions > 0 && _checkErrors == 0 && RewriteSnapshotTable())
            {
                _corruptions -= _snapshotCorruptions;
                _corruptionsFixed += _snapshotCorruptions;
            }

            if (_checkErrors == 0 && _corruptions == 0)
            {
                MarkCleanAndConsistent();
            }

            _host.Flush();
        }
    }

    /// <summary>Whether another message would be kept (not quiet, under the cap).</summary>
    internal bool WantsMessage
    {
        get
        {
            if (_messages.Count > MaxMessages)
            {
                return false;
            }

            if (_messages.Count == MaxMessages)
            {
                _messages.Add("... further messages omitted");
                return false;
            }

            return true;
        }
    }

    private void ResetReferences(long fileClusters)
    {
        _refsCap = fileClusters + 1;
        _refs = new uint[Math.Max(fileClusters, 1)];
        _refsLength = fileClusters;
        _allocated = 0;
        _fragmented = 0;
        _compressed = 0;
    }

    private void AddMessage(string message)
    {
        if (WantsMessage)
        {
            _messages.Add(message);
        }
    }

    private void AddMessage([InterpolatedStringHandlerArgument("")] ref Qcow2CheckerMessageHandler message)
    {
        if (message.Enabled)
        {
            _messages.Add(message.ToStringAndClear());
        }
    }

    private static string Hex(ulong value) => value.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>Reads <paramref name="buffer"/> at <paramref name="offset"/>; bytes past the end of the file read as zeros.</summary>
    private void ReadZeroFilled(ulong offset, Span<byte> buffer)
    {
        if (offset >= (ulong)_fileLength)
        {
            buffer.Clear();
            return;
        }

        int n = _host.Read((long)offset, buffer);
        buffer[n..].Clear();
    }

    private readonly record struct SnapshotRef(string Id, string Name, ulong L1Offset, uint L1Size);
}
