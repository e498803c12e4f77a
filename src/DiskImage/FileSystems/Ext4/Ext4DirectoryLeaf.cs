using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Reads and writes the records of one directory leaf block: entry sizes and record lengths, free-slot
/// search, placing, finding, removing and compacting records, and the metadata_csum leaf tail.
/// </summary>
internal sealed class Ext4DirectoryLeaf(Ext4FileSystem fs)
{
    private readonly Ext4FileSystem _fs = fs;

    private const int DirectoryTailSize = 12;
    private const byte DirectoryTailFileType = 0xDE;
    internal const int DirectoryTypeCode = 2;

    internal static byte[] EncodeEntryName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name is "." or ".." || name.AsSpan().IndexOfAny('/', '\0') >= 0)
        {
            throw new ArgumentException($"'{name}' is not a valid directory entry name.", nameof(name));
        }

        byte[] bytes = UnixPathEncoding.GetBytes(name);

        if (bytes.Length > 255)
        {
            throw new PathTooLongException($"The name '{name}' is {bytes.Length} bytes long in UTF-8; ext4 allows 255.");
        }

        return bytes;
    }

    /// <summary>
    /// The directory-entry file-type code (1 regular file … 7 symbolic link) for <paramref name="type"/>,
    /// or 0 ("unknown") for a type that has none.
    /// </summary>
    internal static byte DirectoryEntryType(UnixFileType type) => type switch
    {
        UnixFileType.RegularFile => 1,
        UnixFileType.Directory => 2,
        UnixFileType.CharacterDevice => 3,
        UnixFileType.BlockDevice => 4,
        UnixFileType.Fifo => 5,
        UnixFileType.Socket => 6,
        UnixFileType.SymbolicLink => 7,
        _ => 0,
    };

    internal static byte FileTypeCode(UnixFileType type)
    {
        byte code = DirectoryEntryType(type);
        return code != 0 ? code : throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown file type.");
    }

    /// <summary>The record length an entry with a name of <paramref name="nameLength"/> bytes needs (4-byte aligned).</summary>
    internal static int EntrySize(int nameLength) => (8 + nameLength + 3) & ~3;

    internal int GetRecordLength(ReadOnlySpan<byte> block, int offset) =>
        _fs.RecordLength(BinaryPrimitives.ReadUInt16LittleEndian(block[(offset + 4)..]));

    internal void SetRecordLength(Span<byte> block, int offset, int length)
    {
        ushort raw;
        if (length < 65536)
        {
            raw = (ushort)length;
        }
        else
        {
            // 64 KiB blocks: a record of the whole block is 0xFFFF; longer ones keep bits 16-17 in the low bits.
            raw = length == 65536 ? (ushort)0xFFFF : (ushort)((length & 65532) | ((length >> 16) & 3));
        }

        BinaryPrimitives.WriteUInt16LittleEndian(block[(offset + 4)..], raw);
    }

    internal void WriteEntry(Span<byte> block, int offset, int recordLength, uint inode, ReadOnlySpan<byte> name, byte typeCode)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(block[offset..], inode);
        SetRecordLength(block, offset, recordLength);
        block[offset + 6] = (byte)name.Length;
        block[offset + 7] = typeCode;
        name.CopyTo(block[(offset + 8)..]);
        block.Slice(offset + 8 + name.Length, EntrySize(name.Length) - 8 - name.Length).Clear();
    }

    /// <summary>The end of the entry area of a leaf block: before the checksum tail with metadata_csum.</summary>
    internal int LeafLimit() => _fs.SuperBlock.BlockSize - (_fs.SuperBlock.HasMetadataChecksum ? DirectoryTailSize : 0);

    /// <summary>Checks that a leaf block's records chain exactly to its end (or its checksum tail) and returns that end.</summary>
    internal int LeafLimit(Ext4Inode directory, ReadOnlySpan<byte> block, long logical)
    {
        const string S = "ext4 directory";
        int limit = LeafLimit();
        if (_fs.SuperBlock.HasMetadataChecksum)
        {
            ReadOnlySpan<byte> tail = block[limit..];
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail) != 0 || BinaryPrimitives.ReadUInt16LittleEndian(tail[4..]) != DirectoryTailSize ||
                tail[6] != 0 || tail[7] != DirectoryTailFileType)
            {
                FormatError.Throw(S, -1, $"inode {directory.Number}: block {logical} has no checksum tail.");
            }

            // Re-sealing a damaged block would hide the damage: check it first.
            if (_fs.VerifyChecksums &&
                Ext4Checksum.Crc32C(_fs.InodeSeed(directory.Number, directory.Generation), block[..limit]) != BinaryPrimitives.ReadUInt32LittleEndian(tail[8..]))
            {
                FormatError.Throw(S, -1, $"inode {directory.Number}: block {logical} checksum mismatch.");
            }
        }

        int offset = 0;
        while (offset < limit)
        {
            int recordLength = limit - offset < 8 ? 0 : GetRecordLength(block, offset);
            uint inode = recordLength == 0 ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(block[offset..]);
            if (recordLength < 8 || (recordLength & 3) != 0 || recordLength > limit - offset ||
                (inode != 0 && (EntrySize(block[offset + 6]) > recordLength || block[offset + 6] == 0)))
            {
                FormatError.Throw(S, -1, $"inode {directory.Number}: block {logical}, offset {offset}: bad rec_len {recordLength}.");
            }

            offset += recordLength;
        }

        return limit;
    }

    internal void SealLeaf(Ext4Inode directory, Span<byte> block)
    {
        if (!_fs.SuperBlock.HasMetadataChecksum)
        {
            return;
        }

        int limit = block.Length - DirectoryTailSize;
        Span<byte> tail = block[limit..];
        BinaryPrimitives.WriteUInt32LittleEndian(tail, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(tail[4..], DirectoryTailSize);
        tail[6] = 0;
        tail[7] = DirectoryTailFileType;
        BinaryPrimitives.WriteUInt32LittleEndian(tail[8..], Ext4Checksum.Crc32C(_fs.InodeSeed(directory.Number, directory.Generation), block[..limit]));
    }

    /// <summary>
    /// Finds the first record with room for <paramref name="needed"/> more bytes: a free record (inode 0) at
    /// least that long, or a live one with that much slack after its name. Returns its offset or -1.
    /// </summary>
    internal int FindSlot(ReadOnlySpan<byte> block, int limit, int needed)
    {
        int offset = 0;
        while (offset < limit)
        {
            int recordLength = GetRecordLength(block, offset);
            uint inode = BinaryPrimitives.ReadUInt32LittleEndian(block[offset..]);
            int free = inode == 0 ? recordLength : recordLength - EntrySize(block[offset + 6]);
            if (free >= needed)
            {
                return offset;
            }

            offset += recordLength;
        }

        return -1;
    }

    /// <summary>Puts an entry into the record at <paramref name="slot"/> (found by <see cref="FindSlot"/>), splitting a live record.</summary>
    internal void PlaceEntry(Span<byte> block, int slot, ReadOnlySpan<byte> name, uint inode, byte typeCode)
    {
        int recordLength = GetRecordLength(block, slot);
        if (BinaryPrimitives.ReadUInt32LittleEndian(block[slot..]) == 0)
        {
            WriteEntry(block, slot, recordLength, inode, name, typeCode);
            return;
        }

        int used = EntrySize(block[slot + 6]);
        SetRecordLength(block, slot, used);
        WriteEntry(block, slot + used, recordLength - used, inode, name, typeCode);
    }

    /// <summary>Total bytes the live records of a checked leaf need when packed.</summary>
    internal int PackedSize(ReadOnlySpan<byte> block, int limit)
    {
        int total = 0;
        int offset = 0;
        while (offset < limit)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(block[offset..]) != 0)
            {
                total += EntrySize(block[offset + 6]);
            }

            offset += GetRecordLength(block, offset);
        }

        return total;
    }

    /// <summary>Moves the live records from <paramref name="start"/> on to the front of that area, leaving the slack in the last one.</summary>
    internal void CompactLeaf(Span<byte> block, int start, int limit)
    {
        int read = start;
        int write = start;
        int last = -1;
        while (read < limit)
        {
            int recordLength = GetRecordLength(block, read);
            if (BinaryPrimitives.ReadUInt32LittleEndian(block[read..]) != 0)
            {
                int size = EntrySize(block[read + 6]);
                if (write != read)
                {
                    block.Slice(read, size).CopyTo(block[write..]);
                }

                SetRecordLength(block, write, size);
                last = write;
                write += size;
            }

            read += recordLength;
        }

        if (last < 0)
        {
            // No live record: one empty record spans the area.
            BinaryPrimitives.WriteUInt32LittleEndian(block[start..], 0);
            SetRecordLength(block, start, limit - start);
            block[start + 6] = 0;
            block[start + 7] = 0;
            block[(start + 8)..limit].Clear();
            return;
        }

        SetRecordLength(block, last, limit - last);
        block[write..limit].Clear();
    }

    internal void RemoveFromLeaf(Span<byte> block, int offset, int previous)
    {
        int recordLength = GetRecordLength(block, offset);
        int nameLength = block[offset + 6];
        if (previous >= 0)
        {
            SetRecordLength(block, previous, GetRecordLength(block, previous) + recordLength);
            block.Slice(offset, 8 + nameLength).Clear();
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(block[offset..], 0);
            block[offset + 6] = 0;
            block[offset + 7] = 0;
            block.Slice(offset + 8, nameLength).Clear();
        }
    }

    /// <summary>Finds <paramref name="name"/> among the live records of a checked leaf; returns its offset and its predecessor's.</summary>
    internal int FindInLeaf(ReadOnlySpan<byte> block, int limit, ReadOnlySpan<byte> name, out int previous)
    {
        previous = -1;
        int offset = 0;
        while (offset < limit)
        {
            int recordLength = GetRecordLength(block, offset);
            if (BinaryPrimitives.ReadUInt32LittleEndian(block[offset..]) != 0 && block[offset + 6] == name.Length &&
                block.Slice(offset + 8, name.Length).SequenceEqual(name))
            {
                return offset;
            }

            previous = offset;
            offset += recordLength;
        }

        return -1;
    }
}
