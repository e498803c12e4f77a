using System.Buffers.Binary;
using DiskImage.FileSystems.Fat;

namespace DiskImage.Guests;

/// <summary>
/// The size a mounted file system reports (<c>statvfs</c> <c>f_blocks × f_frsize</c>, what
/// <c>virt-filesystems --long</c> shows): ext2/3/4 without its metadata overhead (superblock and descriptor
/// backups, bitmaps, inode tables, the internal journal), XFS without its internal log, FAT its data clusters;
/// anything else the size of the volume.
/// </summary>
internal static class GuestFileSystemSize
{
    public static long Of(GuestVolume volume)
    {
        try
        {
            return volume.FileSystemType switch
            {
                GuestFileSystemType.Ext2 or GuestFileSystemType.Ext3 or GuestFileSystemType.Ext4 => Ext(volume) ?? volume.Size,
                GuestFileSystemType.Xfs => Xfs(volume) ?? volume.Size,
                GuestFileSystemType.Fat => Fat(volume),
                _ => volume.Size,
            };
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            return volume.Size;
        }
    }

    private static long? Ext(GuestVolume volume)
    {
        Span<byte> sb = stackalloc byte[1024];
        volume.Device.ReadExactly(1024, sb);
        int logBlockSize = BinaryPrimitives.ReadInt32LittleEndian(sb[0x18..]);
        if (logBlockSize is < 0 or > 6)
        {
            return null;
        }

        long blockSize = 1024L << logBlockSize;
        uint incompat = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x60..]);
        uint roCompat = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x64..]);
        bool is64 = (incompat & 0x80) != 0;
        long blocks = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x04..]) | (is64 ? (long)BinaryPrimitives.ReadUInt32LittleEndian(sb[0x150..]) << 32 : 0);
        long firstData = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x14..]);
        long perGroup = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x20..]);
        long inodesPerGroup = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x28..]);
        int inodeSize = BinaryPrimitives.ReadUInt16LittleEndian(sb[0x58..]);
        uint overheadClusters = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x248..]);
        if (perGroup <= 0 || blocks <= firstData || inodeSize == 0)
        {
            return null;
        }

        long overhead;
        if (overheadClusters != 0)
        {
            overhead = overheadClusters;
        }
        else
        {
            long groups = (blocks - firstData + perGroup - 1) / perGroup;
            int descSize = is64 ? Math.Max(32, (int)BinaryPrimitives.ReadUInt16LittleEndian(sb[0xFE..])) : 32;
            long gdtBlocks = ((groups * descSize) + blockSize - 1) / blockSize;
            long reservedGdt = BinaryPrimitives.ReadUInt16LittleEndian(sb[0xCE..]);
            long inodeTableBlocks = ((inodesPerGroup * inodeSize) + blockSize - 1) / blockSize;
            bool sparse = (roCompat & 0x1) != 0;
            bool metaBg = (incompat & 0x10) != 0;
            overhead = firstData + (groups * (2 + inodeTableBlocks));
            for (long g = 0; g < groups; g++)
            {
                if (!sparse || g <= 1 || IsPowerOf(g, 3) || IsPowerOf(g, 5) || IsPowerOf(g, 7))
                {
                    overhead += 1 + (metaBg ? 0 : gdtBlocks + reservedGdt);
                }
            }

            // The internal journal: its inode's size, backed up in s_jnl_blocks[15..16] (s_jnl_backup_type 1).
            uint compat = BinaryPrimitives.ReadUInt32LittleEndian(sb[0x5C..]);
            if ((compat & 0x4) != 0 && sb[0xFD] == 1 && BinaryPrimitives.ReadUInt32LittleEndian(sb[0xE0..]) != 0)
            {
                long journalBytes = BinaryPrimitives.ReadUInt32LittleEndian(sb[(0x10C + (15 * 4))..]) | ((long)BinaryPrimitives.ReadUInt32LittleEndian(sb[(0x10C + (16 * 4))..]) << 32);
                overhead += journalBytes / blockSize;
            }
        }

        return overhead >= blocks ? null : (blocks - overhead) * blockSize;
    }

    private static bool IsPowerOf(long n, int b)
    {
        long p = b;
        while (p < n)
        {
            p *= b;
        }

        return p == n;
    }

    private static long? Xfs(GuestVolume volume)
    {
        Span<byte> sb = stackalloc byte[128];
        volume.Device.ReadExactly(0, sb);
        long blockSize = BinaryPrimitives.ReadUInt32BigEndian(sb[4..]);
        long dataBlocks = (long)BinaryPrimitives.ReadUInt64BigEndian(sb[8..]);
        ulong logStart = BinaryPrimitives.ReadUInt64BigEndian(sb[48..]);
        long logBlocks = BinaryPrimitives.ReadUInt32BigEndian(sb[96..]);
        long blocks = dataBlocks - (logStart != 0 ? logBlocks : 0);
        return blockSize is < 512 or > 65536 || blocks <= 0 || dataBlocks > long.MaxValue / blockSize ? null : blocks * blockSize;
    }

    private static long Fat(GuestVolume volume)
    {
        using FatFileSystem fat = FatFileSystem.Open(volume.Device, leaveOpen: true);
        return (long)fat.ClusterCount * fat.ClusterSize;
    }
}
