using System.Buffers.Binary;

namespace DiskImage.FileSystems.Fat;

/// <summary>
/// The boot sector's BIOS parameter block (fatgen103 §3) and the layout derived from it: where the FATs,
/// the FAT12/16 root directory and the data area start, the cluster count and the FAT type. Every number
/// is bounds-checked against the device before use.
/// </summary>
internal sealed class FatBootSector
{
    /// <summary>Largest cluster count of a FAT12 volume (fatgen103: fewer than 4085).</summary>
    public const int MaxFat12Clusters = 4084;

    /// <summary>Largest cluster count of a FAT16 volume (fewer than 65525).</summary>
    public const int MaxFat16Clusters = 65524;

    /// <summary>Largest cluster count of a FAT32 volume (entries 0x0FFFFFF7 and up are reserved).</summary>
    public const int MaxFat32Clusters = 0x0FFFFFF5;

    /// <summary><c>BPB_BytsPerSec</c>.</summary>
    public int BytesPerSector { get; init; }

    /// <summary><c>BPB_SecPerClus</c>.</summary>
    public int SectorsPerCluster { get; init; }

    /// <summary><c>BPB_RsvdSecCnt</c>.</summary>
    public int ReservedSectors { get; init; }

    /// <summary><c>BPB_NumFATs</c>.</summary>
    public int FatCount { get; init; }

    /// <summary><c>BPB_RootEntCnt</c> (0 on FAT32).</summary>
    public int RootEntries { get; init; }

    /// <summary><c>BPB_TotSec16</c> or <c>BPB_TotSec32</c>.</summary>
    public long TotalSectors { get; init; }

    /// <summary><c>BPB_Media</c>.</summary>
    public byte Media { get; init; }

    /// <summary><c>BPB_FATSz16</c> or <c>BPB_FATSz32</c>, in sectors.</summary>
    public long FatSectors { get; init; }

    /// <summary><c>BPB_RootClus</c> (FAT32), else 0.</summary>
    public uint RootCluster { get; init; }

    /// <summary><c>BPB_FSInfo</c> (FAT32), or 0 when there is none.</summary>
    public int FsInfoSector { get; init; }

    /// <summary>The FAT read and written when mirroring is off (<c>BPB_ExtFlags</c> bit 7), else -1.</summary>
    public int ActiveFat { get; init; } = -1;

    /// <summary><c>BS_VolID</c> (0 when there is no extended boot signature).</summary>
    public uint VolumeId { get; init; }

    /// <summary><c>BS_VolLab</c>, trimmed (empty when absent or "NO NAME").</summary>
    public string Label { get; init; } = string.Empty;

    /// <summary>The FAT type.</summary>
    public FatType Type { get; init; }

    /// <summary>Number of data clusters (numbered 2 .. <see cref="ClusterCount"/> + 1).</summary>
    public int ClusterCount { get; init; }

    /// <summary>Bytes per cluster.</summary>
    public int ClusterSize => BytesPerSector * SectorsPerCluster;

    /// <summary>Byte offset of the first FAT.</summary>
    public long FatOffset => (long)ReservedSectors * BytesPerSector;

    /// <summary>Bytes in one FAT.</summary>
    public long FatBytes => FatSectors * BytesPerSector;

    /// <summary>Byte offset of the FAT12/16 root directory region.</summary>
    public long RootDirectoryOffset => FatOffset + (FatCount * FatBytes);

    /// <summary>Byte offset of cluster 2.</summary>
    public long DataOffset { get; init; }

    /// <summary>Byte offset of cluster <paramref name="cluster"/> (2 .. ClusterCount + 1).</summary>
    public long ClusterOffset(uint cluster) => DataOffset + ((long)(cluster - 2) * ClusterSize);

    /// <summary>Whether the 512 bytes look like a FAT boot sector (jump instruction and sane BPB numbers; cheap probe).</summary>
    public static bool Probe(ReadOnlySpan<byte> s)
    {
        if (s.Length < 512 || !(s[0] == 0xEB && s[2] == 0x90 || s[0] == 0xE9))
        {
            return false;
        }

        int bps = BinaryPrimitives.ReadUInt16LittleEndian(s[0x0B..]);
        int spc = s[0x0D];
        return bps is 512 or 1024 or 2048 or 4096 && spc != 0 && (spc & (spc - 1)) == 0
            && BinaryPrimitives.ReadUInt16LittleEndian(s[0x0E..]) != 0 && s[0x10] != 0
            && (s[0x15] == 0xF0 || s[0x15] >= 0xF8);
    }

