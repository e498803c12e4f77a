using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Fat;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Lvm;
using DiskImage.Partitions;
using DiskImage.Partitions.Gpt;
using DiskImage.Partitions.Mbr;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// Writes the raw disk of a <c>type: whole-disk</c> image: the partition table, an LVM volume group where the layout
/// has one, and a fresh file system per volume holding the guest's tree under its mount point (less the nested
/// volumes' parts), with <c>/etc/fstab</c> naming the new volumes. Sizes the recipe leaves open are computed from
/// what each volume's tree needs plus <see cref="ExtraPercent"/>. No boot loader is installed: the disk carries the
/// guest's <c>/boot</c> and EFI system partition contents as they are.
/// </summary>
internal static class OvercloudWholeDiskBuilder
{
    /// <summary>Free space given to a volume whose size is computed, in percent of what its tree needs.</summary>
    public const int ExtraPercent = 20;

    private const long MiB = 1L << 20;
    private const long ExtentSize = 4 * MiB;
    private static readonly long PhysicalVolumeDataOffset = LvmPhysicalVolumeCreateOptions.Default.DataOffset;

    /// <summary>Writes the disk to <paramref name="rawPath"/> (created, sparse).</summary>
    /// <param name="image">The whole-disk image.</param>
    /// <param name="view">The customized guest (writable): its <c>/etc/fstab</c> is rewritten during the build and restored after it.</param>
    /// <param name="tree">The tree to copy (<paramref name="view"/>, possibly behind a timestamp clamp).</param>
    /// <param name="guestMountPoints">The guest's own mount points besides <c>/</c>.</param>
    /// <param name="rawPath">The raw disk file to create.</param>
    /// <param name="seed">32 bytes from which every UUID, GUID and serial of the disk is derived (reproducible output).</param>
    /// <param name="epoch">The <c>SOURCE_DATE_EPOCH</c>, or null.</param>
    /// <param name="report">Receives a message at each step.</param>
    /// <param name="ct">Stops the build.</param>
    public static void Write(OvercloudImageRecipe image, IFileSystem view, IFileSystem tree, IReadOnlyCollection<string> guestMountPoints,
        string rawPath, byte[] seed, UnixTime? epoch, Action<string> report, CancellationToken ct)
    {
        OvercloudDiskLayout disk = image.Disk ?? throw new ArgumentException("The image has no disk layout.", nameof(image));
        var volumes = new List<Volume>();
        var mountPoints = new List<string>();
        for (int i = 0; i < disk.Partitions.Count; i++)
        {
            OvercloudPartitionRecipe p = disk.Partitions[i];
            if (p.Volume is { } v)
            {
                volumes.Add(new Volume(v, i, Derive(seed, "fs/" + v.MountPoint)));
                mountPoints.Add(v.MountPoint);
            }

            foreach (OvercloudVolumeRecipe lv in p.LogicalVolumes)
            {
                volumes.Add(new Volume(lv, i, Derive(seed, "fs/" + lv.MountPoint)));
                mountPoints.Add(lv.MountPoint);
            }
        }

        string? originalFstab = ReadText(view, "/etc/fstab");
        try
        {
            var fstab = new List<(string, string, string, string, int)>();
            foreach (Volume v in volumes)
            {
                string source = v.Recipe.Label is { } label ? "LABEL=" + label : "UUID=" + v.UuidText;
                fstab.Add((source, v.Recipe.MountPoint, v.Recipe.FileSystem, v.Recipe.MountOptions, v.Recipe.MountPoint == "/" ? 1 : 2));
            }

            WriteText(view, "/etc/fstab", WholeDiskFstabWriter.Rewrite(originalFstab, fstab, guestMountPoints));
            UnixTime dirTime = epoch ?? new UnixTime(DateTimeOffset.UtcNow.ToUnixTimeSeconds(), 0);
            foreach (Volume v in volumes)
            {
                ct.ThrowIfCancellationRequested();
                v.Tree = new MountSplitFileSystem(tree, v.Recipe.MountPoint, mountPoints, dirTime);
                v.Need = Need(image, v, epoch);
            }

            long[] partitionSizes = PlanPartitions(disk, volumes, out long diskSize);
            report($"writing a {diskSize / MiB} MiB {disk.PartitionTable.ToUpperInvariant()} disk with {volumes.Count} file systems");
            WriteDisk(image, disk, volumes, partitionSizes, diskSize, rawPath, seed, epoch, report, ct);
        }
        finally
        {
            if (originalFstab is null)
            {
                view.Delete("/etc/fstab");
            }
            else
            {
                WriteText(view, "/etc/fstab", originalFstab);
            }
        }
    }

