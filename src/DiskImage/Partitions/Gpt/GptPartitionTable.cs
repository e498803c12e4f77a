using System.Buffers.Binary;
using DiskImage.Compression;
using DiskImage.IO;

namespace DiskImage.Partitions.Gpt;

/// <summary>
/// A GUID Partition Table (UEFI 2.10 §5.3): protective MBR, primary header and entry array at the
/// start, backup array and header at the end. Reading validates both CRCs and the geometry and falls
/// back to the backup when the primary is bad, as sgdisk does; writing rewrites both copies and the
/// protective MBR, and moves the backup to the end of a disk that grew (<c>sgdisk -e</c>).
/// </summary>
public sealed class GptPartitionTable : PartitionTable
{
    private const int ProtectiveEntryOffset = 0x1BE;

    private readonly GptHeader _header;
    private readonly byte[] _array;
    private readonly long _primaryArrayLba;
    private long _backupLba;
    private List<GptPartition> _partitions;

    private GptPartitionTable(BlockDevice disk, int sectorSize, GptHeader header, byte[] array, long primaryArrayLba, long backupLba, bool fromBackup)
        : base(disk, sectorSize)
    {
        _header = header;
        _array = array;
        _primaryArrayLba = primaryArrayLba;
        _backupLba = backupLba;
        OpenedFromBackup = fromBackup;
        _partitions = ParseEntries(header, array, sectorSize, out _);
    }

    /// <inheritdoc />
    public override PartitionTableKind Kind => PartitionTableKind.Gpt;

    /// <summary>The disk GUID (DiskGUID).</summary>
    public Guid DiskGuid => _header.DiskGuid;

    /// <inheritdoc />
    public override string Identifier => DiskGuid.ToString("D").ToUpperInvariant();

    /// <inheritdoc />
    public override long FirstUsableSector => _header.FirstUsableLba;

    /// <inheritdoc />
    public override long LastUsableSector => _header.LastUsableLba;

    /// <summary>The number of entries in the array (NumberOfPartitionEntries), usually 128.</summary>
    public int EntryCount => (int)_header.NumberOfEntries;

    /// <summary>The size of one entry in bytes (SizeOfPartitionEntry), usually 128.</summary>
    public int EntrySize => (int)_header.SizeOfEntry;

    /// <summary>Whether the primary header or array was bad and the table was read from the backup (the next write restores the primary).</summary>
    public bool OpenedFromBackup { get; private set; }

    /// <summary>Whether the backup header is not in the last sector (the disk grew after partitioning); the next write, or <see cref="RelocateBackup"/>, moves it.</summary>
    public bool BackupNeedsRelocation => _backupLba != DiskSectors - 1;

    /// <inheritdoc />
    public override IReadOnlyList<Partition> Partitions => _partitions;

    /// <summary>
    /// Opens the GPT on <paramref name="disk"/> with logical sectors of <paramref name="sectorSize"/> bytes.
    /// </summary>
    /// <exception cref="InvalidDataException">Neither the primary nor the backup header and array are valid, or the partitions overlap or leave the usable range.</exception>
    public static new GptPartitionTable Open(BlockDevice disk, int sectorSize = 512)
    {
        ArgumentNullException.ThrowIfNull(disk);
        if (sectorSize is not (512 or 4096))
        {
            throw new ArgumentOutOfRangeException(nameof(sectorSize), "The sector size must be 512 or 4096.");
        }

        long lastLba = (disk.Length / sectorSize) - 1;
        if (lastLba < 5)
        {
            throw FormatError.Create("GPT", -1, $"the disk ({disk.Length} bytes) is too small for a GPT with {sectorSize}-byte sectors");
        }

        GptHeader? primary = TryRead(disk, 1, lastLba, sectorSize, out byte[]? array, out GptHeader? primaryHeader, out string? primaryError);
        if (primary is not null)
        {
            return new GptPartitionTable(disk, sectorSize, primary, array!, primary.PartitionEntryLba, primary.AlternateLba, fromBackup: false);
        }

        // UEFI §5.3.2: the primary is bad, so the backup is used: in the last LBA, or where a primary with a good header but a bad array says it is.
        string? backupError = null;
        var candidates = new List<long>(2) { lastLba };
        if (primaryHeader is { } ph && ph.AlternateLba > 1 && ph.AlternateLba < lastLba)
        {
            candidates.Add(ph.AlternateLba);
        }

        foreach (long candidate in candidates)
        {
            GptHeader? backup = TryRead(disk, candidate, lastLba, sectorSize, out array, out _, out string? error);
            if (backup is not null)
            {
                return new GptPartitionTable(disk, sectorSize, backup, array!, 2, candidate, fromBackup: true);
            }

            backupError ??= error;
        }

        throw FormatError.Create("GPT", -1, $"the primary table is invalid ({primaryError}) and so is the backup ({backupError})");
    }

