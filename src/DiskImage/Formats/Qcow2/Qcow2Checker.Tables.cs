using System.Buffers;
using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>
/// Reading the header, its extensions, the snapshot table and the refcount table into the checker's
/// state, reporting (never throwing) what is malformed.
/// </content>
internal sealed partial class Qcow2Checker
{
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
}