    /// <summary>The bytes each partition gets (0 for "the rest of the disk"), and the disk size.</summary>
    private static long[] PlanPartitions(OvercloudDiskLayout disk, List<Volume> volumes, out long diskSize)
    {
        var sizes = new long[disk.Partitions.Count];
        long total = 0;
        for (int i = 0; i < disk.Partitions.Count; i++)
        {
            OvercloudPartitionRecipe p = disk.Partitions[i];
            bool rest = p.Size is null && disk.Size is not null && i == disk.Partitions.Count - 1;
            long need;
            if (p.VolumeGroup is not null)
            {
                need = PhysicalVolumeDataOffset + (VolumeGroupExtents(p, volumes, null) * ExtentSize);
            }
            else if (p.Volume is not null)
            {
                need = volumes.Find(v => v.Recipe == p.Volume)!.Need;
            }
            else
            {
                need = 0;
            }

            need = RoundUp(need, MiB);
            if (p.Size is { } fixedSize)
            {
                if ((p.VolumeGroup is null ? MinimumOf(need) : need) > fixedSize)
                {
                    throw new NotSupportedException($"Partition {i + 1} ({Describe(p)}) is {fixedSize / MiB} MiB, but its content needs {need / MiB} MiB; give it a larger size or none (computed).");
                }

                sizes[i] = fixedSize;
            }
            else
            {
                sizes[i] = rest ? 0 : need;
            }

            total += rest ? need : sizes[i];
        }

        // 1 MiB before the first partition (alignment, the GPT) and 1 MiB after the last (the backup GPT).
        long minimum = MiB + total + MiB;
        if (disk.Size is { } given)
        {
            if (given < minimum)
            {
                throw new NotSupportedException($"The disk is {given / MiB} MiB, but its partitions need {minimum / MiB} MiB; give a larger size or none (computed).");
            }

            diskSize = given;
        }
        else
        {
            diskSize = minimum;
        }

        return sizes;
    }

    /// <summary>
    /// The extents of a volume group that hold its logical volumes: with <paramref name="available"/> null the least
    /// that fits every LV (percentages of the result included); otherwise checks that <paramref name="available"/> does.
    /// </summary>
    private static long VolumeGroupExtents(OvercloudPartitionRecipe p, List<Volume> volumes, long? available)
    {
        long fixedExtents = 0;
        int percent = 0;
        long least = 0;
        foreach (OvercloudVolumeRecipe lv in p.LogicalVolumes)
        {
            Volume v = volumes.Find(x => x.Recipe == lv)!;
            long needExtents = CeilDiv(v.Need, ExtentSize);
            if (lv.Percent is { } pc)
            {
                percent += pc;
                least = Math.Max(least, CeilDiv(needExtents * 100, pc));
            }
            else if (lv.Size is { } size)
            {
                if (size < MinimumOf(v.Need))
                {
                    throw new NotSupportedException($"Logical volume {p.VolumeGroup}/{lv.Name} is {size} bytes, but its file system needs {MinimumOf(v.Need)} bytes; give it a larger size, a percentage or none (computed).");
                }

                fixedExtents += CeilDiv(size, ExtentSize);
            }
            else
            {
                fixedExtents += needExtents;
            }
        }

        if (percent > 0 && percent < 100)
        {
            least = Math.Max(least, CeilDiv(fixedExtents * 100, 100 - percent));
        }
        else if (percent == 100 && fixedExtents > 0)
        {
            throw new NotSupportedException($"Volume group {p.VolumeGroup}: the percentages take every extent, leaving none for the logical volumes of fixed or computed size.");
        }

        long extents = available ?? Math.Max(least, fixedExtents);
        while (available is null && !Fits(p, volumes, extents, fixedExtents))
        {
            extents++;
        }

        if (available is not null && !Fits(p, volumes, extents, fixedExtents))
        {
            throw new NotSupportedException($"Volume group {p.VolumeGroup} has {extents} extents of {ExtentSize / MiB} MiB, too few for its logical volumes (they need at least {Math.Max(least, fixedExtents)}); give a larger disk size or none (computed).");
        }

        return extents;
    }

