using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Fat;

/// <summary>
/// Writes an empty FAT file system. The parameters follow what <c>mkfs.fat</c> 4.2 chooses for an image file
/// of the same size: FAT32 from 512 MiB (cluster size by Microsoft's table), else the smallest cluster size
/// from 4 sectors up that gives a valid FAT12 or FAT16 (FAT16 when it has more clusters), 512 root entries,
/// 1 (FAT12/16) or 32 (FAT32) reserved sectors, and the reserved area and root directory rounded up to whole
/// clusters (above 8,192 sectors) so the data area is aligned.
/// </summary>
internal static class FatFormatter
{
    private const int Fat12Threshold = 4085;
    private const int MinFat32Clusters = 65529;
    private const int FatCount = 2;

    public static void Format(BlockDevice device, FatFormatOptions options)
    {
        if (!device.CanWrite)
        {
            throw new NotSupportedException("The device is read-only.");
        }

        int bps = options.BytesPerSector;
        if (bps is not (512 or 1024 or 2048 or 4096))
        {
            throw new ArgumentException($"Bytes per sector {bps} is not 512, 1024, 2048 or 4096.", nameof(options));
        }

        if (options.SectorsPerCluster is { } fixedSpc && (fixedSpc is < 1 or > 128 || (fixedSpc & (fixedSpc - 1)) != 0))
        {
            throw new ArgumentException($"Sectors per cluster {fixedSpc} is not a power of two from 1 to 128.", nameof(options));
        }

        byte[] label = FatNames.EncodeLabel(options.Label);
        long sectorsLong = device.Length / bps;
        if (sectorsLong < 16)
        {
            throw new ArgumentException($"The device ({device.Length} bytes) is too small for a FAT file system.", nameof(device));
        }

        uint sectors = (uint)Math.Min(sectorsLong, uint.MaxValue);
        FatType? type = options.Type;
        if (type is null && device.Length >= 512L * 1024 * 1024)
        {
            type = FatType.Fat32;
        }

        (int spc, int rootEntries, byte media, int secPerTrack, int heads) = Defaults(device.Length, type);
        if (options.RootEntries is { } re)
        {
            if (re is < 16 or > 32768)
            {
                throw new ArgumentException($"Root directory entries {re} is not 16 to 32768.", nameof(options));
            }

            rootEntries = re;
        }

        int reserved = type == FatType.Fat32 ? 32 : 1;
        if (type == FatType.Fat32)
        {
            rootEntries = 0;
        }

        bool align = sectors > 8192;
        int maxSpc = 128;
        if (options.SectorsPerCluster is { } s)
        {
            spc = maxSpc = s;
        }

        uint rootSectors = (uint)(((rootEntries * 32) + bps - 1) / bps);
        Layout chosen = default;
        bool found = false;
        for (; spc <= maxSpc; spc <<= 1)
        {
            Layout l = Try(sectors, bps, spc, reserved, rootSectors, align, type);
            if (l.Type is { } t)
            {
                chosen = l;
                type = t;
                found = true;
                break;
            }
        }

        if (!found)
        {
            throw new ArgumentException($"No valid {(type is { } ft ? "FAT" + ((int)ft).ToString(System.Globalization.CultureInfo.InvariantCulture) : "FAT")} layout fits {device.Length} bytes; choose another size or type.", nameof(device));
        }

        reserved = Align(reserved, spc, align);
        if (align && type != FatType.Fat32)
        {
            rootEntries = (int)(Align(rootSectors, spc, true) * (bps / 32));
            rootSectors = (uint)(rootEntries * 32 / bps);
        }

        uint timeSeconds = (uint)Math.Clamp((options.Timestamp ?? FatTime.ToUnix(0x21, 0, 0)).Seconds, 0, uint.MaxValue);
        uint volumeId = options.VolumeId ?? (uint)((timeSeconds * 2654435761u) ^ (sectors * 40503u) ^ 0x5EED1234u);
        WriteAll(device, new Geometry(bps, spc, reserved, rootEntries, rootSectors, sectors, chosen.FatLength, chosen.Clusters, type!.Value, media, secPerTrack, heads), label, volumeId, options.Timestamp);
    }

