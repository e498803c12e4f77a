using System.Buffers.Binary;
using DiskImage.Compression;

namespace DiskImage.Partitions.Gpt;

/// <summary>The GPT header (UEFI 2.10 §5.3.2, table 5-5): one in LBA 1, its backup in the last LBA.</summary>
internal sealed class GptHeader
{
    /// <summary>"EFI PART" read as a little-endian 64-bit integer.</summary>
    public const ulong SignatureValue = 0x5452415020494645;

    /// <summary>Revision 1.0.</summary>
    public const uint Revision10 = 0x00010000;

    /// <summary>The size of the defined fields.</summary>
    public const int MinHeaderSize = 92;

    /// <summary>The largest entry array read (bounded memory): 16 MiB, 131072 entries of 128 bytes.</summary>
    public const long MaxArrayBytes = 16L << 20;

    private const int SignatureOffset = 0;
    private const int RevisionOffset = 8;
    private const int HeaderSizeOffset = 12;
    private const int HeaderCrcOffset = 16;
    private const int MyLbaOffset = 24;
    private const int AlternateLbaOffset = 32;
    private const int FirstUsableLbaOffset = 40;
    private const int LastUsableLbaOffset = 48;
    private const int DiskGuidOffset = 56;
    private const int PartitionEntryLbaOffset = 72;
    private const int NumberOfEntriesOffset = 80;
    private const int SizeOfEntryOffset = 84;
    private const int EntryArrayCrcOffset = 88;

    public uint Revision { get; set; } = Revision10;

    public uint HeaderSize { get; set; } = MinHeaderSize;

    public long MyLba { get; set; }

    public long AlternateLba { get; set; }

    public long FirstUsableLba { get; set; }

    public long LastUsableLba { get; set; }

    public Guid DiskGuid { get; set; }

    public long PartitionEntryLba { get; set; }

    public uint NumberOfEntries { get; set; }

    public uint SizeOfEntry { get; set; }

    public uint EntryArrayCrc { get; set; }

    /// <summary>The entry array's size in bytes.</summary>
    public long ArrayBytes => (long)NumberOfEntries * SizeOfEntry;

    /// <summary>The number of sectors the entry array spans.</summary>
    public long ArraySectors(int sectorSize) => (ArrayBytes + sectorSize - 1) / sectorSize;

    /// <summary>
    /// Parses and validates the header in <paramref name="sector"/>, read from <paramref name="lba"/>
    /// of a disk whose last LBA is <paramref name="lastLba"/> (UEFI §5.3.2 steps 1–4 and the geometry).
    /// Returns null and the reason when the header is not valid.
    /// </summary>
    public static GptHeader? TryParse(ReadOnlySpan<byte> sector, long lba, long lastLba, out string? error)
    {
        if (BinaryPrimitives.ReadUInt64LittleEndian(sector[SignatureOffset..]) != SignatureValue)
        {
            error = "no \"EFI PART\" signature";
            return null;
        }

        uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(sector[HeaderSizeOffset..]);
        if (headerSize < MinHeaderSize || headerSize > sector.Length)
        {
            error = $"header size {headerSize} is outside [{MinHeaderSize}, {sector.Length}]";
            return null;
        }

        uint storedCrc = BinaryPrimitives.ReadUInt32LittleEndian(sector[HeaderCrcOffset..]);
        uint crc = ComputeCrc(sector[..(int)headerSize]);
        if (crc != storedCrc)
        {
            error = $"header CRC32 0x{storedCrc:x8} does not match the computed 0x{crc:x8}";
            return null;
        }

        var h = new GptHeader
        {
            Revision = BinaryPrimitives.ReadUInt32LittleEndian(sector[RevisionOffset..]),
            HeaderSize = headerSize,
            MyLba = (long)BinaryPrimitives.ReadUInt64LittleEndian(sector[MyLbaOffset..]),
            AlternateLba = (long)BinaryPrimitives.ReadUInt64LittleEndian(sector[AlternateLbaOffset..]),
            FirstUsableLba = (long)BinaryPrimitives.ReadUInt64LittleEndian(sector[FirstUsableLbaOffset..]),
            LastUsableLba = (long)BinaryPrimitives.ReadUInt64LittleEndian(sector[LastUsableLbaOffset..]),
            DiskGuid = new Guid(sector.Slice(DiskGuidOffset, 16)),
            PartitionEntryLba = (long)BinaryPrimitives.ReadUInt64LittleEndian(sector[PartitionEntryLbaOffset..]),
            NumberOfEntries = BinaryPrimitives.ReadUInt32LittleEndian(sector[NumberOfEntriesOffset..]),
            SizeOfEntry = BinaryPrimitives.ReadUInt32LittleEndian(sector[SizeOfEntryOffset..]),
            EntryArrayCrc = BinaryPrimitives.ReadUInt32LittleEndian(sector[EntryArrayCrcOffset..]),
        };
        error = h.Validate(lba, lastLba, sector.Length);
        return error is null ? h : null;
    }

