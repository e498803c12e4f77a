using System.Buffers;
using System.Buffers.Binary;
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

    private bool ReadHeader()
    {
        Span<byte> h = stackalloc byte[112];
        h.Clear();
        if (_fileLength < 72)
        {
            AddMessage("ERROR: file is too short for a qcow2 header");
            return false;
        }

        ReadZeroFilled(0, h);
        if (BinaryPrimitives.ReadUInt32BigEndian(h) != Qcow2Image.Magic)
        {
            AddMessage("ERROR: Image is not in qcow2 format");
            return false;
        }

        _version = (int)BinaryPrimitives.ReadUInt32BigEndian(h[4..]);
        if (_version is not (2 or 3))
        {
            AddMessage($"ERROR: Unsupported qcow2 version {_version}");
            return false;
        }

        uint clusterBits = BinaryPrimitives.ReadUInt32BigEndian(h[20..]);
        if (clusterBits is < 9 or > 21)
        {
            AddMessage($"ERROR: Unsupported cluster size: 2^{clusterBits}");
            return false;
        }

        _clusterBits = (int)clusterBits;
        _clusterSize = 1 << _clusterBits;
        _virtualSize = BinaryPrimitives.ReadUInt64BigEndian(h[24..]);
        _l1Size = BinaryPrimitives.ReadUInt32BigEndian(h[36..]);
        _l1Offset = BinaryPrimitives.ReadUInt64BigEndian(h[40..]);
        _refTableOffset = BinaryPrimitives.ReadUInt64BigEndian(h[48..]);
        _refTableClusters = BinaryPrimitives.ReadUInt32BigEndian(h[56..]);
        _snapshotCount = BinaryPrimitives.ReadUInt32BigEndian(h[60..]);
        _snapshotsOffset = BinaryPrimitives.ReadUInt64BigEndian(h[64..]);
        ulong backingOffset = BinaryPrimitives.ReadUInt64BigEndian(h[8..]);
        if (_version == 3)
        {
            if (_fileLength < 104)
            {
                AddMessage("ERROR: qcow2 header too short");
                return false;
            }

            _incompatible = BinaryPrimitives.ReadUInt64BigEndian(h[72..]);
            _autoclear = BinaryPrimitives.ReadUInt64BigEndian(h[88..]);
            uint order = BinaryPrimitives.ReadUInt32BigEndian(h[96..]);
            uint headerLength = BinaryPrimitives.ReadUInt32BigEndian(h[100..]);
            if (order > 6)
            {
                AddMessage("ERROR: Reference count entry width too large; may not exceed 64 bits");
                return false;
            }

            if (headerLength < 104 || headerLength > (uint)_clusterSize)
            {
                AddMessage(headerLength < 104 ? "ERROR: qcow2 header too short" : "ERROR: qcow2 header exceeds cluster size");
                return false;
            }

            _refcountOrder = (int)order;
            _headerLength = (int)headerLength;
        }
        else
        {
            _refcountOrder = 4;
            _headerLength = 72;
        }

        _extendedL2 = (_incompatible & (1UL << 4)) != 0;
        _externalData = (_incompatible & (1UL << 2)) != 0;
        if (_extendedL2 && _clusterBits < 14)
        {
            AddMessage("ERROR: The cluster size must be at least 16 KiB with extended L2 entries");
            return false;
        }

        if (backingOffset > (ulong)_clusterSize)
        {
            AddMessage("ERROR: Invalid backing file offset");
            return false;
        }

        if ((ulong)_l1Size * 8 > MaxL1Bytes)
        {
            AddMessage("ERROR: Active L1 table too large");
            return false;
        }

        if ((_l1Offset & ClusterMask) != 0 || _l1Offset > long.MaxValue - ((ulong)_l1Size * 8))
        {
            AddMessage("ERROR: Invalid L1 table offset");
            return false;
        }

        if ((ulong)_refTableClusters << _clusterBits > MaxRefTableBytes)
        {
            AddMessage("ERROR: Reference count table too large");
            return false;
        }

        if ((_refTableOffset & ClusterMask) != 0 || _refTableOffset > long.MaxValue - ((ulong)_refTableClusters << _clusterBits))
        {
            AddMessage("ERROR: Invalid reference count table offset");
            return false;
        }

        if (_snapshotCount > MaxSnapshots)
        {
            AddMessage("ERROR: Too many snapshots");
            return false;
        }

        if ((_snapshotsOffset & ClusterMask) != 0 || _snapshotsOffset > long.MaxValue - ((ulong)_snapshotCount * 40))
        {
            AddMessage("ERROR: Invalid snapshot table offset");
            return false;
        }

        ulong extEnd = backingOffset != 0 ? backingOffset : (ulong)_clusterSize;
        if (!ReadExtensions((ulong)_headerLength, extEnd))
        {
            return false;
        }

        if (!ReadSnapshotTable())
        {
            return false;
        }

        ReadRefTable();
        return true;
    }

    private bool ReadExtensions(ulong start, ulong end)
    {
        ulong pos = start;
        Span<byte> eh = stackalloc byte[8];
        Span<byte> data = stackalloc byte[24];
        while (pos + 8 <= end)
        {
            ReadZeroFilled(pos, eh);
            uint type = BinaryPrimitives.ReadUInt32BigEndian(eh);
            uint length = BinaryPrimitives.ReadUInt32BigEndian(eh[4..]);
            pos += 8;
            if (type == 0)
            {
                return true;
            }

            if (length > end - pos)
            {
                AddMessage("ERROR: Header extension too large");
                return false;
            }

            if (type == 0x23852875 && length >= 24)
            {
                ReadZeroFilled(pos, data);
                _hasBitmapsExtension = true;
                _bitmapCount = BinaryPrimitives.ReadUInt32BigEndian(data);
                _bitmapDirSize = BinaryPrimitives.ReadUInt64BigEndian(data[8..]);
                _bitmapDirOffset = BinaryPrimitives.ReadUInt64BigEndian(data[16..]);
            }
            else if (type == 0x0537be77 && length >= 16)
            {
                ReadZeroFilled(pos, data[..16]);
                _cryptOffset = BinaryPrimitives.ReadUInt64BigEndian(data);
                _cryptLength = BinaryPrimitives.ReadUInt64BigEndian(data[8..]);
            }

            pos += ((ulong)length + 7) & ~7UL;
        }

        return true;
    }

    private bool ReadSnapshotTable()
    {
        if (_snapshotCount == 0)
        {
            _snapshotsSize = 0;
            return true;
        }

        ulong pos = _snapshotsOffset;
        Span<byte> fixedPart = stackalloc byte[40];
        byte[] text = ArrayPool<byte>.Shared.Rent(2 * ushort.MaxValue);
        try
        {
            for (uint i = 0; i < _snapshotCount; i++)
            {
                // Entries past the end of the file read as zeros, as they do for qemu-img.
                if (pos - _snapshotsOffset > MaxSnapshotTableBytes)
                {
                    AddMessage("ERROR: Snapshot table too large");
                    return false;
                }

                ReadZeroFilled(pos, fixedPart);
                ulong l1Offset = BinaryPrimitives.ReadUInt64BigEndian(fixedPart);
                uint l1Size = BinaryPrimitives.ReadUInt32BigEndian(fixedPart[8..]);
                int idSize = BinaryPrimitives.ReadUInt16BigEndian(fixedPart[12..]);
                int nameSize = BinaryPrimitives.ReadUInt16BigEndian(fixedPart[14..]);
                uint extraSize = BinaryPrimitives.ReadUInt32BigEndian(fixedPart[36..]);
                if (extraSize > 1024)
                {
                    // qemu-img check drops the excess and counts a corruption.
                    Corrupt($"Discarding too much extra metadata in snapshot table entry {i} ({extraSize} > 1024)");
                    _snapshotCorruptions++;
                }
                else if (_version >= 3 && extraSize < 16)
                {
                    // Version 3 entries must carry vm_state_size_large and disk_size.
                    Corrupt($"{(_repairMode == Qcow2RepairMode.All ? "Repairing" : "ERROR")} snapshot table entry {i} is incomplete");
                    _snapshotCorruptions++;
                }

                ulong textPos = pos + 40 + extraSize;
                int textLength = idSize + nameSize;
                ReadZeroFilled(textPos, text.AsSpan(0, textLength));
                string id = System.Text.Encoding.UTF8.GetString(text, 0, idSize);
                string name = System.Text.Encoding.UTF8.GetString(text, idSize, nameSize);
                _snapshots.Add(new SnapshotRef(id, name, l1Offset, l1Size));
                if (_repairMode == Qcow2RepairMode.All)
                {
                    KeepSnapshotEntry(pos, fixedPart, extraSize, text.AsSpan(0, idSize), text.AsSpan(idSize, nameSize));
                }
                ulong entrySize = 40UL + extraSize + (ulong)textLength;
                pos += (entrySize + 7) & ~7UL;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(text);
        }

        _snapshotsSize = pos - _snapshotsOffset;
        if (_snapshotsSize > MaxSnapshotTableBytes)
        {
            AddMessage("ERROR: Snapshot table too large");
            return false;
        }

        return true;
    }

    private void ReadRefTable()
    {
        long entries = (long)_refTableClusters << (_clusterBits - 3);

        // Entries that lie past the end of the file read as zero; do not allocate for them.
        long inFile = _refTableOffset >= (ulong)_fileLength ? 0 : Math.Min(entries, (long)(((ulong)_fileLength - _refTableOffset + 7) / 8));
        _refTableEntries = entries;
        _refTable = new ulong[inFile];
        if (inFile == 0)
        {
            return;
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long done = 0;
            while (done < inFile)
            {
                int count = (int)Math.Min(inFile - done, buffer.Length / 8);
                Span<byte> span = buffer.AsSpan(0, count * 8);
                ReadZeroFilled(_refTableOffset + ((ulong)done * 8), span);
                for (int i = 0; i < count; i++)
                {
                    _refTable[done + i] = BinaryPrimitives.ReadUInt64BigEndian(span[(i * 8)..]);
                }

                done += count;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private readonly record struct SnapshotRef(string Id, string Name, ulong L1Offset, uint L1Size);
}
