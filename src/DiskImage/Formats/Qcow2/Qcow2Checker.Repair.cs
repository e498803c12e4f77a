using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace DiskImage.Formats.Qcow2;

/// <content>Comparison with the stored refcounts, the COPIED-flag check, and the repairs.</content>
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

    /// <summary>
    /// Rebuilds the refcount structure from the computed references, placed as QEMU places it
    /// (<c>rebuild_refcount_structure</c>): every refcount block goes to the first free cluster at
    /// or after the start of the range it describes, the table to the first free run from the start
    /// of the file, all allocations recorded in the in-memory counts, which each block is written
    /// from. The header then switches to the new table in one write; the old structures are still
    /// counted (the caller frees them as leaks), so an interruption leaves at worst leaks.
    /// </summary>
    private bool RebuildRefcountStructure()
    {
        ulong[] onDisk = [];
        if (!WriteRefblocks(0, _refsLength, ref onDisk, out _))
        {
            return false;
        }

        long tableCluster;
        long tableClusters;
        while (true)
        {
            tableClusters = ((onDisk.LongLength * 8) + _clusterSize - 1) / _clusterSize;
            if (tableClusters * _clusterSize > MaxRefTableBytes)
            {
                AddMessage("ERROR: the rebuilt refcount table would be too large");
                return false;
            }

            long firstFree = 0;
            tableCluster = AllocateInMemory(tableClusters, ref firstFree);
            if (tableCluster < 0 || !WriteRefblocks(tableCluster, tableCluster + tableClusters, ref onDisk, out bool grown))
            {
                return false;
            }

            if (!grown)
            {
                break;
            }
        }

        byte[] table = new byte[tableClusters * _clusterSize];
        for (int i = 0; i < onDisk.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan(i * 8), onDisk[i]);
        }

        ulong tableOffset = (ulong)tableCluster << _clusterBits;
        WriteHost(tableOffset, table);
        _host.Flush();

        // refcount_table_offset (8 bytes at 48) and refcount_table_clusters (4 bytes at 56): one write.
        WriteRefcountTablePointer(tableOffset, tableClusters);
        _host.Flush();
        _refTableClusters = (uint)tableClusters;
        _refTableOffset = tableOffset;
        _fileLength = _host.Length;
        ReadRefTable();
        _rbIndex = -1;
        return true;
    }

    /// <summary>
    /// First-fit allocation of <paramref name="count"/> clusters in the computed counts, from
    /// <paramref name="firstFree"/> on (moved to the first free cluster seen); the counts grow past the
    /// end of the file when no run fits. Returns the first cluster, or -1 when the checker's bound is hit.
    /// </summary>
    private long AllocateInMemory(long count, ref long firstFree)
    {
        long cluster = firstFree;
        long contiguous = 0;
        bool firstGap = true;
        for (; cluster < _refsLength && contiguous < count; cluster++)
        {
            if (_refs[cluster] == 0)
            {
                contiguous++;
                if (firstGap)
                {
                    firstFree = cluster;
                    firstGap = false;
                }
            }
            else
            {
                contiguous = 0;
            }
        }

        if (contiguous < count)
        {
            long needed = cluster + count - contiguous;
            if (needed > MaxTrackedClusters)
            {
                AddMessage("ERROR: the rebuilt refcount structure would be too large");
                return -1;
            }

            _refsCap = Math.Max(_refsCap, needed);
            if (!GrowRefs((ulong)needed - 1))
            {
                return -1;
            }
        }

        cluster -= contiguous;
        for (long i = 0; i < count; i++)
        {
            _refs[cluster + i] = 1;
        }

        return cluster;
    }

    /// <summary>
    /// Writes the refcount blocks for the clusters in [<paramref name="first"/>, <paramref name="end"/>)
    /// that have references, allocating the blocks that <paramref name="onDisk"/> (the new table, grown
    /// in whole clusters as needed) does not have yet. Each block is the slice of the computed counts.
    /// </summary>
    private bool WriteRefblocks(long first, long end, ref ulong[] onDisk, out bool grown)
    {
        grown = false;
        long perBlock = RefblockEntries;
        long firstFree = 0;
        byte[] block = new byte[_clusterSize];
        for (long cluster = first; cluster < end; cluster++)
        {
            if (cluster >= _refsLength || _refs[cluster] == 0)
            {
                continue;
            }

            long index = cluster / perBlock;
            long start = index * perBlock;
            ulong offset;
            if (index < onDisk.LongLength && onDisk[index] != 0)
            {
                offset = onDisk[index];
            }
            else
            {
                firstFree = Math.Max(firstFree, start);
                long blockCluster = AllocateInMemory(1, ref firstFree);
                if (blockCluster < 0)
                {
                    return false;
                }

                end = Math.Max(end, blockCluster + 1);
                if (index >= onDisk.LongLength)
                {
                    long entries = (((index + 1) * 8) + _clusterSize - 1) / _clusterSize * _clusterSize / 8;
                    Array.Resize(ref onDisk, (int)entries);
                    grown = true;
                }

                offset = (ulong)blockCluster << _clusterBits;
                onDisk[index] = offset;
            }

            Array.Clear(block);
            long count = Math.Min(perBlock, _refsLength - start);
            for (long j = 0; j < count; j++)
            {
                ulong v = Math.Min(_refs[start + j], RefcountMax);
                if (v != 0)
                {
                    SetRefcount(block, j, v);
                }
            }

            WriteHost(offset, block);
            cluster = start + perBlock - 1;
        }

        return true;
    }
}
