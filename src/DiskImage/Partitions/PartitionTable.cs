using System.Buffers.Binary;
using DiskImage.IO;
using DiskImage.Partitions.Gpt;
using DiskImage.Partitions.Mbr;

namespace DiskImage.Partitions;

/// <summary>
/// A partition table (MBR or GPT) on a disk. Each partition opens as a <see cref="BlockDevice"/> window
/// (<see cref="OpenPartition"/>) in which a file system opens as on a whole device. Changes
/// (<see cref="Add"/>, <see cref="Delete"/>, <see cref="Resize"/>) are written to the disk at once.
/// </summary>
/// <remarks>
/// The table does not own the disk: disposing the disk is the caller's job. Malformed tables
/// (overlapping or out-of-disk partitions, bad CRCs in both GPT copies, EBR loops) throw
/// <see cref="InvalidDataException"/> when opened.
/// </remarks>
public abstract class PartitionTable
{
    /// <summary>The sizes in bytes of the logical sectors a table may use.</summary>
    private static readonly int[] ProbedSectorSizes = [512, 4096];

    private protected PartitionTable(BlockDevice disk, int sectorSize)
    {
        Disk = disk;
        SectorSize = sectorSize;
    }

    /// <summary>The disk the table is on.</summary>
    public BlockDevice Disk { get; }

    /// <summary>The logical sector size in bytes (512 or 4096): the unit of every sector number.</summary>
    public int SectorSize { get; }

    /// <summary>The number of whole logical sectors on the disk.</summary>
    public long DiskSectors => Disk.Length / SectorSize;

    /// <summary>The alignment of new partitions in sectors: 1 MiB, as sfdisk uses (2048 at 512 B, 256 at 4 KiB).</summary>
    public long GrainSectors => Math.Max(1, (1 << 20) / SectorSize);

    /// <summary>The kind of table.</summary>
    public abstract PartitionTableKind Kind { get; }

    /// <summary>The disk identifier as sfdisk prints it: <c>0x12345678</c> (MBR disk signature) or the GPT disk GUID in upper case.</summary>
    public abstract string Identifier { get; }

    /// <summary>The first sector a partition may use.</summary>
    public abstract long FirstUsableSector { get; }

    /// <summary>The last sector a partition may use (inclusive).</summary>
    public abstract long LastUsableSector { get; }

    /// <summary>The partitions in number order (an MBR extended partition is listed, as sfdisk lists it).</summary>
    public abstract IReadOnlyList<Partition> Partitions { get; }

