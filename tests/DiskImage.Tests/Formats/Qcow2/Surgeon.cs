using System.Buffers.Binary;
using System.Text;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>
/// Byte-level editor for qcow2 files used to build damaged or hostile images in tests (in the spirit
/// of qemu-iotests' qcow2.py): header fields, feature bits, header extensions, L1/L2 entries,
/// refcount entries and snapshot table entries. It trusts the file only as far as each edit needs
/// and never repairs anything.
/// </summary>
public sealed class Surgeon
{
    /// <summary>Header field offsets (qcow2 spec, "Header").</summary>
    public static class Field
    {
        public const int Magic = 0;
        public const int Version = 4;
        public const int BackingFileOffset = 8;
        public const int BackingFileSize = 16;
        public const int ClusterBits = 20;
        public const int Size = 24;
        public const int CryptMethod = 32;
        public const int L1Size = 36;
        public const int L1TableOffset = 40;
        public const int RefcountTableOffset = 48;
        public const int RefcountTableClusters = 56;
        public const int NbSnapshots = 60;
        public const int SnapshotsOffset = 64;
        public const int IncompatibleFeatures = 72;
        public const int CompatibleFeatures = 80;
        public const int AutoclearFeatures = 88;
        public const int RefcountOrder = 96;
        public const int HeaderLength = 100;
        public const int CompressionType = 104;
    }

    private byte[] _data;

    private Surgeon(string path, byte[] data)
    {
        Path = path;
        _data = data;
    }

    /// <summary>The file being edited.</summary>
    public string Path { get; }

    /// <summary>The current bytes (edits are applied here and written by <see cref="Save"/>).</summary>
    public byte[] Data => _data;

    /// <summary>Edits <paramref name="bytes"/> in memory (<see cref="Data"/> holds the result).</summary>
    public static Surgeon FromBytes(byte[] bytes) => new(string.Empty, bytes);

    /// <summary>Loads <paramref name="path"/> for editing.</summary>
    public static Surgeon Open(string path) => new(path, File.ReadAllBytes(path));

    /// <summary>Writes the edited bytes back (to <paramref name="path"/>, or the source file).</summary>
    public void Save(string? path = null) => File.WriteAllBytes(path ?? Path, _data);

    /// <summary>Truncates or extends the image bytes.</summary>
    public void SetLength(int length) => Array.Resize(ref _data, length);

    public ulong U64(long offset) => BinaryPrimitives.ReadUInt64BigEndian(_data.AsSpan((int)offset));

    public uint U32(long offset) => BinaryPrimitives.ReadUInt32BigEndian(_data.AsSpan((int)offset));

    public ushort U16(long offset) => BinaryPrimitives.ReadUInt16BigEndian(_data.AsSpan((int)offset));

    public void SetU64(long offset, ulong value) => BinaryPrimitives.WriteUInt64BigEndian(EnsureSpan(offset, 8), value);

    public void SetU32(long offset, uint value) => BinaryPrimitives.WriteUInt32BigEndian(EnsureSpan(offset, 4), value);

    public void SetU16(long offset, ushort value) => BinaryPrimitives.WriteUInt16BigEndian(EnsureSpan(offset, 2), value);

    public void SetU8(long offset, byte value) => EnsureSpan(offset, 1)[0] = value;

    /// <summary>Flips bit <paramref name="bit"/> (0 = LSB) of the byte at <paramref name="offset"/>.</summary>
    public void FlipBit(long offset, int bit) => _data[offset] ^= (byte)(1 << bit);

    private Span<byte> EnsureSpan(long offset, int length)
    {
        if (offset + length > _data.Length)
        {
            Array.Resize(ref _data, (int)(offset + length));
        }

        return _data.AsSpan((int)offset, length);
    }

    // ---- Header ----

    public int Version => (int)U32(Field.Version);

    public int ClusterBits => (int)U32(Field.ClusterBits);

    public int ClusterSize => 1 << ClusterBits;

    public ulong VirtualSize => U64(Field.Size);

    public uint L1Size => U32(Field.L1Size);

    public ulong L1TableOffset => U64(Field.L1TableOffset);

    public ulong RefcountTableOffset => U64(Field.RefcountTableOffset);

    public uint RefcountTableClusters => U32(Field.RefcountTableClusters);

    public uint SnapshotCount => U32(Field.NbSnapshots);

    public ulong SnapshotsOffset => U64(Field.SnapshotsOffset);

