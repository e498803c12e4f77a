using System.Buffers.Binary;
using System.Text;

namespace DiskImage.Formats.Qcow2;

/// <summary>One entry of the snapshot table (spec "Snapshot table entry"), variable length, padded to 8 bytes.</summary>
internal sealed class Qcow2SnapshotEntry
{
    /// <summary>Byte offsets of the fixed fields.</summary>
    internal static class Field
    {
        public const int L1TableOffset = 0;     // l1_table_offset
        public const int L1Size = 8;            // l1_size
        public const int IdStringSize = 12;     // id_str_size
        public const int NameSize = 14;         // name_size
        public const int DateSeconds = 16;      // date_sec
        public const int DateNanoseconds = 20;  // date_nsec
        public const int VmClockNanoseconds = 24; // vm_clock_nsec
        public const int VmStateSize = 32;      // vm_state_size
        public const int ExtraDataSize = 36;    // extra_data_size
        public const int ExtraData = 40;        // extra data: vm_state_size_large, disk_size, icount
    }

    /// <summary>Size of the fixed part.</summary>
    public const int FixedSize = 40;

    /// <summary>Largest extra data QEMU accepts (<c>QCOW_MAX_SNAPSHOT_EXTRA_DATA</c>).</summary>
    public const int MaxExtraDataSize = 1024;

    /// <summary>Host offset of the snapshot's L1 table.</summary>
    public ulong L1TableOffset { get; set; }

    /// <summary>Entries in the snapshot's L1 table.</summary>
    public uint L1Size { get; set; }

    /// <summary>Unique ID string.</summary>
    public byte[] IdString { get; set; } = [];

    /// <summary>Name.</summary>
    public byte[] Name { get; set; } = [];

    /// <summary><c>date_sec</c>.</summary>
    public uint DateSeconds { get; set; }

    /// <summary><c>date_nsec</c>.</summary>
    public uint DateNanoseconds { get; set; }

    /// <summary><c>vm_clock_nsec</c>.</summary>
    public ulong VmClockNanoseconds { get; set; }

    /// <summary>32-bit <c>vm_state_size</c>.</summary>
    public uint VmStateSize32 { get; set; }

    /// <summary>Raw extra data, kept byte-exact.</summary>
    public byte[] ExtraData { get; set; } = [];

    /// <summary>64-bit VM state size from the extra data, or the 32-bit field.</summary>
    public ulong VmStateSize => ExtraData.Length >= 8 ? BinaryPrimitives.ReadUInt64BigEndian(ExtraData) : VmStateSize32;

    /// <summary>Disk size from the extra data, or <see langword="null"/> when absent.</summary>
    public ulong? DiskSize => ExtraData.Length >= 16 ? BinaryPrimitives.ReadUInt64BigEndian(ExtraData.AsSpan(8)) : null;

    /// <summary>Instruction count from the extra data, or -1.</summary>
    public long InstructionCount => ExtraData.Length >= 24 ? BinaryPrimitives.ReadInt64BigEndian(ExtraData.AsSpan(16)) : -1;

    /// <summary>Bytes the entry occupies on disk.</summary>
    public int DiskLength => (FixedSize + ExtraData.Length + IdString.Length + Name.Length + 7) & ~7;

