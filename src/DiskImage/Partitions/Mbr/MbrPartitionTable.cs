using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using DiskImage.IO;

namespace DiskImage.Partitions.Mbr;

/// <summary>
/// An MBR (DOS) partition table: four primary entries in sector 0, one of which may be an extended
/// partition holding a chain of EBRs, each describing one logical partition (numbered from 5 in chain
/// order, as Linux numbers them). 32-bit LBAs: at most 2^32 sectors are addressable.
/// </summary>
public sealed class MbrPartitionTable : PartitionTable
{
    /// <summary>The longest EBR chain read (the Linux kernel stops at a few hundred too).</summary>
    public const int MaxLogicalPartitions = 256;

    private const int SignatureOffset = 0x1B8;

    private readonly byte[] _mbr;
    private readonly MbrEntry[] _primary = new MbrEntry[4];
    private List<MbrPartition> _logicals;
    private List<Partition> _partitions = [];

    private MbrPartitionTable(BlockDevice disk, int sectorSize, byte[] mbr, List<MbrPartition> logicals)
        : base(disk, sectorSize)
    {
        _mbr = mbr;
        for (int i = 0; i < 4; i++)
        {
            _primary[i] = MbrEntry.Read(mbr, i);
        }

        _logicals = logicals;
        Rebuild();
    }

    /// <inheritdoc />
    public override PartitionTableKind Kind => PartitionTableKind.Mbr;

    /// <summary>The disk signature at 0x1B8 (sfdisk's <c>label-id</c>).</summary>
    public uint DiskSignature => BinaryPrimitives.ReadUInt32LittleEndian(_mbr.AsSpan(SignatureOffset));

    /// <inheritdoc />
    public override string Identifier => "0x" + DiskSignature.ToString("x8", CultureInfo.InvariantCulture);

    /// <inheritdoc />
    public override long FirstUsableSector => 1;

    /// <inheritdoc />
    public override long LastUsableSector => Math.Min(DiskSectors, 1L << 32) - 1;

    /// <inheritdoc />
    public override IReadOnlyList<Partition> Partitions => _partitions;

