using System.Buffers.Binary;
using System.Diagnostics;
using DiskImage.Compression;
using DiskImage.IO;
using DiskImage.Partitions.Gpt;
using DiskImage.Partitions.Mbr;
using DiskImage.Partitions;

namespace DiskImage.Tests.Partitions;

/// <summary>
/// Malformed tables: overlapping or out-of-disk partitions, GPT counts and sizes that overflow, header
/// sizes out of range, CRC mismatches (primary bad → backup, both bad → refused), EBR loops and over-long
/// chains. Each is refused with <see cref="InvalidDataException"/> in bounded time, or read from the
/// good copy; seeded mutations of valid tables never end in any other exception.
/// </summary>
public sealed class PartitionHostileInputTests
{
    private const int DiskSize = 8 << 20;

    [Fact]
    public void GptPrimaryHeaderCrcBad_BackupUsed_WriteRestoresPrimary()
    {
        MemoryBlockDevice disk = NewGpt(out Guid guid);
        disk.Data[512 + 16] ^= 0xFF; // header CRC
        var table = Assert.IsType<GptPartitionTable>(PartitionTable.Open(disk));
        Assert.True(table.OpenedFromBackup);
        Assert.Equal(guid, table.DiskGuid);
        Assert.Equal(3, table.Partitions.Count);

        table.RelocateBackup();
        var again = (GptPartitionTable)PartitionTable.Open(disk);
        Assert.False(again.OpenedFromBackup);
        Assert.Equal(3, again.Partitions.Count);
    }

    [Fact]
    public void GptPrimaryArrayCrcBad_BackupUsed()
    {
        MemoryBlockDevice disk = NewGpt(out _);
        disk.Data[1024 + 200] ^= 0x01; // inside entry 2 of the primary array
        var table = (GptPartitionTable)PartitionTable.Open(disk);
        Assert.True(table.OpenedFromBackup);
        Assert.Equal(3, table.Partitions.Count);
    }

    [Fact]
    public void GptBothHeadersBad_InvalidDataException()
    {
        MemoryBlockDevice disk = NewGpt(out _);
        disk.Data[512 + 16] ^= 0xFF;
        disk.Data[DiskSize - 512 + 16] ^= 0xFF;
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => PartitionTable.Open(disk));
        Assert.Contains("backup", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(80, 0xFFFFFFFFu)] // entry count: 2^32 - 1 entries overflow any array
    [InlineData(80, 0u)]
    [InlineData(80, 200_000u)] // 25 MB array: above the memory bound
    [InlineData(84, 0x80000000u)] // entry size overflowing count × size
    [InlineData(84, 0u)]
    [InlineData(84, 100u)] // not 128 × 2^n
    [InlineData(84, 8192u)] // larger than a sector
    [InlineData(12, 91u)] // header size below 92
    [InlineData(12, 513u)] // header size above the sector
    [InlineData(48, 0xFFFFFFFFFFFFFFFFu)] // last usable LBA past the disk (64-bit field: low half)
    [InlineData(72, 0x7FFFFFFFu)] // entry array LBA past the disk
    [InlineData(40, 1u)] // first usable LBA over the header
    public void GptHeaderFieldHostile_BothCopies_InvalidDataException(int offset, ulong value)
    {
        MemoryBlockDevice disk = NewGpt(out _);
        foreach (long lba in new long[] { 1, (DiskSize / 512) - 1 })
        {
            Span<byte> header = disk.Data.Slice((int)(lba * 512), 512);
            if (offset is 40 or 48 or 72)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(header[offset..], offset == 48 ? value : value);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(header[offset..], (uint)value);
            }

            FixHeaderCrc(header);
        }

