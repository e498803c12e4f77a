using System.Buffers.Binary;
using System.Text;

namespace DiskImage.FileSystems.Ext4;

/// <summary>One attribute as stored on disk: name index, raw name suffix (without prefix) and stored value.</summary>
internal sealed class Ext4XattrEntry(byte index, byte[] name, byte[] value)
{
    public byte Index { get; } = index;

    public byte[] Name { get; } = name;

    public byte[] Value { get; } = value;

    /// <summary>Bytes the entry and its padded value take in an attribute area.</summary>
    public int Footprint => Ext4XattrLayout.EntrySize(Name.Length) + Ext4XattrLayout.ValueSize(Value.Length);

    /// <summary>Whether this is the hidden <c>system.data</c> entry of an inline-data inode (it must stay in the inode).</summary>
    public bool IsInlineData => Index == Ext4XattrLayout.SystemIndex && Name.AsSpan().SequenceEqual("data"u8);

    public bool Is(byte index, ReadOnlySpan<byte> name) => Index == index && Name.AsSpan().SequenceEqual(name);
}

/// <summary>
/// The on-disk layout of ext4 extended attributes: names and their index prefixes, entry and block
/// hashes, the in-inode area and the external block (header, sorted entries, values packed from the end).
/// </summary>
internal static class Ext4XattrLayout
{
    public const uint Magic = 0xEA020000;
    public const int BlockHeaderSize = 32;
    public const int EntryHeaderSize = 16;
    public const int MaxNameLength = 255;

    /// <summary>The largest value accepted (the Linux <c>XATTR_SIZE_MAX</c>).</summary>
    public const int MaxValueLength = 65536;

    public const byte UserIndex = 1;
    public const byte PosixAclAccessIndex = 2;
    public const byte PosixAclDefaultIndex = 3;
    public const byte TrustedIndex = 4;
    public const byte SecurityIndex = 6;
    public const byte SystemIndex = 7;
    public const byte RichAclIndex = 8;

    /// <summary>Size of an entry (16-byte header plus the name) rounded up to 4 bytes.</summary>
    public static int EntrySize(int nameLength) => (EntryHeaderSize + nameLength + 3) & ~3;

    /// <summary>Size of a value rounded up to 4 bytes.</summary>
    public static int ValueSize(int valueLength) => (valueLength + 3) & ~3;

    /// <summary>
    /// Splits a full attribute name into the on-disk name index and suffix. Throws <see cref="ArgumentException"/>
    /// for names without a known prefix, with a suffix longer than 255 bytes, or for the reserved <c>system.data</c>.
    /// </summary>
    public static (byte Index, byte[] Name) ParseName(string fullName)
    {
        XattrName.Validate(fullName);
        (byte index, string suffix) = fullName switch
        {
            "system.posix_acl_access" => (PosixAclAccessIndex, string.Empty),
            "system.posix_acl_default" => (PosixAclDefaultIndex, string.Empty),
            "system.richacl" => (RichAclIndex, string.Empty),
            _ when fullName.StartsWith("user.", StringComparison.Ordinal) => (UserIndex, fullName[5..]),
            _ when fullName.StartsWith("trusted.", StringComparison.Ordinal) => (TrustedIndex, fullName[8..]),
            _ when fullName.StartsWith("security.", StringComparison.Ordinal) => (SecurityIndex, fullName[9..]),
            _ => (SystemIndex, fullName[7..]),
        };

        if (index == SystemIndex && suffix == "data")
        {
            throw new ArgumentException("'system.data' is reserved for ext4 inline data.", nameof(fullName));
        }

        byte[] name = Encoding.UTF8.GetBytes(suffix);
        if (name.Length > MaxNameLength)
        {
            throw new ArgumentException($"The extended attribute name '{fullName}' is longer than {MaxNameLength} bytes after its prefix.", nameof(fullName));
        }

        return (index, name);
    }

    /// <summary>The entry hash: the name bytes (unsigned), then the value as 32-bit little-endian words, zero-padded.</summary>
    public static uint EntryHash(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        uint hash = 0;
        foreach (byte c in name)
        {
            hash = (hash << 5) ^ (hash >> 27) ^ c;
        }

        int whole = value.Length & ~3;
        for (int i = 0; i < whole; i += 4)
        {
            hash = (hash << 16) ^ (hash >> 16) ^ BinaryPrimitives.ReadUInt32LittleEndian(value[i..]);
        }

        if (whole != value.Length)
        {
            Span<byte> last = stackalloc byte[4];
            last.Clear();
            value[whole..].CopyTo(last);
            hash = (hash << 16) ^ (hash >> 16) ^ BinaryPrimitives.ReadUInt32LittleEndian(last);
        }

        return hash;
    }

    /// <summary>The order of entries in an attribute block: name index, then name length, then name bytes.</summary>
    public static int CompareBlockOrder(Ext4XattrEntry a, Ext4XattrEntry b)
    {
        int c = a.Index.CompareTo(b.Index);
        if (c == 0)
        {
            c = a.Name.Length.CompareTo(b.Name.Length);
        }

        return c != 0 ? c : a.Name.AsSpan().SequenceCompareTo(b.Name);
    }

