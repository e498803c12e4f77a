using System.Globalization;
using DiskImage.Lvm;
using DiskImage.Partitions;
using YamlDotNet.RepresentationModel;

namespace DiskImage.OpenStack.Build;

/// <summary>Reads a <c>type: whole-disk</c> image of a recipe (see <see cref="OvercloudDiskLayout"/>); every error names the line and column.</summary>
internal static class OvercloudWholeDiskRecipeParser
{
    private const long MiB = 1L << 20;
    private static readonly string[] ImageKeys = ["name", "type", "all", "file-system", "xfs-profile", "format", "compress", "compression-level", "image", "disk"];
    private static readonly string[] DiskKeys = ["partition-table", "size", "partitions"];
    private static readonly string[] PartitionKeys = ["name", "type", "size", "bootable", "file-system", "mount", "label", "options", "lvm"];
    private static readonly string[] LvmKeys = ["vg", "volumes"];
    private static readonly string[] VolumeKeys = ["name", "size", "file-system", "mount", "label", "options"];

    public static OvercloudImageRecipe Read(OvercloudRecipeParser.Reader p, YamlMappingNode m, string name)
    {
        string what = $"image '{name}'";
        p.CheckKeys(m, ImageKeys, what);
        string fs = p.OneOf(m, "file-system", ["xfs", "ext4"], "xfs");
        string format = p.OneOf(m, "format", ["qcow2", "raw"], "qcow2");
        bool compress = p.Bool(m, "compress", false);
        if (compress && format != "qcow2")
        {
            throw p.Error(p.Find(m, "compress")!, $"{what}: compress needs format qcow2");
        }

        YamlNode diskNode = p.Find(m, "disk") ?? throw p.Error(m, $"{what} has no 'disk:' section (partition-table, size, partitions)");
        OvercloudDiskLayout disk = ReadDisk(p, p.Mapping(diskNode, $"{what} disk"), fs, what);
        string? image = p.OptionalFile(m, "image", $"{name}.{format}");
        if (image is null)
        {
            throw p.Error(p.Find(m, "image")!, $"{what}: a whole-disk image writes its image file ('image: false' leaves nothing to build)");
        }

        return new OvercloudImageRecipe
        {
            Name = name,
            Kind = OvercloudImageKind.WholeDisk,
            FileSystem = fs,
            XfsProfile = p.OneOf(m, "xfs-profile", ["debian12", "rhel9", "rhel8", "rhel7"], "debian12"),
            Label = string.Empty,
            Format = format,
            Compress = compress,
            CompressionLevel = p.CompressionLevel(m, compress, what),
            ImageFile = image,
            Disk = disk,
            BuildByDefault = p.Bool(m, "all", true),
        };
    }

    private static OvercloudDiskLayout ReadDisk(OvercloudRecipeParser.Reader p, YamlMappingNode m, string defaultFs, string what)
    {
        p.CheckKeys(m, DiskKeys, $"{what} disk");
        string table = p.OneOf(m, "partition-table", ["gpt", "mbr"], "gpt");
        long? size = p.Find(m, "size") is { } sizeNode ? Size(p, sizeNode, "size", MiB) : null;
        YamlNode partsNode = p.Find(m, "partitions") ?? throw p.Error(m, $"{what}: the disk has no 'partitions:' list");
        YamlSequenceNode parts = p.Sequence(partsNode, "partitions");
        if (parts.Children.Count == 0)
        {
            throw p.Error(parts, $"{what}: 'partitions:' is empty");
        }

        if (table == "mbr" && parts.Children.Count > 4)
        {
            throw p.Error(parts, $"{what}: an MBR disk holds at most 4 partitions here (no logical partitions)");
        }

        var partitions = new List<OvercloudPartitionRecipe>();
        var mounts = new HashSet<string>(StringComparer.Ordinal);
        var volumeGroups = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < parts.Children.Count; i++)
        {
            YamlNode node = parts.Children[i];
            OvercloudPartitionRecipe part = ReadPartition(p, p.Mapping(node, "a partition"), table, defaultFs, what, mounts);
            if (part.Size is null && (part.Volume is null && part.VolumeGroup is null) && !(size is not null && i == parts.Children.Count - 1))
            {
                throw p.Error(node, $"{what}: a partition with no file system or volume group needs a 'size:'");
            }

            if (part.VolumeGroup is { } vg && !volumeGroups.Add(vg))
            {
                throw p.Error(node, $"{what}: a second volume group is named '{vg}'");
            }

            partitions.Add(part);
        }

        if (!mounts.Contains("/"))
        {
            throw p.Error(parts, $"{what}: no volume is mounted at '/'");
        }