        var watch = Stopwatch.StartNew();
        Assert.Throws<InvalidDataException>(() => PartitionTable.Open(disk));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Theory]
    [InlineData("overlap")]
    [InlineData("outside")]
    [InlineData("reversed")]
    public void GptEntriesHostile_BothCopies_InvalidDataException(string kind)
    {
        MemoryBlockDevice disk = NewGpt(out _);
        var table = (GptPartitionTable)PartitionTable.Open(disk);
        long backupArray = table.LastUsableSector + 1;
        foreach (long arrayLba in new long[] { 2, backupArray })
        {
            Span<byte> entry2 = disk.Data.Slice((int)(arrayLba * 512) + 128, 128);
            switch (kind)
            {
                case "overlap": BinaryPrimitives.WriteUInt64LittleEndian(entry2[32..], 2048 + 100); break; // starts inside partition 1
                case "outside": BinaryPrimitives.WriteUInt64LittleEndian(entry2[40..], (ulong)(DiskSize / 512) + 10); break;
                case "reversed": BinaryPrimitives.WriteUInt64LittleEndian(entry2[40..], 10); break;
            }
        }

        FixArrayCrcs(disk, backupArray);
        Assert.Throws<InvalidDataException>(() => PartitionTable.Open(disk));
    }

    [Fact]
    public void ProtectiveMbrWithoutAnyGptHeader_InvalidDataException()
    {
        MemoryBlockDevice disk = NewGpt(out _);
        disk.Data.Slice(512, 512).Clear();
        disk.Data.Slice(DiskSize - 512, 512).Clear();
        Assert.Throws<InvalidDataException>(() => PartitionTable.Open(disk));
    }

    [Theory]
    [InlineData("overlap")]
    [InlineData("outside")]
    [InlineData("status")]
    [InlineData("two-extended")]
    public void MbrPrimaryHostile_InvalidDataException(string kind)
    {
        var disk = new MemoryBlockDevice(DiskSize);
        MbrPartitionTable t = MbrPartitionTable.Create(disk);
        t.Add(new PartitionAddOptions { Size = 2 << 20 });
        t.Add(new PartitionAddOptions { Size = 2 << 20 });
        Span<byte> e2 = disk.Data.Slice(0x1BE + 16, 16);
        switch (kind)
        {
            case "overlap": BinaryPrimitives.WriteUInt32LittleEndian(e2[8..], 3000); break;
            case "outside": BinaryPrimitives.WriteUInt32LittleEndian(e2[12..], 0xFFFFFF00); break;
            case "status": e2[0] = 0x81; break;
            case "two-extended":
                disk.Data[0x1BE + 4] = 0x05;
                e2[4] = 0x0F;
                break;
        }

        // An invalid status is not taken for an MBR by detection, and refused when an MBR is asked for.
        Assert.Throws<InvalidDataException>(() => kind == "status" ? MbrPartitionTable.Open(disk) : PartitionTable.Open(disk));
    }

    [Fact]
    public void EbrChainLoops_InvalidDataException()
    {
        MemoryBlockDevice disk = NewMbrWithLogicals(out long extStart, out long secondEbr);
        // The second EBR links back to the second EBR.
        BinaryPrimitives.WriteUInt32LittleEndian(disk.Data[(int)((secondEbr * 512) + 0x1BE + 16 + 8)..], (uint)(secondEbr - extStart));
        disk.Data[(int)((secondEbr * 512) + 0x1BE + 16 + 4)] = 0x05;
        BinaryPrimitives.WriteUInt32LittleEndian(disk.Data[(int)((secondEbr * 512) + 0x1BE + 16 + 12)..], 10);
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => PartitionTable.Open(disk));
        Assert.Contains("loop", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EbrChainLongerThanLimit_InvalidDataException_BoundedTime()
    {
        var disk = new MemoryBlockDevice(DiskSize);
        MbrPartitionTable t = MbrPartitionTable.Create(disk);
        Partition ext = t.Add(new PartitionAddOptions { Type = "extended", FirstSector = 2048 });
        // 400 EBRs, one per 8 sectors, each with a one-sector logical partition and a link to the next.
        for (int i = 0; i < 400; i++)
        {
            long ebr = ext.FirstSector + (i * 8);
            Span<byte> s = disk.Data.Slice((int)(ebr * 512), 512);
            s[0x1BE + 4] = 0x83;
            BinaryPrimitives.WriteUInt32LittleEndian(s[(0x1BE + 8)..], 1);
            BinaryPrimitives.WriteUInt32LittleEndian(s[(0x1BE + 12)..], 1);
            s[0x1CE + 4] = 0x05;
            BinaryPrimitives.WriteUInt32LittleEndian(s[(0x1CE + 8)..], (uint)((i + 1) * 8));
            BinaryPrimitives.WriteUInt32LittleEndian(s[(0x1CE + 12)..], 2);
            s[510] = 0x55;
            s[511] = 0xAA;
        }

        var watch = Stopwatch.StartNew();
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => PartitionTable.Open(disk));
        Assert.Contains("longer than", e.Message, StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void EbrLinkOutsideExtended_InvalidDataException()
    {
        MemoryBlockDevice disk = NewMbrWithLogicals(out long extStart, out long secondEbr);
        BinaryPrimitives.WriteUInt32LittleEndian(disk.Data[(int)((extStart * 512) + 0x1BE + 16 + 8)..], 0x7FFFFFF0);
        Assert.Throws<InvalidDataException>(() => PartitionTable.Open(disk));
    }

    [Fact]
    public void FatBootSectorAndZeros_NotPartitionTables()
    {
        var disk = new MemoryBlockDevice(DiskSize);
        Assert.Null(PartitionTable.TryOpen(disk));
        disk.Data[0] = 0xEB;
        disk.Data[1] = 0x3C;
        disk.Data[2] = 0x90;
        "FAT16   "u8.CopyTo(disk.Data[0x36..]);
        disk.Data[510] = 0x55;
        disk.Data[511] = 0xAA;
        Assert.Null(PartitionTable.TryOpen(disk));
    }

    public static TheoryData<string, int> MutationRuns()
    {
        var data = new TheoryData<string, int>();
        for (int seed = 1; seed <= 4; seed++)
        {
            data.Add("gpt", seed);
            data.Add("gpt-crc-fixed", seed);
            data.Add("mbr", seed);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(MutationRuns))]
    public void SeededMutations_OpenOrInvalidData_NeverAnotherException(string kind, int seed)
    {
        var random = new Random(seed);
        long extStart = 0, secondEbr = 0;
        byte[] pristine = kind == "mbr" ? NewMbrWithLogicals(out extStart, out secondEbr).Data.ToArray() : NewGpt(out _).Data.ToArray();
        long[] hot = kind == "mbr" ? [0, extStart, secondEbr] : [0, 1, 2, 3, (DiskSize / 512) - 33, (DiskSize / 512) - 1];
        var watch = Stopwatch.StartNew();
        byte[] data = (byte[])pristine.Clone();
        var disk = new MemoryBlockDevice(data, writable: false);
        for (int round = 0; round < 300; round++)
        {
            // Only the table sectors change: restore them rather than copy the whole disk each round.
            foreach (long sector in hot)
            {
                pristine.AsSpan((int)(sector * 512), 512).CopyTo(data.AsSpan((int)(sector * 512), 512));
            }

            int flips = random.Next(1, 6);
            for (int f = 0; f < flips; f++)
            {
                long sector = hot[random.Next(hot.Length)];
                int at = (int)(sector * 512) + (sector is 0 ? random.Next(0x1B8, 512) : random.Next(0, 512));
                if (at >= 0 && at < data.Length)
                {
                    data[at] = random.Next(3) == 0 ? (byte)0xFF : (byte)random.Next(256);
                }
            }

            if (kind == "gpt-crc-fixed")
            {
                FixHeaderCrc(data.AsSpan(512, 512));
                FixHeaderCrc(data.AsSpan(DiskSize - 512, 512));
            }

            try
            {
                PartitionTable? table = PartitionTable.TryOpen(disk);
                if (table is not null)
                {
                    foreach (Partition p in table.Partitions)
                    {
                        Assert.True(p.FirstSector > 0 && p.SectorCount > 0 && p.Offset + p.Length <= DiskSize, $"seed {seed} round {round}: {p} leaves the disk");
                    }
                }
            }
            catch (InvalidDataException)
            {
            }
            catch (Exception e)
            {
                Assert.Fail($"{kind} seed {seed} round {round}: {e}");
            }
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"{kind} seed {seed}: 300 rounds took {watch.Elapsed}");
    }

    private static MemoryBlockDevice NewGpt(out Guid guid)
    {
        var disk = new MemoryBlockDevice(DiskSize);
        guid = Guid.NewGuid();
        GptPartitionTable t = GptPartitionTable.Create(disk, new GptCreateOptions { DiskGuid = guid });
        t.Add(new PartitionAddOptions { Size = 1 << 20, Type = "bios" });
        t.Add(new PartitionAddOptions { Size = 2 << 20, Type = "esp", Name = "ESP" });
        t.Add(new PartitionAddOptions { Type = "lvm" });
        return disk;
    }

    private static MemoryBlockDevice NewMbrWithLogicals(out long extStart, out long secondEbr)
    {
        var disk = new MemoryBlockDevice(DiskSize);
        MbrPartitionTable t = MbrPartitionTable.Create(disk);
        t.Add(new PartitionAddOptions { Size = 1 << 20 });
        extStart = t.Add(new PartitionAddOptions { Type = "extended" }).FirstSector;
        t.Add(new PartitionAddOptions { Logical = true, Size = 1 << 20 });
        t.Add(new PartitionAddOptions { Logical = true, Size = 1 << 20 });
        secondEbr = t.GetPartition(6).FirstSector - 2048;
        Assert.Equal([1, 2, 5, 6], t.Partitions.Select(p => p.Number));
        return disk;
    }

    private static void FixHeaderCrc(Span<byte> header)
    {
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(header[12..]);
        if (size < 92 || size > 512)
        {
            size = 92;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], Crc32.Append(0, header[..(int)size]));
    }

    private static void FixArrayCrcs(MemoryBlockDevice disk, long backupArrayLba)
    {
        foreach ((long header, long array) in new[] { (1L, 2L), ((DiskSize / 512) - 1, backupArrayLba) })
        {
            Span<byte> h = disk.Data.Slice((int)(header * 512), 512);
            BinaryPrimitives.WriteUInt32LittleEndian(h[88..], Crc32.Append(0, disk.Data.Slice((int)(array * 512), 128 * 128)));
            FixHeaderCrc(h);
        }
    }
}