    /// <summary>Parses one entry at the start of <paramref name="data"/>.</summary>
    /// <param name="data">Bytes from the start of the entry to the end of the table.</param>
    /// <param name="tableOffset">Host offset of the entry, for error messages.</param>
    /// <param name="consumed">Bytes the entry occupies, padding included.</param>
    public static Qcow2SnapshotEntry Parse(ReadOnlySpan<byte> data, long tableOffset, out int consumed)
    {
        const string S = "qcow2 snapshot table entry";
        if (data.Length < FixedSize)
        {
            FormatError.Throw(S, tableOffset, "the snapshot table is truncated.");
        }

        var e = new Qcow2SnapshotEntry
        {
            L1TableOffset = BinaryPrimitives.ReadUInt64BigEndian(data),
            L1Size = BinaryPrimitives.ReadUInt32BigEndian(data[Field.L1Size..]),
            DateSeconds = BinaryPrimitives.ReadUInt32BigEndian(data[Field.DateSeconds..]),
            DateNanoseconds = BinaryPrimitives.ReadUInt32BigEndian(data[Field.DateNanoseconds..]),
            VmClockNanoseconds = BinaryPrimitives.ReadUInt64BigEndian(data[Field.VmClockNanoseconds..]),
            VmStateSize32 = BinaryPrimitives.ReadUInt32BigEndian(data[Field.VmStateSize..]),
        };
        int idSize = BinaryPrimitives.ReadUInt16BigEndian(data[Field.IdStringSize..]);
        int nameSize = BinaryPrimitives.ReadUInt16BigEndian(data[Field.NameSize..]);
        uint extraSize = BinaryPrimitives.ReadUInt32BigEndian(data[Field.ExtraDataSize..]);
        if (extraSize > MaxExtraDataSize)
        {
            FormatError.Throw(S, tableOffset, $"too much extra metadata ({extraSize} bytes, at most {MaxExtraDataSize}).");
        }

        long total = FixedSize + (long)extraSize + idSize + nameSize;
        long padded = (total + 7) & ~7L;
        if (total > data.Length)
        {
            FormatError.Throw(S, tableOffset, "the snapshot table is truncated.");
        }

        int pos = FixedSize;
        e.ExtraData = data.Slice(pos, (int)extraSize).ToArray();
        pos += (int)extraSize;
        e.IdString = data.Slice(pos, idSize).ToArray();
        pos += idSize;
        e.Name = data.Slice(pos, nameSize).ToArray();
        consumed = (int)Math.Min(padded, data.Length);
        return e;
    }

    /// <summary>Writes the entry (with padding) into <paramref name="destination"/>; returns the bytes written.</summary>
    public int WriteTo(Span<byte> destination)
    {
        Span<byte> d = destination[..DiskLength];
        d.Clear();
        BinaryPrimitives.WriteUInt64BigEndian(d, L1TableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(d[Field.L1Size..], L1Size);
        BinaryPrimitives.WriteUInt16BigEndian(d[Field.IdStringSize..], (ushort)IdString.Length);
        BinaryPrimitives.WriteUInt16BigEndian(d[Field.NameSize..], (ushort)Name.Length);
        BinaryPrimitives.WriteUInt32BigEndian(d[Field.DateSeconds..], DateSeconds);
        BinaryPrimitives.WriteUInt32BigEndian(d[Field.DateNanoseconds..], DateNanoseconds);
        BinaryPrimitives.WriteUInt64BigEndian(d[Field.VmClockNanoseconds..], VmClockNanoseconds);
        BinaryPrimitives.WriteUInt32BigEndian(d[Field.VmStateSize..], VmStateSize32);
        BinaryPrimitives.WriteUInt32BigEndian(d[Field.ExtraDataSize..], (uint)ExtraData.Length);
        int pos = FixedSize;
        ExtraData.CopyTo(d[pos..]);
        pos += ExtraData.Length;
        IdString.CopyTo(d[pos..]);
        pos += IdString.Length;
        Name.CopyTo(d[pos..]);
        return d.Length;
    }

    /// <summary>The public view of this entry.</summary>
    public Qcow2Snapshot ToSnapshot(long currentSize) => new()
    {
        Id = Encoding.UTF8.GetString(IdString),
        Name = Encoding.UTF8.GetString(Name),
        VmStateSize = (long)VmStateSize,
        DateSeconds = DateSeconds,
        DateNanoseconds = DateNanoseconds,
        VmClockNanoseconds = (long)VmClockNanoseconds,
        DiskSize = DiskSize is { } s ? (long)s : currentSize,
        InstructionCount = InstructionCount,
        L1TableOffset = (long)L1TableOffset,
        L1Size = (int)L1Size,
    };
}