    private string? Validate(long lba, long lastLba, int sectorSize)
    {
        if (MyLba != lba)
        {
            return $"MyLBA {MyLba} is not the LBA the header was read from ({lba})";
        }

        // 128 × 2^n (UEFI), at most one sector: sgdisk and sfdisk refuse larger entries too.
        if (SizeOfEntry < 128 || SizeOfEntry > sectorSize || (SizeOfEntry & (SizeOfEntry - 1)) != 0)
        {
            return $"partition entry size {SizeOfEntry} is not 128 × 2^n up to the sector size";
        }

        if (NumberOfEntries == 0 || ArrayBytes > MaxArrayBytes)
        {
            return $"{NumberOfEntries} entries of {SizeOfEntry} bytes is outside the supported array size (1 entry to {MaxArrayBytes} bytes)";
        }

        if (FirstUsableLba < 2 || LastUsableLba < FirstUsableLba || LastUsableLba >= lastLba)
        {
            return $"the usable range [{FirstUsableLba}, {LastUsableLba}] does not fit the disk (last LBA {lastLba})";
        }

        long arraySectors = ArraySectors(sectorSize);
        if (PartitionEntryLba < 2 || PartitionEntryLba > lastLba || arraySectors > lastLba - PartitionEntryLba + 1)
        {
            return $"the entry array at LBA {PartitionEntryLba} ({arraySectors} sectors) does not fit the disk (last LBA {lastLba})";
        }

        long arrayLast = PartitionEntryLba + arraySectors - 1;
        if (arrayLast >= FirstUsableLba && PartitionEntryLba <= LastUsableLba)
        {
            return $"the entry array [{PartitionEntryLba}, {arrayLast}] overlaps the usable range [{FirstUsableLba}, {LastUsableLba}]";
        }

        if (lba >= FirstUsableLba && lba <= LastUsableLba)
        {
            return $"the header at LBA {lba} lies inside the usable range";
        }

        return null;
    }

    /// <summary>Writes the header into <paramref name="sector"/> (zeroing the rest) with its CRC.</summary>
    public void WriteTo(Span<byte> sector)
    {
        sector.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(sector[SignatureOffset..], SignatureValue);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[RevisionOffset..], Revision);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[HeaderSizeOffset..], MinHeaderSize);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[MyLbaOffset..], (ulong)MyLba);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[AlternateLbaOffset..], (ulong)AlternateLba);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[FirstUsableLbaOffset..], (ulong)FirstUsableLba);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[LastUsableLbaOffset..], (ulong)LastUsableLba);
        DiskGuid.TryWriteBytes(sector.Slice(DiskGuidOffset, 16));
        BinaryPrimitives.WriteUInt64LittleEndian(sector[PartitionEntryLbaOffset..], (ulong)PartitionEntryLba);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[NumberOfEntriesOffset..], NumberOfEntries);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[SizeOfEntryOffset..], SizeOfEntry);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[EntryArrayCrcOffset..], EntryArrayCrc);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[HeaderCrcOffset..], ComputeCrc(sector[..MinHeaderSize]));
    }

    /// <summary>A copy of this header.</summary>
    public GptHeader Clone() => (GptHeader)MemberwiseClone();

    /// <summary>The CRC-32 of the header bytes with the CRC field taken as zero.</summary>
    private static uint ComputeCrc(ReadOnlySpan<byte> header)
    {
        Span<byte> copy = stackalloc byte[header.Length];
        header.CopyTo(copy);
        copy.Slice(HeaderCrcOffset, 4).Clear();
        return Crc32.Append(0, copy);
    }
}