    /// <summary>Bytes the entries need in an area: their footprints plus the 4-byte end marker.</summary>
    public static int Required(List<Ext4XattrEntry> entries)
    {
        int total = 4;
        foreach (Ext4XattrEntry e in entries)
        {
            total += e.Footprint;
        }

        return total;
    }

    /// <summary>
    /// Bytes available to entries in the in-inode area of an inode (after <c>i_extra_isize</c> and the
    /// 4-byte magic), 0 when the inode has no such area. An <c>i_extra_isize</c> of 0 gives none: the kernel
    /// then assumes 32 and would look for the area elsewhere than e2fsck does.
    /// </summary>
    public static int InodeCapacity(int inodeSize, int extraSize)
    {
        if (inodeSize <= 128 || extraSize == 0 || (extraSize & 3) != 0)
        {
            return 0;
        }

        int room = inodeSize - 128 - extraSize - 4;
        return room >= 4 ? room : 0;
    }

    /// <summary>Bytes available to entries in an attribute block.</summary>
    public static int BlockCapacity(int blockSize) => Math.Min(blockSize, 65536) - BlockHeaderSize;

    /// <summary>
    /// Writes the in-inode attribute area: <paramref name="tail"/> starts at <c>128 + i_extra_isize</c> and runs to
    /// the end of the inode. An empty list clears the area (no magic).
    /// </summary>
    public static void WriteInodeArea(Span<byte> tail, List<Ext4XattrEntry> entries)
    {
        tail.Clear();
        if (entries.Count == 0)
        {
            return;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(tail, Magic);
        WriteEntries(tail[4..], 0, entries);
    }

    /// <summary>
    /// Writes a whole attribute block: header (magic, refcount, <c>h_blocks</c> = 1, hash; checksum left zero),
    /// the entries in the given (sorted) order, and their values packed from the end.
    /// </summary>
    public static void WriteBlock(Span<byte> block, List<Ext4XattrEntry> sortedEntries, uint refCount)
    {
        block.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(block, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(block[4..], refCount);
        BinaryPrimitives.WriteUInt32LittleEndian(block[8..], 1);
        uint blockHash = WriteEntries(block[..Math.Min(block.Length, 65536)], BlockHeaderSize, sortedEntries);
        BinaryPrimitives.WriteUInt32LittleEndian(block[12..], blockHash);
    }

    /// <summary>Sets <c>h_checksum</c> of an attribute block (metadata_csum): crc32c over the le64 block number and the block with the field zero.</summary>
    public static void SetBlockChecksum(Span<byte> block, long blockNumber, uint seed) =>
        BinaryPrimitives.WriteUInt32LittleEndian(block[0x10..], BlockChecksum(block, blockNumber, seed));

    /// <summary>The metadata_csum checksum of an attribute block.</summary>
    public static uint BlockChecksum(ReadOnlySpan<byte> block, long blockNumber, uint seed)
    {
        Span<byte> le = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(le, blockNumber);
        uint c = Ext4Checksum.Crc32C(seed, le);
        c = Ext4Checksum.Crc32C(c, block[..0x10]);
        c = Ext4Checksum.Crc32CZeros(c, 4);
        return Ext4Checksum.Crc32C(c, block[0x14..]);
    }

    /// <summary>
    /// Writes entries from <paramref name="entriesStart"/> of <paramref name="region"/> and their values packed from
    /// its end (value offsets are relative to the region start). Returns the block hash of the entries.
    /// </summary>
    private static uint WriteEntries(Span<byte> region, int entriesStart, List<Ext4XattrEntry> entries)
    {
        int off = entriesStart;
        int valueEnd = region.Length & ~3;
        uint blockHash = 0;
        bool zeroHash = false;
        foreach (Ext4XattrEntry e in entries)
        {
            int valueOffset = 0;
            if (e.Value.Length != 0)
            {
                valueEnd -= ValueSize(e.Value.Length);
                valueOffset = valueEnd;
                e.Value.CopyTo(region[valueOffset..]);
            }

            uint hash = EntryHash(e.Name, e.Value);
            Span<byte> h = region[off..];
            h[0] = (byte)e.Name.Length;
            h[1] = e.Index;
            BinaryPrimitives.WriteUInt16LittleEndian(h[2..], (ushort)valueOffset);
            BinaryPrimitives.WriteUInt32LittleEndian(h[4..], 0);
            BinaryPrimitives.WriteUInt32LittleEndian(h[8..], (uint)e.Value.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(h[12..], hash);
            e.Name.CopyTo(h[EntryHeaderSize..]);
            off += EntrySize(e.Name.Length);
            if (hash == 0)
            {
                zeroHash = true;
            }

            blockHash = (blockHash << 16) ^ (blockHash >> 16) ^ hash;
        }

        // The 4-byte end marker after the last entry is already zero.
        if (off + 4 > valueEnd)
        {
            throw new InvalidOperationException("ext4 xattr entries overlap their values (the caller must check the space).");
        }

        return zeroHash ? 0 : blockHash;
    }
}