    /// <summary>
    /// Writes a new, empty GPT over <paramref name="disk"/>: protective MBR, both headers and arrays; the
    /// first usable LBA is 34 (6 with 4 KiB sectors), as sgdisk writes it.
    /// </summary>
    public static GptPartitionTable Create(BlockDevice disk, GptCreateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(disk);
        options ??= new GptCreateOptions();
        int ss = options.SectorSize;
        if (!disk.CanWrite)
        {
            throw new NotSupportedException("The disk is open read-only; a partition table cannot be created.");
        }

        long arraySectors = ((long)options.EntryCount * 128 + ss - 1) / ss;
        long lastLba = (disk.Length / ss) - 1;
        if (lastLba < (2 * arraySectors) + 3 + ((1 << 20) / ss))
        {
            throw new ArgumentException($"The disk ({disk.Length} bytes) is too small for a GPT with {ss}-byte sectors.", nameof(disk));
        }

        var header = new GptHeader
        {
            MyLba = 1,
            AlternateLba = lastLba,
            FirstUsableLba = 2 + arraySectors,
            LastUsableLba = lastLba - arraySectors - 1,
            DiskGuid = options.DiskGuid ?? Guid.NewGuid(),
            PartitionEntryLba = 2,
            NumberOfEntries = (uint)options.EntryCount,
            SizeOfEntry = 128,
        };

        // Old tables must not be found again: the start (MBR, GPT of either sector size) and the end.
        disk.WriteZeroes(0, header.FirstUsableLba * ss);
        long tail = Math.Max((arraySectors + 1) * ss, 8192);
        disk.WriteZeroes(disk.Length - tail, tail);
        var table = new GptPartitionTable(disk, ss, header, new byte[arraySectors * ss], 2, lastLba, fromBackup: false);
        table.WriteTable();
        return table;
    }

    /// <summary>Rewrites both copies with the backup in the last sector and the protective MBR sized to the disk (<c>sgdisk -e</c>).</summary>
    public void RelocateBackup()
    {
        ThrowIfReadOnly();
        WriteTable();
    }

    /// <inheritdoc />
    public override Partition Add(PartitionAddOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ThrowIfReadOnly();
        if (!PartitionTypes.TryParseGpt(options.Type, out Guid type))
        {
            throw new ArgumentException($"'{options.Type}' is not a GPT partition type (a GUID or one of: {string.Join(", ", PartitionTypes.Names)}).", nameof(options));
        }

        if (options.Logical)
        {
            throw new ArgumentException("GPT has no logical partitions.", nameof(options));
        }

        string name = options.Name ?? string.Empty;
        if (name.Length > GptPartition.MaxNameLength || name.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"A GPT partition name holds at most {GptPartition.MaxNameLength} UTF-16 code units and no NUL.", nameof(options));
        }

        int index = -1;
        for (int i = 0; i < EntryCount; i++)
        {
            if (!GptPartition.IsUsed(Entry(i)))
            {
                index = i;
                break;
            }
        }

        if (index < 0)
        {
            throw new InvalidOperationException($"All {EntryCount} partition entries are in use.");
        }