        return new OvercloudDiskLayout { PartitionTable = table, Size = size, Partitions = partitions };
    }

    private static OvercloudPartitionRecipe ReadPartition(OvercloudRecipeParser.Reader p, YamlMappingNode m, string table, string defaultFs, string what, HashSet<string> mounts)
    {
        p.CheckKeys(m, PartitionKeys, $"{what} partition");
        string? name = p.Find(m, "name") is { } nameNode ? p.Scalar(nameNode, "name") : null;
        if (name is not null && table == "mbr")
        {
            throw p.Error(p.Find(m, "name")!, $"{what}: MBR partitions have no names");
        }

        if (name is not null && (name.Length > 36 || name.Contains('\0', StringComparison.Ordinal)))
        {
            throw p.Error(p.Find(m, "name")!, $"{what}: the GPT partition name '{name}' is longer than 36 characters");
        }

        YamlNode? lvmNode = p.Find(m, "lvm");
        YamlNode? fsNode = p.Find(m, "file-system");
        if (lvmNode is not null && (fsNode is not null || p.Find(m, "mount") is not null))
        {
            throw p.Error(lvmNode, $"{what}: a partition holds a file system or a volume group ('lvm:'), not both");
        }

        OvercloudVolumeRecipe? volume = null;
        if (fsNode is not null || p.Find(m, "mount") is not null)
        {
            volume = ReadVolume(p, m, null, allowVfat: true, defaultFs, what, mounts);
        }
        else
        {
            foreach (string key in new[] { "label", "options" })
            {
                if (p.Find(m, key) is { } stray)
                {
                    throw p.Error(stray, $"{what}: '{key}' needs a file system on the partition ('file-system:' and 'mount:')");
                }
            }
        }

        string? vgName = null;
        var lvs = new List<OvercloudVolumeRecipe>();
        if (lvmNode is not null)
        {
            YamlMappingNode lvm = p.Mapping(lvmNode, $"{what} lvm");
            p.CheckKeys(lvm, LvmKeys, $"{what} lvm");
            YamlNode vgNode = p.Find(lvm, "vg") ?? throw p.Error(lvm, $"{what}: 'lvm:' has no 'vg:' (the volume group's name)");
            vgName = p.Scalar(vgNode, "vg");
            CheckLvmName(p, vgNode, vgName, logicalVolume: false, what);
            YamlNode volumesNode = p.Find(lvm, "volumes") ?? throw p.Error(lvm, $"{what}: 'lvm:' has no 'volumes:' list");
            YamlSequenceNode volumes = p.Sequence(volumesNode, "volumes");
            if (volumes.Children.Count == 0)
            {
                throw p.Error(volumes, $"{what}: 'volumes:' is empty");
            }

            var names = new HashSet<string>(StringComparer.Ordinal);
            int percent = 0;
            foreach (YamlNode v in volumes.Children)
            {
                YamlMappingNode vm = p.Mapping(v, "a logical volume");
                p.CheckKeys(vm, VolumeKeys, $"{what} logical volume");
                YamlNode lvNameNode = p.Find(vm, "name") ?? throw p.Error(vm, $"{what}: a logical volume has no 'name:'");
                string lvName = p.Scalar(lvNameNode, "name");
                CheckLvmName(p, lvNameNode, lvName, logicalVolume: true, what);
                if (!names.Add(lvName))
                {
                    throw p.Error(lvNameNode, $"{what}: a second logical volume is named '{lvName}'");
                }

                OvercloudVolumeRecipe lv = ReadVolume(p, vm, lvName, allowVfat: false, defaultFs, what, mounts);
                percent += lv.Percent ?? 0;
                if (percent > 100)
                {
                    throw p.Error(p.Find(vm, "size")!, $"{what}: the logical volumes' percentages add up to more than 100%");
                }

                lvs.Add(lv);
            }
        }

        string defaultType = vgName is not null ? "lvm" : volume?.FileSystem == "vfat" ? "esp" : "linux";
        string type = p.Find(m, "type") is { } typeNode ? p.Scalar(typeNode, "type") : defaultType;
        bool known = table == "gpt" ? PartitionTypes.TryParseGpt(type, out _) : PartitionTypes.TryParseMbr(type, out byte mbrType) && !PartitionTypes.IsMbrExtended(mbrType);
        if (!known)
        {
            throw p.Error(p.Find(m, "type") ?? m, $"{what}: '{type}' is not a {(table == "gpt" ? "GPT" : "primary MBR")} partition type ({string.Join(", ", PartitionTypes.Names)}, or a {(table == "gpt" ? "GUID" : "hex byte")})");
        }

        if (table == "gpt" && PartitionTypes.TryParseGpt(type, out Guid guid) && guid == PartitionTypes.BiosBoot && (volume is not null || vgName is not null))
        {
            throw p.Error(p.Find(m, "type")!, $"{what}: a BIOS boot partition holds the boot loader's core image, not a file system or volume group");
        }

        return new OvercloudPartitionRecipe
        {
            Name = name,
            Type = type,
            Size = p.Find(m, "size") is { } sizeNode ? Size(p, sizeNode, "size", MiB) : null,
            Bootable = p.Bool(m, "bootable", false),
            Volume = volume,
            VolumeGroup = vgName,
            LogicalVolumes = lvs,
        };
    }

    private static OvercloudVolumeRecipe ReadVolume(OvercloudRecipeParser.Reader p, YamlMappingNode m, string? lvName, bool allowVfat, string defaultFs, string what, HashSet<string> mounts)
    {
        string fs = p.OneOf(m, "file-system", allowVfat ? ["xfs", "ext4", "vfat"] : ["xfs", "ext4"], defaultFs);
        YamlNode mountNode = p.Find(m, "mount") ?? throw p.Error(m, $"{what}: a file system needs a 'mount:' point (where the guest mounts it)");
        string mount = p.Scalar(mountNode, "mount");
        if (!IsMountPoint(mount))
        {
            throw p.Error(mountNode, $"{what}: mount '{mount}' is not a normalized absolute path ('/', '/var/log')");
        }

        if (!mounts.Add(mount))
        {
            throw p.Error(mountNode, $"{what}: a second volume is mounted at '{mount}'");
        }

        if (fs == "vfat" && mount == "/")
        {
            throw p.Error(mountNode, $"{what}: '/' cannot be vfat (no owners, modes or symbolic links)");
        }

        string? label = p.Find(m, "label") is { } labelNode ? p.Scalar(labelNode, "label") : null;
        if (label is not null)
        {
            int max = fs switch { "xfs" => 12, "ext4" => 16, _ => 11 };
            if (label.Length == 0 || System.Text.Encoding.UTF8.GetByteCount(label) > max || label.Contains(' ', StringComparison.Ordinal))
            {
                throw p.Error(p.Find(m, "label")!, $"{what}: the {fs} label '{label}' must be 1 to {max} bytes without spaces");
            }
        }

        string options = p.Find(m, "options") is { } o ? p.Scalar(o, "options") : "defaults";
        if (options.Length == 0 || options.AsSpan().IndexOfAny(" \t\n#") >= 0)
        {
            throw p.Error(p.Find(m, "options")!, $"{what}: mount options '{options}' must be one comma-separated word");
        }

        long? size = null;
        int? percent = null;
        if (lvName is not null && p.Find(m, "size") is { } sizeNode)
        {
            string text = p.Scalar(sizeNode, "size");
            if (text.EndsWith('%'))
            {
                percent = int.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out int pc) && pc is >= 1 and <= 100
                    ? pc
                    : throw p.Error(sizeNode, $"{what}: size '{text}' is not a percentage of the volume group from 1% to 100%");
            }
            else
            {
                size = Size(p, sizeNode, "size", 1);
            }
        }

        return new OvercloudVolumeRecipe { Name = lvName, FileSystem = fs, MountPoint = mount, Label = label, MountOptions = options, Size = size, Percent = percent };
    }

    /// <summary>A byte size: digits with an optional binary suffix (<c>K</c>, <c>KiB</c>, <c>M</c>, <c>MiB</c>, <c>G</c>, <c>GiB</c>, <c>T</c>, <c>TiB</c>), a multiple of <paramref name="unit"/>.</summary>
    internal static long Size(OvercloudRecipeParser.Reader p, YamlNode node, string key, long unit)
    {
        string text = p.Scalar(node, key).Trim();
        int digits = 0;
        while (digits < text.Length && char.IsAsciiDigit(text[digits]))
        {
            digits++;
        }

        long factor = text[digits..] switch
        {
            "" or "B" => 1,
            "K" or "KiB" => 1L << 10,
            "M" or "MiB" => 1L << 20,
            "G" or "GiB" => 1L << 30,
            "T" or "TiB" => 1L << 40,
            _ => 0,
        };
        if (digits == 0 || factor == 0 || !long.TryParse(text.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n <= 0 || n > (long.MaxValue / 2) / factor)
        {
            throw p.Error(node, $"{key} '{text}' is not a size (bytes, or a number with K, M, G or T: '8MiB', '6G')");
        }

        long size = n * factor;
        if (size % unit != 0)
        {
            throw p.Error(node, $"{key} '{text}' is not a multiple of {(unit == MiB ? "1 MiB" : unit.ToString(CultureInfo.InvariantCulture) + " bytes")}");
        }

        return size;
    }

    private static void CheckLvmName(OvercloudRecipeParser.Reader p, YamlNode node, string name, bool logicalVolume, string what)
    {
        try
        {
            LvmVolumeGroupWriter.ValidateName(name, logicalVolume, "name");
        }
        catch (ArgumentException e)
        {
            throw p.Error(node, $"{what}: {e.Message.Split(" (Parameter", 2)[0]}");
        }
    }

    private static bool IsMountPoint(string path)
    {
        if (path == "/")
        {
            return true;
        }

        if (path.Length < 2 || path[0] != '/' || path[^1] == '/' || path.Contains('\0', StringComparison.Ordinal) || path.AsSpan().IndexOfAny(" \t\n") >= 0)
        {
            return false;
        }

        foreach (string part in path[1..].Split('/'))
        {
            if (part is "" or "." or "..")
            {
                return false;
            }
        }

        return true;
    }
}
