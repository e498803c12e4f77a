using System.Buffers;
using System.Buffers.Binary;

namespace DiskImage.Formats.Qcow2;

/// <summary>
/// The metadata changes of the write path that have not reached the host yet: refcount blocks,
/// refcount table entries, L2 tables and L1 entries changed by guest writes while the image defers
/// metadata (<see cref="Qcow2Image.DefersMetadata"/>). <see cref="Flush"/> writes them back in the
/// order that keeps the image consistent at every host write: refcount blocks, then the refcount
/// table entries that point to new blocks, then L2 tables, then L1 entries. Guest data is always
/// written before the entry that points to it becomes dirty, so every stage only refers to what an
/// earlier stage (or an earlier host write) already stored; a crash between two writes leaves at
/// worst leaked clusters. Tables at consecutive host offsets go out in one write.
/// </summary>
/// <remarks>
/// A refcount decrement waits until the entry that dropped the reference is on the host: the
/// decrement first flushes pending L2 tables and L1 entries, then joins the dirty refcount blocks. Not thread-safe: used
/// under the image's write lock; lookups (<see cref="GetL2"/>) run under its read lock.
/// </remarks>
internal sealed class Qcow2MetadataWriteback
{
    /// <summary>Largest single metadata write when adjacent tables are merged.</summary>
    private const int MaxMergedBytes = 1 << 20;

    private readonly Qcow2Image _image;
    private readonly int _clusterSize;
    private readonly int _limit;
    private readonly Dictionary<long, byte[]> _refblocks = [];
    private readonly Dictionary<long, ulong[]> _l2Tables = [];
    private int _reftableFirst = int.MaxValue;
    private int _reftableLast = -1;
    private long _l1First = long.MaxValue;
    private long _l1Last = -1;

    /// <summary>Creates the write-back state of <paramref name="image"/>.</summary>
    public Qcow2MetadataWriteback(Qcow2Image image)
    {
        _image = image;
        _clusterSize = image.ClusterSize;

        // About 8 MiB of dirty tables (they are also in the table caches), at least 16, at most 256.
        _limit = Math.Clamp((8 << 20) >> image.ClusterBits, 16, 256);
    }

    /// <summary>Whether anything waits to be written.</summary>
    public bool IsDirty => _refblocks.Count > 0 || _l2Tables.Count > 0 || _reftableLast >= 0 || _l1Last >= 0;

    /// <summary>Whether L2 tables or L1 entries wait: a reference they drop is not on the host yet.</summary>
    public bool HasDirtyMapping => _l2Tables.Count > 0 || _l1Last >= 0;

    /// <summary>Whether enough tables are dirty that the write path should write them back now.</summary>
    public bool ShouldFlush => _refblocks.Count + _l2Tables.Count >= _limit;

    /// <summary>Dirty tables (refcount blocks and L2 tables) waiting to be written.</summary>
    public int DirtyTableCount => _refblocks.Count + _l2Tables.Count;

    /// <summary>The dirty refcount block at <paramref name="offset"/>, or <see langword="null"/>.</summary>
    public byte[]? GetRefcountBlock(long offset) => _refblocks.Count == 0 ? null : _refblocks.GetValueOrDefault(offset);

    /// <summary>The dirty L2 table at <paramref name="offset"/>, or <see langword="null"/>.</summary>
    public ulong[]? GetL2(long offset) => _l2Tables.Count == 0 ? null : _l2Tables.GetValueOrDefault(offset);

    /// <summary>Records that the refcount block at <paramref name="offset"/> changed (increments only).</summary>
    public void MarkRefcountBlock(long offset, byte[] block) => _refblocks[offset] = block;

    /// <summary>Records that refcount table entry <paramref name="index"/> changed (it points to a new block).</summary>
    public void MarkRefcountTableEntry(long index)
    {
        _reftableFirst = Math.Min(_reftableFirst, (int)index);
        _reftableLast = Math.Max(_reftableLast, (int)index);
    }