        long? sectors = options.Size is { } size ? ToSectors(size, nameof(options)) : null;
        (_, long first, long last) = PartitionLayout.Place(UsedRanges(-1), FirstUsableSector, MaxLastUsable(), GrainSectors, sectors, options.FirstSector);
        GptPartitionAttributes attributes = options.Attributes | (options.Bootable ? GptPartitionAttributes.LegacyBiosBootable : 0);
        var partition = new GptPartition(index + 1, first, last - first + 1, SectorSize, type, options.UniqueGuid ?? Guid.NewGuid(), attributes, name);
        partition.WriteTo(Entry(index));
        Commit();
        return GetPartition(index + 1);
    }

    /// <inheritdoc />
    public override void Delete(int number)
    {
        ThrowIfReadOnly();
        GetPartition(number);
        Entry(number - 1).Clear();
        Commit();
    }

    /// <inheritdoc />
    public override Partition Resize(int number, long? size = null, bool allowShrink = false)
    {
        ThrowIfReadOnly();
        var p = (GptPartition)GetPartition(number);
        long limit = PartitionLayout.GrowLimit(UsedRanges(number), p.FirstSector, MaxLastUsable());
        long last = size is { } s ? p.FirstSector + ToSectors(s, nameof(size)) - 1 : limit;
        if (last > limit)
        {
            throw new InvalidOperationException($"Partition {number} can grow to at most {(limit - p.FirstSector + 1) * SectorSize} bytes (sector {limit}).");
        }

        if (last < p.LastSector && !allowShrink)
        {
            throw new InvalidOperationException($"The new size of partition {number} is smaller than its current size ({p.Length} bytes); shrinking cuts its content and must be asked for.");
        }

        p.WithExtent(p.FirstSector, last - p.FirstSector + 1).WriteTo(Entry(number - 1));
        Commit();
        return GetPartition(number);
    }

    private Span<byte> Entry(int index) => _array.AsSpan(index * EntrySize, EntrySize);

    private List<PartitionLayout.Range> UsedRanges(int exceptNumber)
    {
        var used = new List<PartitionLayout.Range>(_partitions.Count);
        foreach (GptPartition p in _partitions)
        {
            if (p.Number != exceptNumber)
            {
                used.Add(new PartitionLayout.Range(p.FirstSector, p.LastSector));
            }
        }

        return used;
    }

    // After the next write the backup sits at the end, so a grown disk's new space is usable at once.
    private long MaxLastUsable() => (DiskSectors - 1) - _header.ArraySectors(SectorSize) - 1;

    private void Commit()
    {
        ExtendUsableRange();
        _partitions = ParseEntries(_header, _array, SectorSize, out _);
        WriteTable();
    }

    /// <summary>When the backup moves to the end of a grown disk, the usable range grows up to the new backup array (sgdisk -e).</summary>
    private void ExtendUsableRange()
    {
        long backupArrayLba = DiskSectors - 1 - _header.ArraySectors(SectorSize);
        if (_backupLba != DiskSectors - 1 || _header.LastUsableLba >= backupArrayLba)
        {
            _header.LastUsableLba = backupArrayLba - 1;
        }
    }

    private void WriteTable()
    {
        int ss = SectorSize;
        long lastLba = DiskSectors - 1;
        long arraySectors = _header.ArraySectors(ss);
        long backupArrayLba = lastLba - arraySectors;
        long oldBackup = _backupLba;
        ExtendUsableRange();

        _header.EntryArrayCrc = Crc32.Append(0, _array.AsSpan(0, (int)_header.ArrayBytes));
        GptHeader primary = _header.Clone();
        primary.MyLba = 1;
        primary.AlternateLba = lastLba;
        primary.PartitionEntryLba = _primaryArrayLba;
        GptHeader backup = _header.Clone();
        backup.MyLba = lastLba;
        backup.AlternateLba = 1;
        backup.PartitionEntryLba = backupArrayLba;

        byte[] sector = new byte[ss];
        Disk.Write(backupArrayLba * ss, _array);
        backup.WriteTo(sector);
        Disk.Write(lastLba * ss, sector);
        Disk.Write(_primaryArrayLba * ss, _array);
        primary.WriteTo(sector);
        Disk.Write(ss, sector);
        WriteProtectiveMbr(lastLba);
        if (oldBackup != lastLba && oldBackup > 1 && oldBackup < lastLba && IsOwnBackupHeader(oldBackup))
        {
            // The stale backup header of a disk that grew now lies in free space: sgdisk -e leaves no second "EFI PART" behind either.
            Disk.WriteZeroes(oldBackup * ss, ss);
        }

        _backupLba = lastLba;
        OpenedFromBackup = false;
        Disk.Flush();
    }

    private bool IsOwnBackupHeader(long lba)
    {
        Span<byte> head = stackalloc byte[32];
        Disk.ReadExactly(lba * SectorSize, head);
        return BinaryPrimitives.ReadUInt64LittleEndian(head) == GptHeader.SignatureValue && BinaryPrimitives.ReadInt64LittleEndian(head[24..]) == lba;
    }

    private void WriteProtectiveMbr(long lastLba)
    {
        Span<byte> mbr = stackalloc byte[512];
        Disk.ReadExactly(0, mbr);
        int protective = -1;
        bool others = false;
        for (int i = 0; i < 4; i++)
        {
            byte type = mbr[ProtectiveEntryOffset + (16 * i) + 4];
            if (type == PartitionTypes.MbrGptProtective && protective < 0)
            {
                protective = i;
            }
            else if (type != 0)
            {
                others = true;
            }
        }

        uint size = (uint)Math.Min(lastLba, uint.MaxValue);
        if (protective >= 0 && others && BinaryPrimitives.ReadUInt16LittleEndian(mbr[510..]) == 0xAA55)
        {
            // A hybrid MBR: keep its other entries, only size the protective one to the disk.
            BinaryPrimitives.WriteUInt32LittleEndian(mbr[(ProtectiveEntryOffset + (16 * protective) + 12)..], size);
        }
        else
        {
            // parted's pmbr_boot sets 0x80 on the protective entry; some firmware needs it, so it is kept.
            byte status = protective >= 0 && mbr[ProtectiveEntryOffset + (16 * protective)] == 0x80 ? (byte)0x80 : (byte)0;
            Span<byte> entries = mbr.Slice(ProtectiveEntryOffset, 64);
            entries.Clear();
            entries[0] = status;
            entries[1] = 0x00; // CHS of LBA 1: head 0, sector 2, cylinder 0 (UEFI §5.2.3)
            entries[2] = 0x02;
            entries[3] = 0x00;
            entries[4] = PartitionTypes.MbrGptProtective;
            entries[5] = 0xFF; // ending CHS beyond what CHS can express, as sfdisk writes it
            entries[6] = 0xFF;
            entries[7] = 0xFF;
            BinaryPrimitives.WriteUInt32LittleEndian(entries[8..], 1);
            BinaryPrimitives.WriteUInt32LittleEndian(entries[12..], size);
            mbr[510] = 0x55;
            mbr[511] = 0xAA;
        }

        Disk.Write(0, mbr);
    }

    /// <summary>Reads and validates a header and its array; null with the reason when either is bad.</summary>
    private static GptHeader? TryRead(BlockDevice disk, long lba, long lastLba, int ss, out byte[]? array, out GptHeader? headerOnly, out string? error)
    {
        array = null;
        headerOnly = null;
        byte[] sector = new byte[ss];
        disk.ReadExactly(lba * ss, sector);
        GptHeader? header = GptHeader.TryParse(sector, lba, lastLba, out error);
        if (header is null)
        {
            error = $"LBA {lba}: {error}";
            return null;
        }

        headerOnly = header;
        byte[] entries = new byte[header.ArraySectors(ss) * ss];
        disk.ReadExactly(header.PartitionEntryLba * ss, entries);
        uint crc = Crc32.Append(0, entries.AsSpan(0, (int)header.ArrayBytes));
        if (crc != header.EntryArrayCrc)
        {
            error = $"LBA {lba}: the entry array CRC32 0x{header.EntryArrayCrc:x8} does not match the computed 0x{crc:x8}";
            return null;
        }

        ParseEntries(header, entries, ss, out error);
        if (error is not null)
        {
            error = $"LBA {lba}: {error}";
            return null;
        }

        array = entries;
        return header;
    }

    /// <summary>The in-use entries; <paramref name="error"/> names the first one out of the usable range or overlapping another.</summary>
    private static List<GptPartition> ParseEntries(GptHeader header, byte[] array, int ss, out string? error)
    {
        error = null;
        var partitions = new List<GptPartition>();
        var ranges = new List<PartitionLayout.Range>();
        int size = (int)header.SizeOfEntry;
        for (int i = 0; i < header.NumberOfEntries; i++)
        {
            ReadOnlySpan<byte> entry = array.AsSpan(i * size, size);
            if (!GptPartition.IsUsed(entry))
            {
                continue;
            }

            GptPartition p = GptPartition.Parse(entry, i + 1, ss, out long endingLba);
            if (p.SectorCount == 0 || p.FirstSector < header.FirstUsableLba || endingLba > header.LastUsableLba)
            {
                error ??= $"partition {i + 1} [{p.FirstSector}, {endingLba}] is empty or outside the usable range [{header.FirstUsableLba}, {header.LastUsableLba}]";
                continue;
            }

            partitions.Add(p);
            ranges.Add(new PartitionLayout.Range(p.FirstSector, p.LastSector));
        }

        if (error is null && PartitionLayout.FindOverlap(ranges) is { } overlap)
        {
            error = $"partitions overlap: [{overlap.A.First}, {overlap.A.Last}] and [{overlap.B.First}, {overlap.B.Last}]";
        }

        return partitions;
    }
}