    private static (int Spc, int RootEntries, byte Media, int SecPerTrack, int Heads) Defaults(long size, FatType? type)
    {
        // mkfs.fat treats an image file of a floppy size as that floppy.
        (int spc, int root, byte media, int spt, int heads) = (size / 1024) switch
        {
            360 => (2, 112, (byte)0xFD, 9, 2),
            720 => (2, 112, (byte)0xF9, 9, 2),
            1200 => (1, 224, (byte)0xF9, 15, 2),
            1440 => (1, 224, (byte)0xF0, 18, 2),
            2880 => (2, 224, (byte)0xF0, 36, 2),
            _ => (4, 512, (byte)0xF8, size < 512L * 1024 * 1024 ? 32 : 63, size < 512L * 1024 * 1024 ? 64 : 255),
        };
        if (type == FatType.Fat32)
        {
            long mb = size / (1024 * 1024);
            spc = mb > 32 * 1024 ? 64 : mb > 16 * 1024 ? 32 : mb > 8 * 1024 ? 16 : mb > 260 ? 8 : 1;
        }

        return (spc, root, media, spt, heads);
    }

    private static Layout Try(uint sectors, int bps, int spc, int reserved, uint rootSectors, bool align, FatType? type)
    {
        long data32 = sectors - Align(reserved, spc, align);
        long data1216 = data32 - Align(rootSectors, spc, align);

        // FAT12: 1.5 bytes per entry.
        long c12 = 2 * ((data1216 * bps) + (FatCount * 3)) / ((2L * spc * bps) + (FatCount * 3));
        long len12 = Align((((c12 + 2) * 3) + 1) / 2 + bps - 1, bps, spc, align);
        c12 = (data1216 - (FatCount * len12)) / spc;
        long max12 = Math.Min(len12 * 2 * bps / 3, FatBootSector.MaxFat12Clusters);
        if (c12 > max12 - 2 || c12 <= 0)
        {
            c12 = 0;
        }

        long c16 = ((data1216 * bps) + (FatCount * 4)) / (((long)spc * bps) + (FatCount * 2));
        long len16 = Align(((c16 + 2) * 2) + bps - 1, bps, spc, align);
        c16 = (data1216 - (FatCount * len16)) / spc;
        long max16 = Math.Min(len16 * bps / 2, FatBootSector.MaxFat16Clusters);
        if (c16 > max16 - 2 || c16 < Fat12Threshold)
        {
            c16 = 0;
        }

        long c32 = ((data32 * bps) + (FatCount * 8)) / (((long)spc * bps) + (FatCount * 4));
        long len32 = Align(((c32 + 2) * 4) + bps - 1, bps, spc, align);
        c32 = (data32 - (FatCount * len32)) / spc;
        long max32 = Math.Min(len32 * bps / 4, FatBootSector.MaxFat32Clusters);
        if (c32 > max32 || c32 < (type == FatType.Fat32 ? FatBootSector.MaxFat16Clusters + 1 : MinFat32Clusters))
        {
            c32 = 0;
        }

        if (type == FatType.Fat32)
        {
            return c32 > 0 ? new Layout(FatType.Fat32, len32, c32) : default;
        }

        if (type == FatType.Fat12)
        {
            return c12 > 0 ? new Layout(FatType.Fat12, len12, c12) : default;
        }

        if (type == FatType.Fat16)
        {
            return c16 > 0 ? new Layout(FatType.Fat16, len16, c16) : default;
        }

        if (c12 == 0 && c16 == 0)
        {
            return default;
        }

        return c16 > c12 ? new Layout(FatType.Fat16, len16, c16) : new Layout(FatType.Fat12, len12, c12);
    }

    /// <summary>Sectors for <paramref name="bytesPlusRound"/> (already rounded up by bps − 1), aligned to the cluster size.</summary>
    private static long Align(long bytesPlusRound, int bps, int spc, bool align) => Align(bytesPlusRound / bps, spc, align);

    private static long Align(long sectors, int spc, bool align) => align ? (sectors + spc - 1) & ~(long)(spc - 1) : sectors;

    private static int Align(int sectors, int spc, bool align) => (int)Align((long)sectors, spc, align);

    private static uint Align(uint sectors, int spc, bool align) => (uint)Align((long)sectors, spc, align);

    private static void WriteAll(BlockDevice device, Geometry g, byte[] label, uint volumeId, UnixTime? timestamp)
    {
        int bps = g.Bps;
        long fatBytes = g.FatLength * bps;
        long dataOffset = ((long)g.Reserved + (FatCount * g.FatLength) + g.RootSectors) * bps;
        device.WriteZeroes(0, dataOffset);

        byte[] boot = new byte[bps];
        bool fat32 = g.Type == FatType.Fat32;
        boot[0] = 0xEB;
        boot[1] = fat32 ? (byte)0x58 : (byte)0x3C;
        boot[2] = 0x90;
        "mkfs.fat"u8.CopyTo(boot.AsSpan(3));
        BinaryPrimitives.WriteUInt16LittleEndian(boot.AsSpan(0x0B), (ushort)bps);
        boot[0x0D] = (byte)g.Spc;
        BinaryPrimitives.WriteUInt16LittleEndian(boot.AsSpan(0x0E), (ushort)g.Reserved);
        boot[0x10] = FatCount;
        BinaryPrimitives.WriteUInt16LittleEndian(boot.AsSpan(0x11), (ushort)g.RootEntries);
        if (g.Sectors < 65536 && !fat32)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(boot.AsSpan(0x13), (ushort)g.Sectors);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(boot.AsSpan(0x20), g.Sectors);
        }