    public int RefcountOrder => Version >= 3 ? (int)U32(Field.RefcountOrder) : 4;

    public int HeaderLength => Version >= 3 ? (int)U32(Field.HeaderLength) : 72;

    public bool ExtendedL2 => Version >= 3 && (U64(Field.IncompatibleFeatures) & (1UL << 4)) != 0;

    /// <summary>Sets or clears a feature bit (<paramref name="field"/> is one of the three feature fields).</summary>
    public void SetFeatureBit(int field, int bit, bool value)
    {
        ulong v = U64(field);
        SetU64(field, value ? v | (1UL << bit) : v & ~(1UL << bit));
    }

    // ---- Header extensions ----

    /// <summary>A header extension: its type, where its data starts and its length.</summary>
    public readonly record struct Extension(uint Type, int DataOffset, int Length);

    /// <summary>Lists the header extensions up to the end marker.</summary>
    public List<Extension> Extensions()
    {
        var list = new List<Extension>();
        int pos = HeaderLength;
        ulong backing = U64(Field.BackingFileOffset);
        int end = backing != 0 ? (int)Math.Min(backing, (ulong)ClusterSize) : ClusterSize;
        while (pos + 8 <= end && pos + 8 <= _data.Length)
        {
            uint type = U32(pos);
            int length = (int)U32(pos + 4);
            if (type == 0)
            {
                break;
            }

            list.Add(new Extension(type, pos + 8, length));
            pos += 8 + ((length + 7) & ~7);
        }

        return list;
    }

    /// <summary>Offset of the end-of-extensions marker.</summary>
    public int ExtensionsEnd()
    {
        List<Extension> list = Extensions();
        return list.Count == 0 ? HeaderLength : list[^1].DataOffset + ((list[^1].Length + 7) & ~7);
    }

    /// <summary>Appends an extension before the end marker (the caller keeps it inside cluster 0).</summary>
    public void AddExtension(uint type, ReadOnlySpan<byte> data, int? declaredLength = null)
    {
        int pos = ExtensionsEnd();
        SetU32(pos, type);
        SetU32(pos + 4, (uint)(declaredLength ?? data.Length));
        data.CopyTo(EnsureSpan(pos + 8, data.Length));
        int next = pos + 8 + ((data.Length + 7) & ~7);
        SetU64(next, 0);
    }

    /// <summary>Sets the backing file name (stored after the extensions, inside cluster 0).</summary>
    public void SetBackingFile(string name, string? format = null)
    {
        if (format is not null)
        {
            AddExtension(0xe2792aca, Encoding.UTF8.GetBytes(format));
        }

        byte[] bytes = Encoding.UTF8.GetBytes(name);
        int offset = ExtensionsEnd() + 8;
        bytes.CopyTo(EnsureSpan(offset, bytes.Length));
        SetU64(Field.BackingFileOffset, (ulong)offset);
        SetU32(Field.BackingFileSize, (uint)bytes.Length);
    }

    // ---- L1 / L2 ----

    public long L1EntryOffset(int index) => (long)L1TableOffset + (index * 8L);

    public ulong L1Entry(int index) => U64(L1EntryOffset(index));

    public void SetL1Entry(int index, ulong value) => SetU64(L1EntryOffset(index), value);

    public int L2EntrySize => ExtendedL2 ? 16 : 8;

    /// <summary>Host offset of the L2 table referenced by L1 entry <paramref name="l1Index"/>.</summary>
    public ulong L2TableOffset(int l1Index) => L1Entry(l1Index) & 0x00fffffffffffe00;

    public long L2EntryOffset(int l1Index, int l2Index) => (long)L2TableOffset(l1Index) + ((long)l2Index * L2EntrySize);

    public ulong L2Entry(int l1Index, int l2Index) => U64(L2EntryOffset(l1Index, l2Index));

    public void SetL2Entry(int l1Index, int l2Index, ulong value) => SetU64(L2EntryOffset(l1Index, l2Index), value);

    /// <summary>Subcluster bitmap of an extended L2 entry.</summary>
    public ulong L2Bitmap(int l1Index, int l2Index) => U64(L2EntryOffset(l1Index, l2Index) + 8);

    public void SetL2Bitmap(int l1Index, int l2Index, ulong value) => SetU64(L2EntryOffset(l1Index, l2Index) + 8, value);

