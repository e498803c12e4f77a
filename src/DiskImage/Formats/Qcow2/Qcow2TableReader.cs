using System.Buffers;
using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <summary>Reads the tables an open loads: big-endian 64-bit tables (L1, refcount) and the snapshot table, bounds-checked.</summary>
internal static class Qcow2TableReader
{
    /// <summary>Reads <paramref name="entries"/> big-endian 64-bit entries at <paramref name="offset"/>; the range is already validated.</summary>
    internal static ulong[] ReadTable(BlockDevice host, long offset, int entries)
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

    internal static List<Qcow2SnapshotEntry> ReadSnapshotTable(BlockDevice host, Qcow2Header header, long hostLength)
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
            if (pos + length - tableOffset > Qcow2Image.MaxSnapshotTableBytes)
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
            if (l1Bytes > Qcow2Image.MaxL1Bytes)
            {
                FormatError.Throw(S, pos, $"snapshot {i} L1 table too large ({e.L1Size} entries).");
            }

            if (e.L1Size > 0)
            {
                Qcow2HeaderValidator.ValidateTable(e.L1TableOffset, l1Bytes, hostLength, header.ClusterSize, $"snapshot {i} L1 table");
            }

            list.Add(e);
            pos += length;
        }

        return list;
    }
}