        boot[0x15] = g.Media;
        BinaryPrimitives.WriteUInt16LittleEndian(boot.AsSpan(0x18), (ushort)g.SecPerTrack);
        BinaryPrimitives.WriteUInt16LittleEndian(boot.AsSpan(0x1A), (ushort)g.Heads);
        int ext = 0x24;
        if (fat32)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(boot.AsSpan(0x24), (uint)g.FatLength);
            BinaryPrimitives.WriteUInt32LittleEndian(boot.AsSpan(0x2C), 2);
            BinaryPrimitives.WriteUInt16LittleEndian(boot.AsSpan(0x30), 1);
            BinaryPrimitives.WriteUInt16LittleEndian(boot.AsSpan(0x32), 6);
            ext = 0x40;
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(boot.AsSpan(0x16), (ushort)g.FatLength);
        }

        boot[ext] = g.Media == 0xF8 ? (byte)0x80 : (byte)0;
        boot[ext + 2] = 0x29;
        BinaryPrimitives.WriteUInt32LittleEndian(boot.AsSpan(ext + 3), volumeId);
        label.CopyTo(boot, ext + 7);
        (g.Type switch { FatType.Fat12 => "FAT12   "u8, FatType.Fat16 => "FAT16   "u8, _ => "FAT32   "u8 }).CopyTo(boot.AsSpan(ext + 18));

        // Boot code: "hlt; jmp $-1" where the jump lands, so booting this volume stops instead of running zeros.
        int code = ext + 26;
        boot[code] = 0xF4;
        boot[code + 1] = 0xEB;
        boot[code + 2] = 0xFD;
        boot[510] = 0x55;
        boot[511] = 0xAA;
        device.Write(0, boot);

        if (fat32)
        {
            byte[] info = new byte[bps];
            BinaryPrimitives.WriteUInt32LittleEndian(info, 0x41615252);
            BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(484), 0x61417272);
            BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(488), (uint)(g.Clusters - 1));
            BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(492), 2);
            BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(508), 0xAA550000);
            device.Write(bps, info);
            device.Write(6L * bps, boot);
            device.Write(7L * bps, info);
        }

        byte[] fat0 = new byte[12];
        switch (g.Type)
        {
            case FatType.Fat12:
                fat0[0] = g.Media;
                fat0[1] = fat0[2] = 0xFF;
                break;
            case FatType.Fat16:
                BinaryPrimitives.WriteUInt16LittleEndian(fat0, (ushort)(0xFF00 | g.Media));
                BinaryPrimitives.WriteUInt16LittleEndian(fat0.AsSpan(2), 0xFFFF);
                break;
            default:
                BinaryPrimitives.WriteUInt32LittleEndian(fat0, 0x0FFFFF00u | g.Media);
                BinaryPrimitives.WriteUInt32LittleEndian(fat0.AsSpan(4), 0x0FFFFFFF);
                BinaryPrimitives.WriteUInt32LittleEndian(fat0.AsSpan(8), 0x0FFFFFFF); // the root directory's cluster 2
                break;
        }

        for (int f = 0; f < FatCount; f++)
        {
            device.Write(((long)g.Reserved * bps) + (f * fatBytes), fat0.AsSpan(0, fat32 ? 12 : g.Type == FatType.Fat16 ? 4 : 3));
        }

        long rootOffset = fat32 ? dataOffset : ((long)g.Reserved + (FatCount * g.FatLength)) * bps;
        if (fat32)
        {
            device.WriteZeroes(dataOffset, (long)g.Spc * bps);
        }

        if (label.AsSpan().SequenceEqual("NO NAME    "u8))
        {
            return;
        }

        byte[] entry = new byte[32];
        label.CopyTo(entry, 0);
        entry[11] = (byte)FatAttributes.VolumeId;
        (ushort date, ushort time, _) = FatTime.FromUnix(timestamp ?? FatTime.ToUnix(0x21, 0, 0));
        BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(14), time);
        BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(16), date);
        BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(18), date);
        BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(22), time);
        BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(24), date);
        device.Write(rootOffset, entry);
    }

    private readonly record struct Layout(FatType? Type, long FatLength, long Clusters);

    private readonly record struct Geometry(int Bps, int Spc, int Reserved, int RootEntries, uint RootSectors, uint Sectors, long FatLength, long Clusters, FatType Type, byte Media, int SecPerTrack, int Heads);
}