    /// <summary>The L2 entry mapping guest byte <paramref name="guestOffset"/>.</summary>
    public (int L1Index, int L2Index) GuestIndex(long guestOffset)
    {
        long cluster = guestOffset >> ClusterBits;
        int perL2 = ClusterSize / L2EntrySize;
        return ((int)(cluster / perL2), (int)(cluster % perL2));
    }

    /// <summary>Host offset of the data cluster mapping guest byte <paramref name="guestOffset"/> (0 if none or compressed).</summary>
    public ulong HostClusterOf(long guestOffset)
    {
        (int l1, int l2) = GuestIndex(guestOffset);
        if (L2TableOffset(l1) == 0)
        {
            return 0;
        }

        ulong e = L2Entry(l1, l2);
        return (e & (1UL << 62)) != 0 ? 0 : e & 0x00fffffffffffe00;
    }

    // ---- Refcounts ----

    public ulong RefTableEntry(int index) => U64((long)RefcountTableOffset + (index * 8L));

    public void SetRefTableEntry(int index, ulong value) => SetU64((long)RefcountTableOffset + (index * 8L), value);

    public long RefblockEntries => (long)ClusterSize * 8 / (1 << RefcountOrder);

    /// <summary>Stored refcount of host cluster <paramref name="cluster"/> (0 when no block covers it).</summary>
    public ulong Refcount(long cluster)
    {
        (long block, int bit) = Locate(cluster);
        if (block == 0)
        {
            return 0;
        }

        int bits = 1 << RefcountOrder;
        return bits switch
        {
            64 => U64(block + (bit / 8)),
            32 => U32(block + (bit / 8)),
            16 => U16(block + (bit / 8)),
            _ => (ulong)((_data[block + (bit / 8)] >> (bit % 8)) & ((1 << bits) - 1)),
        };
    }

    /// <summary>Overwrites the stored refcount of host cluster <paramref name="cluster"/> (its refcount block must exist).</summary>
    public void SetRefcount(long cluster, ulong value)
    {
        (long block, int bit) = Locate(cluster);
        if (block == 0)
        {
            throw new InvalidOperationException($"No refcount block covers cluster {cluster}.");
        }

        int bits = 1 << RefcountOrder;
        switch (bits)
        {
            case 64: SetU64(block + (bit / 8), value); break;
            case 32: SetU32(block + (bit / 8), (uint)value); break;
            case 16: SetU16(block + (bit / 8), (ushort)value); break;
            default:
                int shift = bit % 8;
                int mask = ((1 << bits) - 1) << shift;
                ref byte b = ref _data[block + (bit / 8)];
                b = (byte)((b & ~mask) | (((int)value << shift) & mask));
                break;
        }
    }

    private (long Block, int Bit) Locate(long cluster)
    {
        long perBlock = RefblockEntries;
        int tableIndex = (int)(cluster / perBlock);
        if (tableIndex >= RefcountTableClusters * (ClusterSize / 8))
        {
            return (0, 0);
        }

        long block = (long)(RefTableEntry(tableIndex) & 0xfffffffffffffe00);
        int bit = (int)(cluster % perBlock * (1 << RefcountOrder));
        return (block, bit);
    }

    // ---- Snapshots ----

    /// <summary>A snapshot table entry: where it starts and its main fields.</summary>
    public readonly record struct SnapshotEntry(long Offset, ulong L1TableOffset, uint L1Size, string Id, string Name, int Length);

    /// <summary>Parses the snapshot table.</summary>
    public List<SnapshotEntry> Snapshots()
    {
        var list = new List<SnapshotEntry>();
        long pos = (long)SnapshotsOffset;
        for (uint i = 0; i < SnapshotCount; i++)
        {
            ulong l1 = U64(pos);
            uint l1Size = U32(pos + 8);
            int idSize = U16(pos + 12);
            int nameSize = U16(pos + 14);
            int extra = (int)U32(pos + 36);
            long text = pos + 40 + extra;
            string id = Encoding.UTF8.GetString(_data, (int)text, idSize);
            string name = Encoding.UTF8.GetString(_data, (int)text + idSize, nameSize);
            int length = (40 + extra + idSize + nameSize + 7) & ~7;
            list.Add(new SnapshotEntry(pos, l1, l1Size, id, name, length));
            pos += length;
        }

        return list;
    }

    /// <summary>Byte offset of field <paramref name="fieldOffset"/> in snapshot entry <paramref name="index"/>.</summary>
    public long SnapshotField(int index, int fieldOffset) => Snapshots()[index].Offset + fieldOffset;
}