    private static bool Fits(OvercloudPartitionRecipe p, List<Volume> volumes, long extents, long fixedExtents)
    {
        long used = fixedExtents;
        foreach (OvercloudVolumeRecipe lv in p.LogicalVolumes)
        {
            if (lv.Percent is { } pc)
            {
                long e = extents * pc / 100;
                if (e * ExtentSize < volumes.Find(x => x.Recipe == lv)!.Need || e == 0)
                {
                    return false;
                }

                used += e;
            }
        }

        return used <= extents;
    }

    private static void WriteDisk(OvercloudImageRecipe image, OvercloudDiskLayout disk, List<Volume> volumes, long[] sizes, long diskSize,
        string rawPath, byte[] seed, UnixTime? epoch, Action<string> report, CancellationToken ct)
    {
        using var device = FileBlockDevice.Create(rawPath, diskSize);
        PartitionTable table = disk.PartitionTable == "gpt"
            ? GptPartitionTable.Create(device, new GptCreateOptions { DiskGuid = OvercloudBuilder.DerivedUuid(Derive(seed, "disk"), 0) })
            : MbrPartitionTable.Create(device, new MbrCreateOptions { DiskSignature = Math.Max(1u, BinaryPrimitives.ReadUInt32LittleEndian(Derive(seed, "disk"))) });
        for (int i = 0; i < disk.Partitions.Count; i++)
        {
            OvercloudPartitionRecipe p = disk.Partitions[i];
            table.Add(new PartitionAddOptions
            {
                Size = sizes[i] == 0 ? null : sizes[i],
                Type = p.Type,
                Name = p.Name,
                UniqueGuid = table.Kind == PartitionTableKind.Gpt ? OvercloudBuilder.DerivedUuid(Derive(seed, "partition/" + i.ToString(CultureInfo.InvariantCulture)), 0) : null,
                Bootable = p.Bootable,
            });
        }

        for (int i = 0; i < disk.Partitions.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            OvercloudPartitionRecipe p = disk.Partitions[i];
            if (p.Volume is null && p.VolumeGroup is null)
            {
                continue;
            }

            using BlockDevice partition = table.OpenPartition(i + 1, writable: true);
            if (p.Volume is { } fs)
            {
                Volume v = volumes.Find(x => x.Recipe == fs)!;
                report($"partition {i + 1}: {fs.FileSystem} for {fs.MountPoint} ({partition.Length / MiB} MiB)");
                BuildFileSystem(image, v, partition, epoch, ct);
                continue;
            }

            long available = (partition.Length - PhysicalVolumeDataOffset) / ExtentSize;
            VolumeGroupExtents(p, volumes, available);
            byte[] lvmSeed = Derive(seed, "vg/" + p.VolumeGroup);
            LvmVolumeGroup vg = LvmVolumeGroup.Create(p.VolumeGroup!, [partition], new LvmVolumeGroupCreateOptions
            {
                ExtentSize = ExtentSize,
                RandomSeed = BinaryPrimitives.ReadInt32LittleEndian(lvmSeed),
                CreationTime = epoch?.ToDateTimeOffset(),
                CreationHost = "localhost",
            });
            long extents = vg.PhysicalVolumes[0].ExtentCount;
            report($"partition {i + 1}: volume group {vg.Name} ({extents} extents of {ExtentSize / MiB} MiB)");
            foreach (OvercloudVolumeRecipe lvRecipe in p.LogicalVolumes)
            {
                Volume v = volumes.Find(x => x.Recipe == lvRecipe)!;
                long size = lvRecipe.Percent is { } pc ? extents * pc / 100 * ExtentSize : lvRecipe.Size ?? RoundUp(v.Need, ExtentSize);
                LvmLogicalVolume lv = vg.CreateLogicalVolume(lvRecipe.Name!, size);
                report($"logical volume {vg.Name}/{lv.Name}: {lvRecipe.FileSystem} for {lvRecipe.MountPoint} ({lv.Size / MiB} MiB)");
                using BlockDevice lvDevice = lv.Open(writable: true);
                BuildFileSystem(image, v, lvDevice, epoch, ct);
                lvDevice.Flush();
            }

            partition.Flush();
        }

        device.Flush();
    }