    /// <summary>Parses and validates the boot sector of a device of <paramref name="deviceLength"/> bytes.</summary>
    /// <exception cref="InvalidDataException">A number is out of range or the layout does not fit the device.</exception>
    public static FatBootSector Parse(ReadOnlySpan<byte> s, long deviceLength)
    {
        const string What = "FAT boot sector";
        if (s.Length < 512)
        {
            FormatError.Throw(What, 0, "the device is too small to hold a FAT file system.");
        }

        if (!(s[0] == 0xEB && s[2] == 0x90 || s[0] == 0xE9 || s[0] == 0xEB))
        {
            FormatError.Throw(What, 0, $"the jump instruction 0x{s[0]:X2} is not a FAT boot sector's.");
        }

        int bps = BinaryPrimitives.ReadUInt16LittleEndian(s[0x0B..]);
        if (bps is not (512 or 1024 or 2048 or 4096))
        {
            FormatError.Throw(What, 0x0B, $"bytes per sector {bps} is not 512, 1024, 2048 or 4096.");
        }

        int spc = s[0x0D];
        if (spc == 0 || (spc & (spc - 1)) != 0)
        {
            FormatError.Throw(What, 0x0D, $"sectors per cluster {spc} is not a power of two.");
        }

        int reserved = BinaryPrimitives.ReadUInt16LittleEndian(s[0x0E..]);
        if (reserved == 0)
        {
            FormatError.Throw(What, 0x0E, "the reserved sector count is 0.");
        }

        int fats = s[0x10];
        if (fats is 0 or > 4)
        {
            FormatError.Throw(What, 0x10, $"the FAT count {fats} is not 1 to 4.");
        }

        int rootEntries = BinaryPrimitives.ReadUInt16LittleEndian(s[0x11..]);
        long total = BinaryPrimitives.ReadUInt16LittleEndian(s[0x13..]);
        if (total == 0)
        {
            total = BinaryPrimitives.ReadUInt32LittleEndian(s[0x20..]);
        }

        byte media = s[0x15];
        if (media != 0xF0 && media < 0xF8)
        {
            FormatError.Throw(What, 0x15, $"the media byte 0x{media:X2} is not valid.");
        }

        long fatSectors = BinaryPrimitives.ReadUInt16LittleEndian(s[0x16..]);
        bool fat32 = fatSectors == 0;
        if (fat32)
        {
            fatSectors = BinaryPrimitives.ReadUInt32LittleEndian(s[0x24..]);
        }

        if (total == 0 || fatSectors == 0)
        {
            FormatError.Throw(What, 0x13, "the total sector count or the FAT size is 0.");
        }

        if (total * bps > deviceLength)
        {
            FormatError.Throw(What, 0x13, $"the file system ({total} sectors of {bps} bytes) is larger than the device ({deviceLength} bytes).");
        }

        if (fat32 ? rootEntries != 0 : rootEntries == 0 || rootEntries % (bps / 32) != 0)
        {
            FormatError.Throw(What, 0x11, $"the root directory entry count {rootEntries} is not valid for this FAT type.");
        }

        long rootSectors = (long)rootEntries * 32 / bps;
        long dataSector = reserved + (fats * fatSectors) + rootSectors;
        if (dataSector >= total)
        {
            FormatError.Throw(What, 0x0E, "the reserved sectors, FATs and root directory leave no data area.");
        }

        long clusters = (total - dataSector) / spc;
        FatType type;
        if (fat32)
        {
            type = FatType.Fat32;
            if (clusters > MaxFat32Clusters)
            {
                FormatError.Throw(What, 0x20, $"{clusters} clusters are too many for FAT32.");
            }
        }
        else
        {
            type = clusters <= MaxFat12Clusters ? FatType.Fat12 : FatType.Fat16;
            if (clusters > MaxFat16Clusters)
            {
                FormatError.Throw(What, 0x16, $"{clusters} clusters are too many for a 16-bit FAT.");
            }
        }

        // The FAT may be too short for every cluster: like Linux, only the clusters it can describe are used.
        long fatEntries = type switch
        {
            FatType.Fat12 => fatSectors * bps * 2 / 3,
            FatType.Fat16 => fatSectors * bps / 2,
            _ => fatSectors * bps / 4,
        };
        clusters = Math.Min(clusters, fatEntries - 2);
        if (clusters < 1)
        {
            FormatError.Throw(What, 0x16, "the FAT has room for no cluster.");
        }

        uint rootCluster = 0;
        int fsInfo = 0;
        int activeFat = -1;
        int extOffset = 0x24;
        if (fat32)
        {
            ushort extFlags = BinaryPrimitives.ReadUInt16LittleEndian(s[0x28..]);
            if ((extFlags & 0x80) != 0)
            {
                activeFat = extFlags & 0xF;
                if (activeFat >= fats)
                {
                    FormatError.Throw(What, 0x28, $"the active FAT {activeFat} does not exist ({fats} FATs).");
                }
            }

            if (BinaryPrimitives.ReadUInt16LittleEndian(s[0x2A..]) != 0)
            {
                FormatError.Unsupported("The FAT32 file system version is not 0.0.");
            }

            rootCluster = BinaryPrimitives.ReadUInt32LittleEndian(s[0x2C..]) & 0x0FFFFFFF;
            if (rootCluster < 2 || rootCluster > clusters + 1)
            {
                FormatError.Throw(What, 0x2C, $"the root directory cluster {rootCluster} is outside the volume.");
            }

            fsInfo = BinaryPrimitives.ReadUInt16LittleEndian(s[0x30..]);
            if (fsInfo == 0xFFFF || fsInfo >= reserved)
            {
                fsInfo = 0;
            }

            extOffset = 0x40;
        }

        uint volumeId = 0;
        string label = string.Empty;
        if (s[extOffset + 2] == 0x29)
        {
            volumeId = BinaryPrimitives.ReadUInt32LittleEndian(s[(extOffset + 3)..]);
            label = FatNames.DecodeLabel(s.Slice(extOffset + 7, 11));
        }

        return new FatBootSector
        {
            BytesPerSector = bps,
            SectorsPerCluster = spc,
            ReservedSectors = reserved,
            FatCount = fats,
            RootEntries = rootEntries,
            TotalSectors = total,
            Media = media,
            FatSectors = fatSectors,
            RootCluster = rootCluster,
            FsInfoSector = fsInfo,
            ActiveFat = activeFat,
            VolumeId = volumeId,
            Label = label,
            Type = type,
            ClusterCount = (int)clusters,
            DataOffset = dataSector * bps,
        };
    }
}