    /// <summary>Returns partition <paramref name="number"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">There is no such partition.</exception>
    public Partition GetPartition(int number)
    {
        foreach (Partition p in Partitions)
        {
            if (p.Number == number)
            {
                return p;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(number), $"Partition {number} does not exist.");
    }

    /// <summary>Opens partition <paramref name="number"/> as a window on <see cref="Disk"/>.</summary>
    /// <param name="number">The partition number.</param>
    /// <param name="writable">Whether the window accepts writes; default: as the disk.</param>
    /// <exception cref="ArgumentOutOfRangeException">There is no such partition.</exception>
    /// <exception cref="NotSupportedException">The partition is an MBR extended partition (a container, not a device to put a file system on).</exception>
    public BlockDevice OpenPartition(int number, bool? writable = null)
    {
        Partition p = GetPartition(number);
        if (p is MbrPartition { IsExtended: true })
        {
            throw new NotSupportedException($"Partition {number} is an extended partition: it holds the logical partitions (5 and up), not a file system.");
        }

        return new SubBlockDevice(Disk, p.Offset, p.Length, writable, leaveOpen: true);
    }

    /// <summary>Adds a partition and writes the table.</summary>
    /// <returns>The new partition.</returns>
    /// <exception cref="ArgumentException">The type or size is not valid for this table.</exception>
    /// <exception cref="InvalidOperationException">No free area or no free entry is left.</exception>
    public abstract Partition Add(PartitionAddOptions options);

    /// <summary>Deletes partition <paramref name="number"/> and writes the table. Later MBR logical partitions are renumbered, as Linux numbers them.</summary>
    public abstract void Delete(int number);

    /// <summary>
    /// Changes the size of partition <paramref name="number"/> (its start stays) and writes the table.
    /// </summary>
    /// <param name="number">The partition number.</param>
    /// <param name="size">The new size in bytes, or null to grow into all the free space after the partition (<c>echo ', +' | sfdisk -N</c>).</param>
    /// <param name="allowShrink">Whether a smaller size is accepted (it cuts whatever the partition holds at its end).</param>
    /// <returns>The partition after the change.</returns>
    public abstract Partition Resize(int number, long? size = null, bool allowShrink = false);

    /// <summary>
    /// Opens the partition table on <paramref name="disk"/>, or returns null when the disk holds none
    /// (a bare file system, zeros, a FAT or NTFS boot sector).
    /// </summary>
    /// <param name="disk">The whole disk.</param>
    /// <param name="sectorSize">The logical sector size, or 0 to detect it (the GPT header at byte 512, then at 4096; MBR tables default to 512).</param>
    /// <exception cref="InvalidDataException">The table is malformed.</exception>
    public static PartitionTable? TryOpen(BlockDevice disk, int sectorSize = 0)
    {
        ArgumentNullException.ThrowIfNull(disk);
        if (sectorSize is not (0 or 512 or 4096))
        {
            throw new ArgumentOutOfRangeException(nameof(sectorSize), "The sector size must be 512 or 4096 (or 0 to detect it).");
        }

        if (disk.Length < 1024)
        {
            return null;
        }

        int[] sizes = sectorSize == 0 ? ProbedSectorSizes : [sectorSize];
        foreach (int size in sizes)
        {
            if (disk.Length >= 3L * size && HasGptSignature(disk, size))
            {
                return GptPartitionTable.Open(disk, size);
            }
        }

        Span<byte> sector = stackalloc byte[512];
        disk.ReadExactly(0, sector);
        if (BinaryPrimitives.ReadUInt16LittleEndian(sector[510..]) != 0xAA55)
        {
            return null;
        }

        bool protective = false;
        for (int i = 0; i < 4; i++)
        {
            protective |= sector[0x1BE + (16 * i) + 4] == MbrGptProtectiveType;
        }

        if (protective)
        {
            // The primary header is gone: the backup at the end of the disk may still be good.
            foreach (int size in sizes)
            {
                if (disk.Length >= 3L * size && HasGptSignature(disk, (disk.Length / size) - 1, size))
                {
                    return GptPartitionTable.Open(disk, size);
                }
            }

            throw FormatError.Create("GPT", 512, "the MBR is a GPT protective MBR (type ee) but neither the primary nor the backup GPT header has the signature \"EFI PART\"");
        }

        return MbrPartitionTable.LooksLikeMbr(sector) ? MbrPartitionTable.Open(disk, sectorSize == 0 ? 512 : sectorSize) : null;
    }

    /// <summary>Opens the partition table on <paramref name="disk"/>; see <see cref="TryOpen"/>.</summary>
    /// <exception cref="InvalidDataException">The disk holds no partition table, or a malformed one.</exception>
    public static PartitionTable Open(BlockDevice disk, int sectorSize = 0) =>
        TryOpen(disk, sectorSize) ?? throw new InvalidDataException("The disk holds no MBR or GPT partition table.");

    private const byte MbrGptProtectiveType = PartitionTypes.MbrGptProtective;

    private static bool HasGptSignature(BlockDevice disk, int sectorSize) => HasGptSignature(disk, 1, sectorSize);

    private static bool HasGptSignature(BlockDevice disk, long lba, int sectorSize)
    {
        Span<byte> signature = stackalloc byte[8];
        return disk.Read(lba * sectorSize, signature) == 8 && BinaryPrimitives.ReadUInt64LittleEndian(signature) == GptHeader.SignatureValue;
    }

    /// <summary>Throws when the disk cannot be written.</summary>
    private protected void ThrowIfReadOnly()
    {
        if (!Disk.CanWrite)
        {
            throw new NotSupportedException("The disk is open read-only; the partition table cannot be changed.");
        }
    }

    /// <summary>Converts a byte size to whole sectors.</summary>
    private protected long ToSectors(long size, string parameterName)
    {
        if (size <= 0 || size % SectorSize != 0)
        {
            throw new ArgumentOutOfRangeException(parameterName, $"The size must be a positive multiple of the sector size ({SectorSize} bytes); {size} is not.");
        }

        return size / SectorSize;
    }
}
