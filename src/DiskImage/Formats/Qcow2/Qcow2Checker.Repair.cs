using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace DiskImage.Formats.Qcow2;

/// <summary>Comparison with the stored refcounts, the COPIED-flag check, and the repairs.</summary>
internal sealed partial class Qcow2Checker
{
    /// <summary>Reads refcount entry <paramref name="index"/> of a refcount block.</summary>
    private ulong GetRefcount(ReadOnlySpan<byte> block, long index)
    {
        switch (_refcountOrder)
        {
            case 4:
                return BinaryPrimitives.ReadUInt16BigEndian(block[(int)(index * 2)..]);
            case 5:
                return BinaryPrimitives.ReadUInt32BigEndian(block[(int)(index * 4)..]);
            case 6:
                return BinaryPrimitives.ReadUInt64BigEndian(block[(int)(index * 8)..]);
            default:
                int bits = RefcountBits;
                long bit = index * bits;
                return (ulong)(block[(int)(bit >> 3)] >> (int)(bit & 7)) & ((1UL << bits) - 1);
        }
    }

    /// <summary>Writes refcount entry <paramref name="index"/> of a refcount block (values are clamped to the width).</summary>
    private void SetRefcount(Span<byte> block, long index, ulong value)
    {
        value = Math.Min(value, RefcountMax);
        switch (_refcountOrder)
        {
            case 4:
                BinaryPrimitives.WriteUInt16BigEndian(block[(int)(index * 2)..], (ushort)value);
                break;
            case 5:
                BinaryPrimitives.WriteUInt32BigEndian(block[(int)(index * 4)..], (uint)value);
                break;
            case 6:
                BinaryPrimitives.WriteUInt64BigEndian(block[(int)(index * 8)..], value);
                break;
            default:
                int bits = RefcountBits;
                long bit = index * bits;
                int shift = (int)(bit & 7);
                int mask = ((1 << bits) - 1) << shift;
                ref byte b = ref block[(int)(bit >> 3)];
                b = (byte)((b & ~mask) | (((int)value << shift) & mask));
                break;
        }
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>, growing the file when the range ends past it.</summary>
    private void WriteHost(ulong offset, ReadOnlySpan<byte> data)
    {
        long end = (long)offset + data.Length;
        if (end > _host.Length)
        {
            _host.SetLength(end);
            _fileLength = end;
        }

        _host.Write((long)offset, data);
    }

    /// <summary>Compares computed and stored refcounts (qemu's compare_refcounts), fixing what <paramref name="fix"/> allows.</summary>
    private void CompareRefcounts(Qcow2RepairMode fix)
    {
        _highestCluster = -1;
        long perBlock = RefblockEntries;
        long blocks = (_refsLength + perBlock - 1) / perBlock;
        byte[] block = ArrayPool<byte>.Shared.Rent(_clusterSize);
        try
        {
            for (long b = 0; b < blocks; b++)
            {
                ulong entry = b < _refTableEntries ? RefTableEntry(b) : 0;
                ulong blockOffset = entry & RefTableOffsetMask;
                long firstCluster = b * perBlock;
                long count = Math.Min(perBlock, _refsLength - firstCluster);
                bool readable = blockOffset == 0 || (blockOffset & ClusterMask) == 0;
                Span<byte> span = block.AsSpan(0, _clusterSize);
                if (blockOffset == 0 || !readable)
                {
                    span.Clear();
                }
                else
                {
                    ReadZeroFilled(blockOffset, span);
                }

                bool dirty = false;
                for (long j = 0; j < count; j++)
                {
                    long cluster = firstCluster + j;
                    ulong computed = _refs[cluster];
                    if (!readable)
                    {
                        _checkErrors++;
                        AddMessage($"Can't get refcount for cluster {cluster}: Input/output error");
                        if (computed > 0)
                        {
                            _highestCluster = cluster;
                        }

                        continue;
                    }

                    ulong stored = GetRefcount(span, j);
                    if (stored > 0 || computed > 0)
                    {
                        _highestCluster = cluster;
                    }

                    if (stored == computed)
                    {
                        continue;
                    }

                    bool fixLeak = false;
                    bool fixError = false;
                    if (stored == 0)
                    {
                        // No refcount block may cover this cluster; only a rebuild can fix it.
                        _rebuild = true;
                    }
                    else if (stored > computed && fix != Qcow2RepairMode.None)
                    {
                        fixLeak = true;
                    }
                    else if (stored < computed && fix == Qcow2RepairMode.All)
                    {
                        fixError = true;
                    }

                    string verb = fixLeak || fixError ? "Repairing" : stored < computed ? "ERROR" : "Leaked";
                    AddMessage($"{verb} cluster {cluster} refcount={stored} reference={computed}");
                    if (fixLeak || fixError)
                    {
                        SetRefcount(span, j, computed);
                        dirty = true;
                        if (fixLeak)
                        {
                            _leaksFixed++;
                        }
                        else
                        {
                            _corruptionsFixed++;
                        }

                        continue;
                    }

                    if (stored < computed)
                    {
                        _corruptions++;
                    }
                    else
                    {
                        _leaks++;
                    }
                }

                if (dirty)
                {
                    WriteHost(blockOffset, span);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }

        _rbIndex = -1;
    }

    /// <summary>The stored refcount of a host cluster; false when its refcount block cannot be read.</summary>
    private bool TryGetStoredRefcount(ulong cluster, out ulong refcount)
    {
        refcount = 0;
        ulong perBlock = (ulong)RefblockEntries;
        ulong b = cluster / perBlock;
        if (b >= (ulong)_refTableEntries)
        {
            return true;
        }

        ulong blockOffset = RefTableEntry((long)b) & RefTableOffsetMask;
        if (blockOffset == 0)
        {
            return true;
        }

        if ((blockOffset & ClusterMask) != 0)
        {
            return false;
        }

        _rbBuffer ??= new byte[_clusterSize];
        if (_rbIndex != (long)b)
        {
            ReadZeroFilled(blockOffset, _rbBuffer);
            _rbIndex = (long)b;
        }

        refcount = GetRefcount(_rbBuffer, (long)(cluster % perBlock));
        return true;
    }

    /// <summary>Checks that COPIED is set exactly on active L1/L2 entries whose cluster has refcount 1 (qemu's check_oflag_copied).</summary>
    private void CheckCopiedFlags(bool repair)
    {
        long inFile = EntriesInFile(_l1Offset, _l1Size);
        if (inFile == 0)
        {
            return;
        }

        _entryBudget = EntryBudget;
        byte[] chunk = ArrayPool<byte>.Shared.Rent(TableChunkEntries * 8);
        byte[] l2 = ArrayPool<byte>.Shared.Rent(_clusterSize);
        var l2Tables = new Dictionary<ulong, long>();
        try
        {
            for (long done = 0; done < inFile; done += TableChunkEntries)
            {
                int count = (int)Math.Min(TableChunkEntries, inFile - done);
                Span<byte> span = chunk.AsSpan(0, count * 8);
                ReadZeroFilled(_l1Offset + ((ulong)done * 8), span);
                for (int i = 0; i < count; i++)
                {
                    ulong l1Entry = BinaryPrimitives.ReadUInt64BigEndian(span[(i * 8)..]);
                    ulong l2Offset = l1Entry & L1OffsetMask;
                    if (l2Offset == 0 || !TryGetStoredRefcount(l2Offset >> _clusterBits, out ulong refcount))
                    {
                        continue;
                    }

                    long l1Index = done + i;
                    if ((refcount == 1) != ((l1Entry & FlagCopied) != 0))
                    {
                        AddMessage($"{(repair ? "Repairing" : "ERROR")} OFLAG_COPIED L2 cluster: l1_index={l1Index} l1_entry={Hex(l1Entry)} refcount={refcount}");
                        if (repair)
                        {
                            ulong fixedEntry = refcount == 1 ? l1Entry | FlagCopied : l1Entry & ~FlagCopied;
                            WriteL1Entry(l1Index, fixedEntry);
                            _corruptionsFixed++;
                        }
                        else
                        {
                            _corruptions++;
                        }
                    }

                    if (l2Offset < (ulong)_fileLength)
                    {
                        CollectionsMarshal.GetValueRefOrAddDefault(l2Tables, l2Offset, out _)++;
                    }
                }
            }

            // Each L2 table once; without repair its errors count once per mapping, as qemu-img walks
            // it per L1 entry; with repair the first walk fixes it.
            foreach (KeyValuePair<ulong, long> mapped in l2Tables)
            {
                if (!SpendBudget(L2Entries))
                {
                    break;
                }

                // A misaligned table is reported (as qemu-img does) but never rewritten: it overlaps other clusters.
                bool aligned = (mapped.Key & ClusterMask) == 0;
                Span<byte> table = l2.AsSpan(0, _clusterSize);
                ReadZeroFilled(mapped.Key, table);
                if (CheckCopiedL2(table, repair && aligned, mapped.Value))
                {
                    WriteHost(mapped.Key, table);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(l2);
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private void WriteL1Entry(long index, ulong entry)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, entry);
        WriteHost(_l1Offset + ((ulong)index * 8), bytes);
    }

    private bool CheckCopiedL2(Span<byte> table, bool repair, long weight)
    {
        bool dirty = false;
        int entrySize = L2EntrySize;
        int entries = L2Entries;
        for (int j = 0; j < entries; j++)
        {
            Span<byte> slot = table[(j * entrySize)..];
            ulong entry = BinaryPrimitives.ReadUInt64BigEndian(slot);
            L2Type type = Classify(entry);
            if (type is not (L2Type.Normal or L2Type.ZeroAllocated))
            {
                continue;
            }

            ulong dataOffset = entry & L2OffsetMask;
            ulong refcount = 1;
            if (!_externalData && !TryGetStoredRefcount(dataOffset >> _clusterBits, out refcount))
            {
                continue;
            }

            if ((refcount == 1) == ((entry & FlagCopied) != 0))
            {
                continue;
            }

            AddMessage($"{(repair ? "Repairing" : "ERROR")} OFLAG_COPIED data cluster: l2_entry={Hex(entry)} refcount={refcount}");
            if (repair)
            {
                BinaryPrimitives.WriteUInt64BigEndian(slot, refcount == 1 ? entry | FlagCopied : entry & ~FlagCopied);
                dirty = true;
                _corruptionsFixed++;
            }
            else
            {
                _corruptions += weight;
            }
        }

        return dirty;
    }

    /// <summary>Clears the dirty and corrupt bits after a successful repair.</summary>
    private void MarkCleanAndConsistent()
    {
        if (_version < 3 || (_incompatible & 3) == 0)
        {
            return;
        }

        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, _incompatible & ~3UL);
        _host.Flush();
        WriteHost(72, bytes);
        _incompatible &= ~3UL;
    }

    /// <summary>Refcount blocks (and, for a new table, table clusters) needed to cover <paramref name="start"/> clusters plus themselves.</summary>
    private (long Blocks, long TableClusters) RefcountLayout(long start, long perBlock, bool keepTable)
    {
        long blocks = 0;
        long tableClusters = keepTable ? _refTableClusters : 0;
        while (true)
        {
            long total = start + blocks + (keepTable ? 0 : tableClusters);
            long newBlocks = (total + perBlock - 1) / perBlock;
            long newTableClusters = keepTable ? _refTableClusters : ((newBlocks * 8) + _clusterSize - 1) / _clusterSize;
            if (newBlocks == blocks && newTableClusters == tableClusters)
            {
                return (blocks, tableClusters);
            }

            blocks = newBlocks;
            tableClusters = newTableClusters;
        }
    }

    /// <summary>Whether the current refcount table can be rewritten in place: aligned, inside the file, overlapping nothing else.</summary>
    private bool CanKeepRefTable(Qcow2Checker fresh)
    {
        if (_refTableClusters == 0 || (_refTableOffset & ClusterMask) != 0 ||
            _refTableOffset + ((ulong)_refTableClusters << _clusterBits) > (ulong)_fileLength)
        {
            return false;
        }

        long first = (long)(_refTableOffset >> _clusterBits);
        for (long c = first; c < first + _refTableClusters; c++)
        {
            if (c >= fresh._refsLength || fresh._refs[c] != 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Writes a new refcount table and blocks describing the computed references, after everything
    /// else in the file, then switches the header to them with one write. Until that write the old
    /// structures stay in force, so an interruption leaves the image as it was (plus unused tail).
    /// </summary>
    private bool RebuildRefcountStructure()
    {
        // References without the old refcount structures: those become free once the header switches.
        var fresh = new Qcow2Checker(_host) { _quiet = true };
        fresh._fileLength = _host.Length;
        if (!fresh.ReadHeader())
        {
            AddMessage("ERROR: could not re-read the header to rebuild the refcount structure");
            return false;
        }

        long fileClusters = (long)(((ulong)fresh._fileLength + ClusterMask) >> _clusterBits);
        fresh._refsCap = _refsCap;
        fresh._refs = new uint[Math.Max(fileClusters, 1)];
        fresh._refsLength = fileClusters;
        fresh.CalculateReferences(includeRefcountStructures: false);

        long start = Math.Max(fresh._refsLength, fileClusters);
        long perBlock = RefblockEntries;

        // Keep the refcount table where it is when it is sound and large enough: then only its entries
        // change and the header stays as it is. Otherwise a new table goes after the new blocks (an open
        // image re-reads the header after the repair).
        bool keepTable = CanKeepRefTable(fresh);
        (long blocks, long tableClusters) = RefcountLayout(start, perBlock, keepTable);
        if (keepTable && blocks > _refTableEntries)
        {
            keepTable = false;
            (blocks, tableClusters) = RefcountLayout(start, perBlock, keepTable: false);
        }

        if (tableClusters * _clusterSize > MaxRefTableBytes || start + blocks + tableClusters > MaxTrackedClusters)
        {
            AddMessage("ERROR: the rebuilt refcount table would be too large");
            return false;
        }

        long end = start + blocks + (keepTable ? 0 : tableClusters);
        uint[] refs = fresh._refs;
        if (refs.Length < end)
        {
            Array.Resize(ref refs, (int)end);
        }

        for (long c = start; c < end; c++)
        {
            refs[c] = 1;
        }

        if (keepTable)
        {
            long first = (long)(_refTableOffset >> _clusterBits);
            for (long c = first; c < first + _refTableClusters; c++)
            {
                refs[c] = 1;
            }
        }

        byte[] buffer = new byte[_clusterSize];
        _host.SetLength(end * _clusterSize);
        _fileLength = _host.Length;
        for (long b = 0; b < blocks; b++)
        {
            Array.Clear(buffer);
            long first = b * perBlock;
            long count = Math.Min(perBlock, end - first);
            for (long j = 0; j < count; j++)
            {
                uint v = refs[first + j];
                if (v != 0)
                {
                    SetRefcount(buffer, j, v);
                }
            }

            _host.Write((start + b) * _clusterSize, buffer);
        }

        ulong tableOffset = keepTable ? _refTableOffset : (ulong)(start + blocks) * (ulong)_clusterSize;
        long entriesPerCluster = _clusterSize / 8;
        long writeClusters = keepTable ? _refTableClusters : tableClusters;
        for (long t = 0; t < writeClusters; t++)
        {
            Array.Clear(buffer);
            for (long j = 0; j < entriesPerCluster; j++)
            {
                long b = (t * entriesPerCluster) + j;
                if (b < blocks)
                {
                    BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan((int)(j * 8)), (ulong)(start + b) * (ulong)_clusterSize);
                }
            }

            _host.Write((long)tableOffset + (t * _clusterSize), buffer);
        }

        _host.Flush();
        if (!keepTable)
        {
            // refcount_table_offset (8 bytes at 48) and refcount_table_clusters (4 bytes at 56): one write.
            Span<byte> header = stackalloc byte[12];
            BinaryPrimitives.WriteUInt64BigEndian(header, tableOffset);
            BinaryPrimitives.WriteUInt32BigEndian(header[8..], (uint)tableClusters);
            _host.Write(48, header);
            _host.Flush();
            _refTableClusters = (uint)tableClusters;
        }

        _refTableOffset = tableOffset;
        ReadRefTable();
        _rbIndex = -1;
        return true;
    }
}