    /// <summary>Records that the L2 table at <paramref name="offset"/> changed.</summary>
    public void MarkL2(long offset, ulong[] table) => _l2Tables[offset] = table;

    /// <summary>Records that active L1 entry <paramref name="index"/> changed.</summary>
    public void MarkL1Entry(long index)
    {
        _l1First = Math.Min(_l1First, index);
        _l1Last = Math.Max(_l1Last, index);
    }

    /// <summary>Forgets a table whose cluster was freed.</summary>
    public void Forget(long offset)
    {
        _refblocks.Remove(offset);
        _l2Tables.Remove(offset);
    }

    /// <summary>Drops every pending change (the metadata on the host was rewritten by the checker).</summary>
    public void Discard()
    {
        _refblocks.Clear();
        _l2Tables.Clear();
        _reftableFirst = int.MaxValue;
        _reftableLast = -1;
        _l1First = long.MaxValue;
        _l1Last = -1;
    }

    /// <summary>
    /// Writes everything back: refcount blocks, refcount table entries, L2 tables, L1 entries. A stage
    /// is forgotten only once all its writes succeeded, so a failed flush can be retried in order.
    /// </summary>
    public void Flush()
    {
        if (!IsDirty)
        {
            return;
        }

        if (_refblocks.Count > 0)
        {
            WriteTables(_refblocks, static (byte[] block, Span<byte> destination) => block.CopyTo(destination));
            _refblocks.Clear();
        }

        if (_reftableLast >= 0)
        {
            WriteEntries((long)_image.Header.RefcountTableOffset, _image.RefcountTable, _reftableFirst, _reftableLast);
            _reftableFirst = int.MaxValue;
            _reftableLast = -1;
        }

        if (_l2Tables.Count > 0)
        {
            WriteTables(_l2Tables, static (ulong[] table, Span<byte> destination) =>
            {
                for (int i = 0; i < table.Length; i++)
                {
                    BinaryPrimitives.WriteUInt64BigEndian(destination[(i * 8)..], table[i]);
                }
            });
            _l2Tables.Clear();
        }

        if (_l1Last >= 0)
        {
            WriteEntries((long)_image.Header.L1TableOffset, _image.ActiveL1Table, (int)_l1First, (int)_l1Last);
            _l1First = long.MaxValue;
            _l1Last = -1;
        }
    }

    private void WriteEntries(long tableOffset, ReadOnlySpan<ulong> table, int first, int last)
    {
        int count = last - first + 1;
        byte[] raw = ArrayPool<byte>.Shared.Rent(count * 8);
        try
        {
            for (int i = 0; i < count; i++)
            {
                BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), table[first + i]);
            }

            _image.HostWrite(tableOffset + ((long)first * 8), raw.AsSpan(0, count * 8));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    private delegate void Encoder<T>(T table, Span<byte> destination);

    /// <summary>Writes the tables in host offset order, tables at consecutive clusters merged into one write.</summary>
    private void WriteTables<T>(Dictionary<long, T> tables, Encoder<T> encode)
    {
        int count = tables.Count;
        long[] offsets = ArrayPool<long>.Shared.Rent(count);
        int perWrite = Math.Max(1, MaxMergedBytes / _clusterSize);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Min(count, perWrite) * _clusterSize);
        try
        {
            tables.Keys.CopyTo(offsets, 0);
            Array.Sort(offsets, 0, count);
            int i = 0;
            while (i < count)
            {
                int n = 1;
                while (i + n < count && n < perWrite && offsets[i + n] == offsets[i] + ((long)n * _clusterSize))
                {
                    n++;
                }

                for (int k = 0; k < n; k++)
                {
                    encode(tables[offsets[i + k]], buffer.AsSpan(k * _clusterSize, _clusterSize));
                }

                _image.HostWrite(offsets[i], buffer.AsSpan(0, n * _clusterSize));
                i += n;
            }
        }
        finally
        {
            ArrayPool<long>.Shared.Return(offsets);
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
