using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace DiskImage.Formats.Qcow2;

/// <content>Reference counting: walks every structure that owns host clusters.</content>
internal sealed partial class Qcow2Checker
{
    private const int TableChunkEntries = 4096;
    private const ulong L1ReservedMask = 0x7f000000000001ff;

    private long _entryBudget;

    /// <summary>
    /// Table entries one pass may visit: far more than any sound image needs (each L2 table is walked
    /// once per L1 table that maps it), while bounding the time a hostile image can take.
    /// </summary>
    private long EntryBudget => (256L << 20) + (_fileLength * 4);

    private void Corrupt([InterpolatedStringHandlerArgument("")] ref Qcow2CheckerMessageHandler message, long weight = 1)
    {
        _corruptions += weight;
        if (message.Enabled)
        {
            _messages.Add(message.ToStringAndClear());
        }
    }

    private void Corrupt(string message, long weight = 1)
    {
        _corruptions += weight;
        AddMessage(message);
    }

    /// <summary>Counts <paramref name="weight"/> references to every host cluster touched by [offset, offset + size).</summary>
    private void Inc(ulong offset, ulong size, long weight = 1)
    {
        if (size == 0)
        {
            return;
        }

        // The last cluster may be partly past the end of the file, but not by a whole cluster.
        if (offset > ulong.MaxValue - size || (offset + size > (ulong)_fileLength && offset + size - (ulong)_fileLength >= (ulong)_clusterSize))
        {
            Corrupt($"ERROR: counting reference for region exceeding the end of the file by one cluster or more: offset 0x{Hex(offset)} size 0x{Hex(size)}", weight);
            return;
        }

        ulong first = offset >> _clusterBits;
        ulong last = (offset + size - 1) >> _clusterBits;
        ulong limit = Math.Min(RefcountMax, uint.MaxValue);
        for (ulong k = first; k <= last; k++)
        {
            if (k >= (ulong)_refsLength && !GrowRefs(k))
            {
                return;
            }

            ulong v = _refs[k];
            ulong room = limit - v;
            if ((ulong)weight > room)
            {
                // Each reference past the width's maximum is one overflow (qemu-img counts them one by one).
                Corrupt($"ERROR: overflow cluster offset=0x{Hex(k << _clusterBits)}", weight - (long)room);
                _refs[k] = (uint)limit;
                continue;
            }

            _refs[k] = (uint)(v + (ulong)weight);
        }
    }

    private bool GrowRefs(ulong index)
    {
        if (index >= (ulong)_refsCap)
        {
            return false;
        }

        long needed = (long)index + 1;
        if (needed > _refs.Length)
        {
            long size = Math.Min(Math.Max(needed, (long)_refs.Length * 2), _refsCap);
            Array.Resize(ref _refs, (int)size);
        }

        _refsLength = needed;
        return true;
    }

    private ulong RefTableEntry(long index) => index < _refTable.Length ? _refTable[index] : 0;

    /// <summary>Computes the reference count of every host cluster (qemu's calculate_refcounts).</summary>
    private void CalculateReferences(bool includeRefcountStructures)
    {
        _entryBudget = EntryBudget;

        // Header cluster.
        Inc(0, (ulong)_clusterSize);

        // Active L1 and everything below it. L2 tables are gathered from every L1 table first and
        // then walked once each, weighted by how many L1 entries map them.
        var l2Tables = new Dictionary<ulong, L2Weight>();
        CheckL1(_l1Offset, _l1Size, active: true, l2Tables);

        if (_externalData && _snapshots.Count != 0)
        {
            Corrupt($"ERROR {_snapshots.Count} snapshots in image with data file");
        }

        foreach (SnapshotRef sn in _snapshots)
        {
            if ((sn.L1Offset & ClusterMask) != 0)
            {
                Corrupt($"ERROR snapshot {sn.Id} ({sn.Name}) l1_offset=0x{Hex(sn.L1Offset)}: L1 table is not cluster aligned; snapshot table entry corrupted");
                continue;
            }

            if ((ulong)sn.L1Size * 8 > MaxL1Bytes)
            {
                Corrupt($"ERROR snapshot {sn.Id} ({sn.Name}) l1_size=0x{sn.L1Size:x}: L1 table is too large; snapshot table entry corrupted");
                continue;
            }

            CheckL1(sn.L1Offset, sn.L1Size, active: false, l2Tables);
        }

        WalkL2Tables(l2Tables);

        Inc(_snapshotsOffset, _snapshotsSize);

        if (includeRefcountStructures)
        {
            Inc(_refTableOffset, (ulong)_refTableEntries * 8);
        }

        if (_cryptLength != 0)
        {
            Inc(_cryptOffset, _cryptLength);
        }

        CheckBitmaps();

        if (includeRefcountStructures)
        {
            CheckRefblocks();
        }
    }