    private static void BuildFileSystem(OvercloudImageRecipe image, Volume v, BlockDevice device, UnixTime? epoch, CancellationToken ct)
    {
        OvercloudVolumeRecipe r = v.Recipe;
        switch (r.FileSystem)
        {
            case "xfs":
                XfsFileSystem.Build(device, v.Tree!, new XfsBuildOptions { Format = XfsFormat(image, v, epoch) }, ct);
                break;
            case "ext4":
                Ext4FileSystem.Build(device, v.Tree!, new Ext4BuildOptions { Format = Ext4Format(v, epoch) }, ct);
                break;
            default:
                BuildFat(v, device, epoch, ct);
                break;
        }

        device.Flush();
    }

    private static void BuildFat(Volume v, BlockDevice device, UnixTime? epoch, CancellationToken ct)
    {
        FatFileSystem.Format(device, new FatFormatOptions { Label = v.Recipe.Label, VolumeId = v.FatVolumeId, Timestamp = epoch });
        using FatFileSystem fat = FatFileSystem.Open(device, new FatOpenOptions { Writable = true, Clock = epoch is { } clock ? () => clock : null }, leaveOpen: true);
        var children = new List<string>();
        foreach (UnixFileInfo e in v.Tree!.EnumerateDirectory("/"))
        {
            if (e.Name is not ("." or ".."))
            {
                children.Add(e.Path);
            }
        }

        try
        {
            FileSystemCopy.Copy(v.Tree, children, fat, "/", new FileSystemCopyOptions { PreserveOwnership = false, CreateDevices = false }, ct);
        }
        catch (NotSupportedException e)
        {
            throw new NotSupportedException($"The guest's {v.Recipe.MountPoint} holds something FAT cannot store: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new NotSupportedException($"The guest's {v.Recipe.MountPoint} does not fit its {device.Length / MiB} MiB FAT file system ({e.Message}); give the partition a larger size or none (computed).", e);
        }

        fat.Flush();
    }

    private static XfsFormatOptions XfsFormat(OvercloudImageRecipe image, Volume v, UnixTime? epoch) =>
        new() { Profile = OvercloudBuilder.XfsProfile(image.XfsProfile), Label = v.Recipe.Label ?? string.Empty, Uuid = v.Uuid, Timestamp = epoch?.ToDateTimeOffset() };

    private static Ext4FormatOptions Ext4Format(Volume v, UnixTime? epoch) =>
        new() { Label = v.Recipe.Label ?? string.Empty, Uuid = v.Uuid, HashSeed = OvercloudBuilder.DerivedUuid(v.Seed, 16), Timestamp = epoch?.ToDateTimeOffset() };

    /// <summary>The bytes the volume's file system needs for its tree, plus <see cref="ExtraPercent"/>.</summary>
    private static long Need(OvercloudImageRecipe image, Volume v, UnixTime? epoch)
    {
        switch (v.Recipe.FileSystem)
        {
            case "xfs":
                return XfsFileSystem.ComputeBuildSize(v.Tree!, new XfsBuildOptions { ExtraPercent = ExtraPercent, Format = XfsFormat(image, v, epoch) });
            case "ext4":
                return Ext4FileSystem.ComputeBuildSize(v.Tree!, new Ext4BuildOptions { ExtraPercent = ExtraPercent, Format = Ext4Format(v, epoch) });
            default:
                // FAT: every file and directory rounded up to 4 KiB clusters, the tables and root, and the margin; at least 8 MiB.
                long bytes = FatBytes(v.Tree!, "/");
                return Math.Max(8 * MiB, RoundUp(bytes + (bytes / 100 * ExtraPercent) + MiB, MiB));
        }
    }

    private static long FatBytes(IFileSystem tree, string dir)
    {
        long total = 4096;
        foreach (UnixFileInfo e in tree.EnumerateDirectory(dir))
        {
            if (e.Name is "." or "..")
            {
                continue;
            }

            total += e.Type == UnixFileType.Directory ? FatBytes(tree, e.Path) : RoundUp(Math.Max(e.Size, 1), 4096);
        }

        return total;
    }

    /// <summary>What a file system of computed size <paramref name="need"/> needs without the <see cref="ExtraPercent"/> margin.</summary>
    private static long MinimumOf(long need) => need * 100 / (100 + ExtraPercent);

    private static string Describe(OvercloudPartitionRecipe p) =>
        p.Name ?? (p.Volume is { } v ? v.MountPoint : p.VolumeGroup is { } vg ? "volume group " + vg : p.Type);

    private static long RoundUp(long value, long unit) => (value + unit - 1) / unit * unit;

    private static long CeilDiv(long value, long unit) => (value + unit - 1) / unit;

    private static byte[] Derive(byte[] seed, string what)
    {
        byte[] input = new byte[seed.Length + Encoding.UTF8.GetByteCount(what)];
        seed.CopyTo(input, 0);
        Encoding.UTF8.GetBytes(what, input.AsSpan(seed.Length));
        return SHA256.HashData(input);
    }

    private static string? ReadText(IFileSystem fs, string path)
    {
        if (!fs.Exists(path))
        {
            return null;
        }

        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        using var reader = new StreamReader(s, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private static void WriteText(IFileSystem fs, string path, string text)
    {
        using Stream s = fs.OpenFile(path, fs.Exists(path) ? FileMode.Truncate : FileMode.Create, FileAccess.Write);
        s.Write(Encoding.UTF8.GetBytes(text));
    }

    /// <summary>One file system of the layout and what the build knows about it.</summary>
    private sealed class Volume(OvercloudVolumeRecipe recipe, int partition, byte[] seed)
    {
        public OvercloudVolumeRecipe Recipe { get; } = recipe;

        public int Partition { get; } = partition;

        public byte[] Seed { get; } = seed;

        public Guid Uuid { get; } = OvercloudBuilder.DerivedUuid(seed, 0);

        public uint FatVolumeId { get; } = BinaryPrimitives.ReadUInt32LittleEndian(seed.AsSpan(0, 4));

        /// <summary>How <c>/etc/fstab</c> names the volume by UUID (FAT: the serial as <c>XXXX-XXXX</c>).</summary>
        public string UuidText => Recipe.FileSystem == "vfat"
            ? string.Create(CultureInfo.InvariantCulture, $"{FatVolumeId >> 16:X4}-{FatVolumeId & 0xFFFF:X4}")
            : Uuid.ToString("D");

        public MountSplitFileSystem? Tree { get; set; }

        public long Need { get; set; }
    }
}
