using System.Buffers.Binary;
using System.Globalization;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>A new refcount width (<c>qemu-img amend -o refcount_bits=N</c>): the refcount structure rebuilt.</content>
internal sealed partial class Qcow2Checker
{
    private bool _writeRefcountOrder;

    /// <summary>
    /// Rewrites the refcount structure of the clean version 3 image in <paramref name="host"/> with
    /// entries of 2^<paramref name="newOrder"/> bits, keeping every stored refcount: the new refcount
    /// blocks and table go to free clusters (the old structure stays valid until the header switches
    /// to the new table and width in one write), then the old blocks and table are freed in the new
    /// structure. A crash leaves either the old structure or the new one with the old clusters leaked.
    /// </summary>
    /// <returns>Null on success, or QEMU's message when a refcount does not fit the new width (nothing is written then).</returns>
    /// <exception cref="InvalidDataException">The image's header or refcount structure cannot be read.</exception>
    internal static string? ChangeRefcountOrder(BlockDevice host, int newOrder)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentOutOfRangeException.ThrowIfNegative(newOrder);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(newOrder, 6);
        return new Qcow2Checker(host).ChangeRefcountOrderCore(newOrder);
    }

    private string? ChangeRefcountOrderCore(int newOrder)
    {
        _fileLength = _host.Length;
        if (!ReadHeader())
        {
            throw new InvalidDataException(_messages.Count > 0 ? _messages[^1] : "The qcow2 header cannot be read.");
        }

        if (newOrder == _refcountOrder)
        {
            return null;
        }

        long fileClusters = (long)(((ulong)_fileLength + ClusterMask) >> _clusterBits);
        if (fileClusters > MaxTrackedClusters)
        {
            throw new NotSupportedException($"The image has {fileClusters} host clusters, more than a refcount width change handles ({MaxTrackedClusters}).");
        }

        ResetReferences(fileClusters);
        ulong newMax = newOrder == 6 ? ulong.MaxValue : (1UL << (1 << newOrder)) - 1;
        for (long c = 0; c < fileClusters; c++)
        {
            if (!TryGetStoredRefcount((ulong)c, out ulong refcount))
            {
                throw new InvalidDataException($"The refcount block of host cluster {c} is not cluster aligned.");
            }

            if (refcount > newMax)
            {
                return string.Create(CultureInfo.InvariantCulture,
                    $"Cannot decrease refcount entry width to {1 << newOrder} bits: Cluster at offset 0x{(ulong)c << _clusterBits:x} has a refcount of {refcount}");
            }

            if (refcount > uint.MaxValue)
            {
                throw new NotSupportedException($"Host cluster {c} has a refcount of {refcount}, more than a refcount width change handles.");
            }

            _refs[c] = (uint)refcount;
        }

        // The old structure: freed once the header names the new one.
        var old = new List<long>();
        for (long i = 0; i < _refTableClusters; i++)
        {
            old.Add((long)(_refTableOffset >> _clusterBits) + i);
        }

        foreach (ulong entry in _refTable)
        {
            ulong offset = entry & RefTableOffsetMask;
            if (offset != 0)
            {
                old.Add((long)(offset >> _clusterBits));
            }
        }

        _refcountOrder = newOrder;
        _rbIndex = -1;
        _writeRefcountOrder = true;
        if (!RebuildRefcountStructure())
        {
            throw new InvalidOperationException(_messages.Count > 0 ? _messages[^1] : "The new refcount structure could not be written.");
        }

        foreach (long c in old)
        {
            if (c < _refsLength)
            {
                _refs[c] = 0;
            }
        }

        // Every block of the new structure again, now without the old clusters.
        byte[] block = new byte[_clusterSize];
        long perBlock = RefblockEntries;
        for (long i = 0; i < _refTable.Length; i++)
        {
            ulong offset = _refTable[i] & RefTableOffsetMask;
            if (offset == 0)
            {
                continue;
            }

            Array.Clear(block);
            long start = i * perBlock;
            long count = Math.Max(0, Math.Min(perBlock, _refsLength - start));
            for (long j = 0; j < count; j++)
            {
                if (_refs[start + j] != 0)
                {
                    SetRefcount(block, j, _refs[start + j]);
                }
            }

            WriteHost(offset, block);
        }

        _host.Flush();
        return null;
    }

    /// <summary>
    /// Points the header at a new refcount table in one write: <c>refcount_table_offset</c> and
    /// <c>refcount_table_clusters</c>, and with a width change also <c>refcount_order</c> (the bytes
    /// between them rewritten as they are).
    /// </summary>
    private void WriteRefcountTablePointer(ulong tableOffset, long tableClusters)
    {
        int length = _writeRefcountOrder ? 52 : 12;
        Span<byte> header = stackalloc byte[52];
        header = header[..length];
        ReadZeroFilled(48, header);
        BinaryPrimitives.WriteUInt64BigEndian(header, tableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(header[8..], (uint)tableClusters);
        if (_writeRefcountOrder)
        {
            BinaryPrimitives.WriteUInt32BigEndian(header[48..], (uint)_refcountOrder);
        }

        _host.Write(48, header);
    }
}