    /// <summary>Number of 8-byte table entries at <paramref name="offset"/> that lie (at least partly) inside the file.</summary>
    private long EntriesInFile(ulong offset, long entries)
    {
        if (offset >= (ulong)_fileLength)
        {
            return 0;
        }

        return (long)Math.Min((ulong)entries, ((ulong)_fileLength - offset + 7) / 8);
    }

    private bool SpendBudget(long entries)
    {
        _entryBudget -= entries;
        if (_entryBudget >= 0)
        {
            return true;
        }

        if (_entryBudget + entries >= 0)
        {
            _checkErrors++;
            AddMessage("ERROR: the metadata references far more table entries than the image can hold; check aborted");
        }

        return false;
    }

    /// <summary>How often an L2 table is mapped: by all L1 tables, and by the active one.</summary>
    private struct L2Weight
    {
        public long Total;
        public long Active;
    }

    /// <summary>Counts the L1 table and its L2 clusters and records which L2 tables it maps (qemu's check_refcounts_l1).</summary>
    private void CheckL1(ulong l1Offset, uint l1Size, bool active, Dictionary<ulong, L2Weight> l2Tables)
    {
        Inc(l1Offset, (ulong)l1Size * 8);
        long inFile = EntriesInFile(l1Offset, l1Size);
        if (inFile == 0 || !SpendBudget(inFile))
        {
            return;
        }

        byte[] chunk = ArrayPool<byte>.Shared.Rent(TableChunkEntries * 8);
        try
        {
            for (long done = 0; done < inFile; done += TableChunkEntries)
            {
                int count = (int)Math.Min(TableChunkEntries, inFile - done);
                Span<byte> span = chunk.AsSpan(0, count * 8);
                ReadZeroFilled(l1Offset + ((ulong)done * 8), span);
                for (int i = 0; i < count; i++)
                {
                    ulong entry = BinaryPrimitives.ReadUInt64BigEndian(span[(i * 8)..]);
                    if (entry == 0)
                    {
                        continue;
                    }

                    if ((entry & L1ReservedMask) != 0)
                    {
                        Corrupt($"ERROR found L1 entry with reserved bits set: {Hex(entry)}");
                    }

                    ulong l2Offset = entry & L1OffsetMask;
                    Inc(l2Offset, (ulong)_clusterSize);
                    if ((l2Offset & ClusterMask) != 0)
                    {
                        Corrupt($"ERROR l2_offset={Hex(l2Offset)}: Table is not cluster aligned; L1 entry corrupted");
                    }

                    // A table past the end of the file reads as zeros and maps nothing.
                    if (l2Offset < (ulong)_fileLength)
                    {
                        ref L2Weight w = ref CollectionsMarshal.GetValueRefOrAddDefault(l2Tables, l2Offset, out _);
                        w.Total++;
                        if (active)
                        {
                            w.Active++;
                        }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>Walks each recorded L2 table once, counting its references as often as it is mapped.</summary>
    private void WalkL2Tables(Dictionary<ulong, L2Weight> l2Tables)
    {
        byte[] l2 = ArrayPool<byte>.Shared.Rent(_clusterSize);
        try
        {
            foreach (KeyValuePair<ulong, L2Weight> table in l2Tables)
            {
                if (!SpendBudget(L2Entries))
                {
                    return;
                }

                Span<byte> span = l2.AsSpan(0, _clusterSize);
                ReadZeroFilled(table.Key, span);
                CheckL2(span, table.Value.Total, table.Value.Active);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(l2);
        }
    }

    private void CheckL2(ReadOnlySpan<byte> table, long weight, long activeWeight)
    {
        int entrySize = L2EntrySize;
        int entries = L2Entries;
        int csizeShift = 62 - (_clusterBits - 8);
        ulong csizeMask = (1UL << (_clusterBits - 8)) - 1;
        ulong coffsetMask = (1UL << csizeShift) - 1;
        ulong nextContiguous = 0;
        for (int i = 0; i < entries; i++)
        {
            ulong entry = BinaryPrimitives.ReadUInt64BigEndian(table[(i * entrySize)..]);
            ulong bitmap = _extendedL2 ? BinaryPrimitives.ReadUInt64BigEndian(table[((i * entrySize) + 8)..]) : 0;
            if (entry == 0 && bitmap == 0)
            {
                continue;
            }

            L2Type type = Classify(entry);
            if (type != L2Type.Compressed && (entry & L2StdReservedMask) != 0)
            {
                Corrupt($"ERROR found l2 entry with reserved bits set: {Hex(entry)}", weight);
            }

            switch (type)
            {
                case L2Type.Compressed:
                {
                    if ((entry & FlagCopied) != 0)
                    {
                        Corrupt($"ERROR: coffset={Hex(entry & coffsetMask)}: copied flag must never be set for compressed clusters", weight);
                        entry &= ~FlagCopied;
                    }

                    if (_externalData)
                    {
                        Corrupt($"ERROR compressed cluster {i} with data file, entry=0x{Hex(entry)}", weight);
                        break;
                    }

                    if (bitmap != 0)
                    {
                        Corrupt($"ERROR compressed cluster {i} with non-zero subcluster allocation bitmap, entry=0x{Hex(entry)}", weight);
                        break;
                    }

                    ulong coffset = entry & coffsetMask;
                    ulong sectors = ((entry >> csizeShift) & csizeMask) + 1;
                    ulong csize = (sectors * 512) - (coffset & 511);
                    Inc(coffset, csize, weight);
                    _allocated += activeWeight;
                    _compressed += activeWeight;

                    // Compressed clusters share sectors, so they count as fragmented by nature.
                    _fragmented += activeWeight;

                    break;
                }

                case L2Type.Normal:
                case L2Type.ZeroAllocated:
                {
                    ulong offset = entry & L2OffsetMask;
                    if (((bitmap >> 32) & bitmap) != 0)
                    {
                        Corrupt($"ERROR offset={Hex(offset)}: Allocated cluster has corrupted subcluster allocation bitmap", weight);
                    }

                    if ((offset & ClusterMask) != 0)
                    {
                        bool containsData = _extendedL2 ? (bitmap & 0xffffffff) != 0 : (entry & FlagZero) == 0;
                        Corrupt(containsData
                            ? $"ERROR offset={Hex(offset)}: Data cluster is not properly aligned; L2 entry corrupted."
                            : $"ERROR offset={Hex(offset)}: Preallocated cluster is not properly aligned; L2 entry corrupted.", weight);
                    }

                    _allocated += activeWeight;
                    if (nextContiguous != 0 && offset != nextContiguous)
                    {
                        _fragmented += activeWeight;
                    }

                    nextContiguous = offset + (ulong)_clusterSize;

                    if (!_externalData)
                    {
                        Inc(offset, (ulong)_clusterSize, weight);
                    }

                    break;
                }

                case L2Type.Unallocated:
                    if ((bitmap & 0xffffffff) != 0)
                    {
                        Corrupt("ERROR: Unallocated cluster has non-zero subcluster allocation bitmap", weight);
                    }

                    break;
            }
        }
    }

    private L2Type Classify(ulong entry)
    {
        if ((entry & FlagCompressed) != 0)
        {
            return L2Type.Compressed;
        }

        if ((entry & FlagZero) != 0 && !_extendedL2)
        {
            return (entry & L2OffsetMask) != 0 ? L2Type.ZeroAllocated : L2Type.ZeroPlain;
        }

        if ((entry & L2OffsetMask) == 0)
        {
            return _externalData && (entry & FlagCopied) != 0 ? L2Type.Normal : L2Type.Unallocated;
        }

        return L2Type.Normal;
    }

    private void CheckRefblocks()
    {
        for (long i = 0; i < _refTableEntries; i++)
        {
            ulong entry = RefTableEntry(i);
            if (entry == 0)
            {
                continue;
            }

            ulong offset = entry & RefTableOffsetMask;
            if ((entry & ~RefTableOffsetMask) != 0)
            {
                Corrupt($"ERROR refcount table entry {i} has reserved bits set");
                _rebuild = true;
                continue;
            }

            if ((offset & ClusterMask) != 0)
            {
                Corrupt($"ERROR refcount block {i} is not cluster aligned; refcount table entry corrupted");
                _rebuild = true;
                continue;
            }

            ulong cluster = offset >> _clusterBits;
            if (cluster >= (ulong)_refsLength)
            {
                Corrupt($"ERROR refcount block {i} is outside image");
                _rebuild = true;
                continue;
            }

            Inc(offset, (ulong)_clusterSize);
            if (_refs[cluster] != 1)
            {
                Corrupt($"ERROR refcount block {i} refcount={_refs[cluster]}");
                _rebuild = true;
            }
        }
    }

    private void CheckBitmaps()
    {
        if (!_hasBitmapsExtension || (_autoclear & 1) == 0)
        {
            return;
        }

        const ulong MaxDirectorySize = 1024UL * 65535;
        if ((_bitmapDirOffset & ClusterMask) != 0 || _bitmapDirSize > MaxDirectorySize || _bitmapCount > 65535)
        {
            Corrupt("ERROR bitmap directory is invalid (offset, size or count out of range)");
            return;
        }

        Inc(_bitmapDirOffset, _bitmapDirSize);
        long inFile = _bitmapDirOffset >= (ulong)_fileLength ? 0 : (long)Math.Min(_bitmapDirSize, (ulong)_fileLength - _bitmapDirOffset);
        byte[] dir = new byte[inFile];
        ReadZeroFilled(_bitmapDirOffset, dir);
        int pos = 0;
        byte[] chunk = ArrayPool<byte>.Shared.Rent(TableChunkEntries * 8);
        try
        {
            for (uint b = 0; b < _bitmapCount && pos + 24 <= dir.Length; b++)
            {
                ReadOnlySpan<byte> e = dir.AsSpan(pos);
                ulong tableOffset = BinaryPrimitives.ReadUInt64BigEndian(e);
                uint tableSize = BinaryPrimitives.ReadUInt32BigEndian(e[8..]);
                int nameSize = BinaryPrimitives.ReadUInt16BigEndian(e[18..]);
                uint extraSize = BinaryPrimitives.ReadUInt32BigEndian(e[20..]);
                long entryLength = (24L + extraSize + nameSize + 7) & ~7L;
                pos = (int)Math.Min(dir.Length, pos + entryLength);
                if ((tableOffset & ClusterMask) != 0)
                {
                    Corrupt($"ERROR bitmap table {b} is not cluster aligned");
                    continue;
                }

                Inc(tableOffset, (ulong)tableSize * 8);
                long entries = EntriesInFile(tableOffset, tableSize);
                if (!SpendBudget(entries))
                {
                    return;
                }

                for (long done = 0; done < entries; done += TableChunkEntries)
                {
                    int count = (int)Math.Min(TableChunkEntries, entries - done);
                    Span<byte> span = chunk.AsSpan(0, count * 8);
                    ReadZeroFilled(tableOffset + ((ulong)done * 8), span);
                    for (int i = 0; i < count; i++)
                    {
                        ulong entry = BinaryPrimitives.ReadUInt64BigEndian(span[(i * 8)..]);
                        ulong offset = entry & L2OffsetMask;
                        if ((entry & 0xff000000000001fe) != 0 || (offset != 0 && ((entry & 1) != 0 || (offset & ClusterMask) != 0)))
                        {
                            Corrupt($"ERROR bitmap table entry 0x{Hex(entry)} is invalid");
                            continue;
                        }

                        if (offset != 0)
                        {
                            Inc(offset, (ulong)_clusterSize);
                        }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private enum L2Type
    {
        Unallocated,
        ZeroPlain,
        ZeroAllocated,
        Normal,
        Compressed,
    }
}