    /// <summary>Whether sector 0 looks like an MBR partition table rather than a file system's boot sector (FAT, NTFS) or a GPT protective MBR.</summary>
    internal static bool LooksLikeMbr(ReadOnlySpan<byte> sector)
    {
        if (BinaryPrimitives.ReadUInt16LittleEndian(sector[510..]) != 0xAA55)
        {
            return false;
        }

        bool jump = sector[0] == 0xE9 || (sector[0] == 0xEB && sector[2] == 0x90);
        if (jump && (sector.Slice(3, 4).SequenceEqual("NTFS"u8) || sector.Slice(0x36, 3).SequenceEqual("FAT"u8) || sector.Slice(0x52, 3).SequenceEqual("FAT"u8)))
        {
            return false;
        }

        for (int i = 0; i < 4; i++)
        {
            byte status = sector[MbrEntry.TableOffset + (16 * i)];
            if (status is not (0 or 0x80))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Opens the MBR on <paramref name="disk"/> with logical sectors of <paramref name="sectorSize"/> bytes.</summary>
    /// <exception cref="InvalidDataException">No 55 AA signature, an invalid status byte, partitions outside the disk or overlapping, several extended partitions, or an EBR chain that loops, leaves the extended partition or is longer than <see cref="MaxLogicalPartitions"/>.</exception>
    public static new MbrPartitionTable Open(BlockDevice disk, int sectorSize = 512)
    {
        ArgumentNullException.ThrowIfNull(disk);
        if (sectorSize is not (512 or 4096))
        {
            throw new ArgumentOutOfRangeException(nameof(sectorSize), "The sector size must be 512 or 4096.");
        }

        byte[] mbr = new byte[512];
        if (disk.Read(0, mbr) != 512 || BinaryPrimitives.ReadUInt16LittleEndian(mbr.AsSpan(510)) != 0xAA55)
        {
            throw FormatError.Create("MBR", 0, "no 55 AA boot signature");
        }

        long diskSectors = disk.Length / sectorSize;
        var ranges = new List<PartitionLayout.Range>();
        MbrEntry? extended = null;
        for (int i = 0; i < 4; i++)
        {
            MbrEntry e = MbrEntry.Read(mbr, i);
            if (e.Status is not (0 or 0x80))
            {
                throw FormatError.Create("MBR", MbrEntry.TableOffset + (16 * i), $"partition {i + 1} has the invalid status byte 0x{e.Status:x2}");
            }

            if (e.IsEmpty)
            {
                continue;
            }

            if (e.Start == 0 || (long)e.Start + e.Count > diskSectors)
            {
                throw FormatError.Create("MBR", MbrEntry.TableOffset + (16 * i), $"partition {i + 1} [{e.Start}, +{e.Count}] lies outside the disk ({diskSectors} sectors) or over the MBR");
            }

            if (PartitionTypes.IsMbrExtended(e.Type))
            {
                if (extended is not null)
                {
                    throw FormatError.Create("MBR", MbrEntry.TableOffset + (16 * i), "more than one extended partition");
                }

                extended = e;
            }

            ranges.Add(new PartitionLayout.Range(e.Start, (long)e.Start + e.Count - 1));
        }

        if (PartitionLayout.FindOverlap(ranges) is { } overlap)
        {
            throw FormatError.Create("MBR", 0, $"partitions overlap: [{overlap.A.First}, {overlap.A.Last}] and [{overlap.B.First}, {overlap.B.Last}]");
        }

        List<MbrPartition> logicals = extended is { } ext ? ReadChain(disk, sectorSize, ext) : [];
        return new MbrPartitionTable(disk, sectorSize, mbr, logicals);
    }

    /// <summary>Writes a new, empty MBR over sector 0 (and removes GPT headers that would otherwise still be found).</summary>
    public static MbrPartitionTable Create(BlockDevice disk, MbrCreateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(disk);
        options ??= new MbrCreateOptions();
        if (!disk.CanWrite)
        {
            throw new NotSupportedException("The disk is open read-only; a partition table cannot be created.");
        }

        if (disk.Length < 2L << 20)
        {
            throw new ArgumentException($"The disk ({disk.Length} bytes) is too small for a partition table with 1 MiB alignment.", nameof(disk));
        }

        Span<byte> signature = stackalloc byte[8];
        foreach (long offset in new[] { 512L, 4096L, disk.Length - 512, disk.Length - 4096 })
        {
            if (disk.Read(offset, signature) == 8 && BinaryPrimitives.ReadUInt64LittleEndian(signature) == Gpt.GptHeader.SignatureValue)
            {
                disk.WriteZeroes(offset, 512);
            }
        }

        byte[] mbr = new byte[512];
        uint signatureValue = options.DiskSignature ?? RandomSignature();
        BinaryPrimitives.WriteUInt32LittleEndian(mbr.AsSpan(SignatureOffset), signatureValue);
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        disk.WriteZeroes(0, options.SectorSize);
        disk.Write(0, mbr);
        disk.Flush();
        return new MbrPartitionTable(disk, options.SectorSize, mbr, []);

        static uint RandomSignature()
        {
            uint value;
            do
            {
                value = (uint)RandomNumberGenerator.GetInt32(int.MaxValue) | ((uint)RandomNumberGenerator.GetInt32(2) << 31);
            }
            while (value == 0);
            return value;
        }
    }

    /// <inheritdoc />
    public override Partition Add(PartitionAddOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ThrowIfReadOnly();
        if (!PartitionTypes.TryParseMbr(options.Type, out byte type))
        {
            throw new ArgumentException($"'{options.Type}' is not an MBR partition type (a hex byte such as 83, or one of: {string.Join(", ", PartitionTypes.Names)}).", nameof(options));
        }

        if (!string.IsNullOrEmpty(options.Name) || options.UniqueGuid is not null || options.Attributes != 0)
        {
            throw new ArgumentException("MBR partitions have no name, unique GUID or attributes.", nameof(options));
        }

        long? sectors = options.Size is { } size ? ToSectors(size, nameof(options)) : null;
        if (sectors > uint.MaxValue)
        {
            throw new ArgumentException("An MBR partition holds at most 2^32 - 1 sectors.", nameof(options));
        }

        byte status = options.Bootable ? (byte)0x80 : (byte)0;
        if (options.Logical)
        {
            MbrPartition ext = Extended() ?? throw new InvalidOperationException("A logical partition needs an extended partition; add one first (type 'extended').");
            if (PartitionTypes.IsMbrExtended(type))
            {
                throw new ArgumentException("A logical partition cannot be extended.", nameof(options));
            }

            if (_logicals.Count >= MaxLogicalPartitions)
            {
                throw new InvalidOperationException($"At most {MaxLogicalPartitions} logical partitions are supported.");
            }

            var used = new List<PartitionLayout.Range>();
            foreach (MbrPartition l in _logicals)
            {
                used.Add(new PartitionLayout.Range(l.EbrSector, l.LastSector));
            }

            // sfdisk leaves a whole grain between each EBR and its logical partition.
            (long ebr, long first, long last) = PartitionLayout.Place(used, ext.FirstSector, ext.LastSector, GrainSectors, sectors, options.FirstSector, GrainSectors);
            if (_logicals.Count == 0 && ebr != ext.FirstSector)
            {
                ebr = ext.FirstSector; // the chain starts in the extended partition's first sector
            }

            _logicals.Add(new MbrPartition(5 + _logicals.Count, first, last - first + 1, SectorSize, type, options.Bootable, isLogical: true, ebr));
            WriteChain();
            return GetPartition(4 + _logicals.Count);
        }

        int slot = Array.FindIndex(_primary, e => e.IsEmpty);
        if (slot < 0)
        {
            throw new InvalidOperationException("All four primary entries are in use (add logical partitions inside an extended partition instead).");
        }

        if (PartitionTypes.IsMbrExtended(type) && Extended() is not null)
        {
            throw new InvalidOperationException("The table already has an extended partition.");
        }

        (_, long start, long end) = PartitionLayout.Place(PrimaryRanges(-1), FirstUsableSector, LastUsableSector, GrainSectors, sectors, options.FirstSector);
        _primary[slot] = new MbrEntry(status, type, (uint)start, (uint)(end - start + 1));
        _primary[slot].WriteTo(_mbr, slot, 0);
        if (PartitionTypes.IsMbrExtended(type))
        {
            _logicals = [];
            Rebuild();
            WriteChain();
        }

        WriteMbr();
        return GetPartition(slot + 1);
    }

    /// <inheritdoc />
    public override void Delete(int number)
    {
        ThrowIfReadOnly();
        var p = (MbrPartition)GetPartition(number);
        if (p.IsLogical)
        {
            int index = number - 5;
            _logicals.RemoveAt(index);
            if (index == 0 && _logicals.Count > 0)
            {
                // The chain starts in the extended partition's first sector: the next logical partition's EBR moves there.
                MbrPartition next = _logicals[0];
                _logicals[0] = new MbrPartition(5, next.FirstSector, next.SectorCount, SectorSize, next.Type, next.Bootable, isLogical: true, Extended()!.FirstSector);
            }

            WriteChain();
            return;
        }

        if (p.IsExtended && _logicals.Count > 0)
        {
            throw new InvalidOperationException($"Partition {number} is the extended partition and holds {_logicals.Count} logical partitions; delete them first.");
        }

        _primary[number - 1] = default;
        _primary[number - 1].WriteTo(_mbr, number - 1, 0);
        WriteMbr();
    }

    /// <inheritdoc />
    public override Partition Resize(int number, long? size = null, bool allowShrink = false)
    {
        ThrowIfReadOnly();
        var p = (MbrPartition)GetPartition(number);
        long limit;
        if (p.IsLogical)
        {
            var used = new List<PartitionLayout.Range>();
            foreach (MbrPartition l in _logicals)
            {
                if (l.Number != number)
                {
                    used.Add(new PartitionLayout.Range(l.EbrSector, l.LastSector));
                }
            }

            limit = PartitionLayout.GrowLimit(used, p.FirstSector, Extended()!.LastSector);
        }
        else
        {
            limit = Math.Min(PartitionLayout.GrowLimit(PrimaryRanges(number), p.FirstSector, LastUsableSector), p.FirstSector + uint.MaxValue - 1);
        }

        long last = size is { } s ? p.FirstSector + ToSectors(s, nameof(size)) - 1 : limit;
        if (last > limit)
        {
            throw new InvalidOperationException($"Partition {number} can grow to at most {(limit - p.FirstSector + 1) * SectorSize} bytes (sector {limit}).");
        }

        if (last < p.LastSector && !allowShrink)
        {
            throw new InvalidOperationException($"The new size of partition {number} is smaller than its current size ({p.Length} bytes); shrinking cuts its content and must be asked for.");
        }

        if (p.IsExtended && _logicals.Count > 0 && last < MaxLogicalEnd())
        {
            throw new InvalidOperationException($"The extended partition cannot end before its last logical partition (sector {MaxLogicalEnd()}).");
        }

        if (p.IsLogical)
        {
            _logicals[number - 5] = new MbrPartition(number, p.FirstSector, last - p.FirstSector + 1, SectorSize, p.Type, p.Bootable, isLogical: true, p.EbrSector);
            WriteChain();
        }
        else
        {
            MbrEntry e = _primary[number - 1];
            _primary[number - 1] = e with { Count = (uint)(last - p.FirstSector + 1) };
            _primary[number - 1].WriteTo(_mbr, number - 1, 0);
            WriteMbr();
        }

        return GetPartition(number);
    }

    private long MaxLogicalEnd()
    {
        long end = 0;
        foreach (MbrPartition l in _logicals)
        {
            end = Math.Max(end, l.LastSector);
        }

        return end;
    }

    private MbrPartition? Extended()
    {
        foreach (Partition p in _partitions)
        {
            if (p is MbrPartition { IsExtended: true } m)
            {
                return m;
            }
        }

        return null;
    }

    private List<PartitionLayout.Range> PrimaryRanges(int exceptNumber)
    {
        var used = new List<PartitionLayout.Range>();
        for (int i = 0; i < 4; i++)
        {
            if (!_primary[i].IsEmpty && i + 1 != exceptNumber)
            {
                used.Add(new PartitionLayout.Range(_primary[i].Start, (long)_primary[i].Start + _primary[i].Count - 1));
            }
        }

        return used;
    }

    private void Rebuild()
    {
        var list = new List<Partition>();
        for (int i = 0; i < 4; i++)
        {
            MbrEntry e = _primary[i];
            if (!e.IsEmpty)
            {
                list.Add(new MbrPartition(i + 1, e.Start, e.Count, SectorSize, e.Type, e.Status == 0x80, isLogical: false, -1));
            }
        }

        for (int i = 0; i < _logicals.Count; i++)
        {
            MbrPartition l = _logicals[i];
            if (l.Number != 5 + i)
            {
                l = _logicals[i] = new MbrPartition(5 + i, l.FirstSector, l.SectorCount, SectorSize, l.Type, l.Bootable, isLogical: true, l.EbrSector);
            }

            list.Add(l);
        }

        _partitions = list;
    }

    private void WriteMbr()
    {
        Rebuild();
        Disk.Write(0, _mbr);
        Disk.Flush();
    }

    /// <summary>Rewrites every EBR of the chain (and sector 0's table), in chain order.</summary>
    private void WriteChain()
    {
        Rebuild();
        MbrPartition ext = Extended()!;
        byte[] ebr = new byte[512];
        if (_logicals.Count == 0)
        {
            ebr[510] = 0x55;
            ebr[511] = 0xAA;
            Disk.Write(ext.Offset, ebr);
        }

        for (int i = 0; i < _logicals.Count; i++)
        {
            MbrPartition l = _logicals[i];
            Disk.ReadExactly(l.EbrSector * SectorSize, ebr);
            ebr.AsSpan(MbrEntry.TableOffset, 64).Clear();
            new MbrEntry(l.Bootable ? (byte)0x80 : (byte)0, l.Type, (uint)(l.FirstSector - l.EbrSector), (uint)l.SectorCount).WriteTo(ebr, 0, l.EbrSector);
            if (i + 1 < _logicals.Count)
            {
                MbrPartition next = _logicals[i + 1];
                new MbrEntry(0, PartitionTypes.MbrExtended, (uint)(next.EbrSector - ext.FirstSector), (uint)(next.LastSector - next.EbrSector + 1)).WriteTo(ebr, 1, ext.FirstSector);
            }

            ebr[510] = 0x55;
            ebr[511] = 0xAA;
            Disk.Write(l.EbrSector * SectorSize, ebr);
        }

        WriteMbr();
    }

    private static List<MbrPartition> ReadChain(BlockDevice disk, int sectorSize, MbrEntry ext)
    {
        long extFirst = ext.Start;
        long extLast = (long)ext.Start + ext.Count - 1;
        var logicals = new List<MbrPartition>();
        var ranges = new List<PartitionLayout.Range>();
        var visited = new HashSet<long>();
        byte[] ebr = new byte[512];
        long current = extFirst;
        while (true)
        {
            if (!visited.Add(current))
            {
                throw FormatError.Create("MBR EBR", current * sectorSize, "the EBR chain loops");
            }

            if (visited.Count > MaxLogicalPartitions)
            {
                throw FormatError.Create("MBR EBR", current * sectorSize, $"the EBR chain is longer than {MaxLogicalPartitions} entries");
            }

            disk.ReadExactly(current * sectorSize, ebr);
            if (BinaryPrimitives.ReadUInt16LittleEndian(ebr.AsSpan(510)) != 0xAA55)
            {
                if (current == extFirst)
                {
                    break; // an extended partition without logical partitions
                }

                throw FormatError.Create("MBR EBR", current * sectorSize, "no 55 AA signature");
            }

            MbrEntry logical = MbrEntry.Read(ebr, 0);
            MbrEntry link = MbrEntry.Read(ebr, 1);
            if (!logical.IsEmpty)
            {
                long first = current + logical.Start;
                long last = first + logical.Count - 1;
                if (logical.Start == 0 || last > extLast || logical.Status is not (0 or 0x80))
                {
                    throw FormatError.Create("MBR EBR", current * sectorSize, $"logical partition {5 + logicals.Count} [{first}, {last}] lies outside the extended partition [{extFirst}, {extLast}] or has an invalid status");
                }

                logicals.Add(new MbrPartition(5 + logicals.Count, first, logical.Count, sectorSize, logical.Type, logical.Status == 0x80, isLogical: true, current));
                ranges.Add(new PartitionLayout.Range(current, current));
                ranges.Add(new PartitionLayout.Range(first, last));
            }
            else
            {
                ranges.Add(new PartitionLayout.Range(current, current));
            }

            if (link.IsEmpty || !PartitionTypes.IsMbrExtended(link.Type))
            {
                break;
            }

            long next = extFirst + link.Start;
            if (link.Start == 0 || next > extLast)
            {
                throw FormatError.Create("MBR EBR", current * sectorSize, $"the link to the next EBR (sector {next}) leaves the extended partition [{extFirst}, {extLast}]");
            }

            current = next;
        }

        if (PartitionLayout.FindOverlap(ranges) is { } overlap)
        {
            throw FormatError.Create("MBR EBR", extFirst * sectorSize, $"logical partitions or EBRs overlap: [{overlap.A.First}, {overlap.A.Last}] and [{overlap.B.First}, {overlap.B.Last}]");
        }

        return logicals;
    }
}
