using System.Globalization;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Fat;
using DiskImage.FileSystems.Xfs;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.Formats.Raw;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>mkfs [-L label] [-U uuid] [-b blocksize] [-I inodesize] [-i bytes-per-inode] [-m percent]
/// [-T profile] [-O ^has_journal] [-E hash_seed=uuid] [--size N] [-f fmt] ext4|fat|fat12|fat16|fat32 image</c>: writes an
/// empty ext4 (or FAT, with -L only, sized like mkfs.fat) file system over the whole content of an image (raw or qcow2), like
/// <c>mkfs.ext4</c>; with <c>--size</c> the image is created first.
/// </summary>
internal static class MkfsCommand
{
    private const int OptHelp = 1000;
    private const int OptSize = 1001;

    public static int Run(string[] args, TextWriter stdout)
    {
        string? format = null;
        long? size = null;
        var o = new Settings();
        var pending = new List<(int Option, string Value)>();
        var getopt = new GetOpt(
            args,
            "b:d:E:f:FhI:i:l:L:m:O:qT:t:U:",
            new LongOption("help", false, OptHelp),
            new LongOption("size", true, OptSize),
            new LongOption("format", true, 'f'),
            new LongOption("label", true, 'L'),
            new LongOption("uuid", true, 'U'),
            new LongOption("profile", true, 'T'),
            new LongOption("type", true, 't'));
        string? typeOption = null;
        string? label = null;
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case OptSize: size = ParseSize(value!); break;
                case 't': typeOption = value; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
                case 'F' or 'q': break; // mke2fs's force and quiet: there is no prompt and no report.
                case 'L': label = value; pending.Add((option, value!)); break;
                default: pending.Add((option, value!)); break;
            }
        }

        List<string> operands = [.. getopt.Operands];
        if (typeOption is not null)
        {
            operands.Insert(0, typeOption);
        }

        if (operands.Count != 2)
        {
            throw CliException.Usage("Expecting a file system type (ext4) and an image file name");
        }

        string type = operands[0];
        string fileName = operands[1];
        if (FatTypeOf(type) is { } fat)
        {
            using DiskImageFile fatImage = size is { } fatSize
                ? CreateImage(fileName, ImageOpener.ParseFormat(format ?? "raw")!.Value, fatSize)
                : ImageOpener.Open(fileName, format, writable: true, followBacking: true);
            FormatFat(fatImage, fileName, new FatFormatOptions { Type = fat.Type, Label = label });
            return 0;
        }

        CheckType(type);
        Action<DiskImageFile> formatter;
        if (type == "xfs")
        {
            var x = new XfsCliSettings();
            foreach ((int option, string value) in pending)
            {
                x.Apply(option, value);
            }

            XfsFormatOptions xfs = x.Build();
            formatter = image => Format(image, fileName, device => XfsFileSystem.Format(device, xfs));
        }
        else
        {
            foreach ((int option, string value) in pending)
            {
                if (option is 'd' or 'l')
                {
                    throw new CliException($"option -{(char)option} is only for xfs");
                }

                o.Apply(option, value);
            }

            Ext4FormatOptions options = o.Build();
            formatter = image => Format(image, fileName, device => Ext4FileSystem.Format(device, options));
        }

        if (size is { } newSize)
        {
            DiskImageFormat newFormat = ImageOpener.ParseFormat(format ?? "raw")!.Value;
            using DiskImageFile created = CreateImage(fileName, newFormat, newSize);
            formatter(created);
            return 0;
        }

        using DiskImageFile image = ImageOpener.Open(fileName, format, writable: true, followBacking: true);
        formatter(image);
        return 0;
    }

    /// <summary>The FAT type a <c>mkfs</c> type name asks for: "fat"/"vfat"/"msdos" (chosen by size like mkfs.fat) or "fat12"/"fat16"/"fat32"; null for other names.</summary>
    public static (FatType? Type, bool IsFat)? FatTypeOf(string type) => type switch
    {
        "fat" or "vfat" or "msdos" => (null, true),
        "fat12" => (FatType.Fat12, true),
        "fat16" => (FatType.Fat16, true),
        "fat32" => (FatType.Fat32, true),
        _ => null,
    };

    private static void FormatFat(DiskImageFile image, string fileName, FatFormatOptions options)
    {
        try
        {
            FatFileSystem.Format(image.Content, options);
            image.Flush();
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            throw new CliException($"{fileName}: {ImageOpener.Describe(e)}");
        }
    }

    /// <summary>Accepts "ext4" and "xfs" (the types written); names the others clearly.</summary>
    public static void CheckType(string type)
    {
        if (type is not ("ext4" or "xfs"))
        {
            throw new CliException(type is "ext2" or "ext3" or "vfat" or "btrfs"
                ? $"file system type '{type}' is not supported by diskimage (only ext4 and xfs are written)"
                : $"unknown file system type '{type}' (use ext4 or xfs)");
        }
    }

    /// <summary>Parses a byte count with qemu's suffixes.</summary>
    public static long ParseSize(string text)
    {
        if (!QemuSize.TryParse(text, out long value) || value <= 0)
        {
            throw new CliException("Invalid image size specified." + QemuSize.SuffixHint);
        }

        return value;
    }

    /// <summary>Creates (or truncates) an image of <paramref name="size"/> bytes, rounded up to whole 512-byte sectors.</summary>
    public static DiskImageFile CreateImage(string fileName, DiskImageFormat format, long size)
    {
        long rounded = size > long.MaxValue - 511 ? size : (size + 511) & ~511L;
        try
        {
            return format == DiskImageFormat.Qcow2 ? Qcow2Image.Create(fileName, rounded, overwrite: true) : RawImage.Create(fileName, rounded, overwrite: true);
        }
        catch (Exception e) when (ImageOpener.IsOpenFailure(e))
        {
            throw new CliException($"{fileName}: {ImageOpener.Describe(e)}");
        }
    }

    private static void Format(DiskImageFile image, string fileName, Action<DiskImage.IO.BlockDevice> format)
    {
        try
        {
            format(image.Content);
            image.Flush();
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            throw new CliException($"{fileName}: {ImageOpener.Describe(e)}");
        }
    }

    /// <summary>The mke2fs-style options shared by <c>mkfs</c> and <c>make-fs</c>.</summary>
    internal sealed class Settings
    {
        private Ext4FormatProfile _profile = Ext4FormatProfile.Debian12;
        private int? _blockSize;
        private int _inodeSize = 256;
        private int? _bytesPerInode;
        private int _reserved = 5;
        private int? _journalBlocks;
        private Guid? _uuid;
        private Guid? _hashSeed;
        private string _label = string.Empty;

        /// <summary>Applies one option: -b, -I, -i, -m, -L, -U, -T, -O, -E.</summary>
        public void Apply(int option, string value)
        {
            switch (option)
            {
                case 'b':
                    _blockSize = ParseInt(value, "block size") is var b && b is 1024 or 2048 or 4096
                        ? b
                        : throw new CliException($"invalid block size '{value}' (use 1024, 2048 or 4096)");
                    break;
                case 'I':
                    _inodeSize = ParseInt(value, "inode size") is var i && i is 128 or 256
                        ? i
                        : throw new CliException($"invalid inode size '{value}' (use 128 or 256)");
                    break;
                case 'i':
                    _bytesPerInode = ParseInt(value, "inode ratio") is var r && r is >= 1024 and <= 67108864
                        ? r
                        : throw new CliException($"invalid inode ratio '{value}' (1024 to 67108864)");
                    break;
                case 'm':
                    _reserved = ParseInt(value, "reserved blocks percent") is var m && m is >= 0 and <= 50
                        ? m
                        : throw new CliException($"invalid reserved blocks percent '{value}' (0 to 50)");
                    break;
                case 'L':
                    if (System.Text.Encoding.UTF8.GetByteCount(value) > 16)
                    {
                        throw new CliException($"label '{value}' is too long (at most 16 bytes)");
                    }

                    _label = value;
                    break;
                case 'U':
                    _uuid = value switch
                    {
                        "random" => Guid.NewGuid(),
                        "clear" or "null" => Guid.Empty,
                        _ => Guid.TryParse(value, out Guid u) ? u : throw new CliException($"invalid UUID '{value}'"),
                    };
                    break;
                case 'T':
                    _profile = ParseProfile(value);
                    break;
                case 'O':
                    foreach (string feature in value.Split(',', StringSplitOptions.RemoveEmptyEntries))
                    {
                        _journalBlocks = feature switch
                        {
                            "^has_journal" => 0,
                            "has_journal" => null,
                            _ => throw new CliException($"feature '{feature}' cannot be set (the profile chooses the features; only ^has_journal is accepted)"),
                        };
                    }

                    break;
                case 'E':
                    foreach (string extended in value.Split(',', StringSplitOptions.RemoveEmptyEntries))
                    {
                        int eq = extended.IndexOf('=', StringComparison.Ordinal);
                        if (eq > 0 && extended[..eq] == "hash_seed" && Guid.TryParse(extended[(eq + 1)..], out Guid seed))
                        {
                            _hashSeed = seed;
                        }
                        else
                        {
                            throw new CliException($"invalid extended option '{extended}' (only hash_seed=UUID is supported)");
                        }
                    }

                    break;
            }
        }

        /// <summary>The format options; the time comes from <c>SOURCE_DATE_EPOCH</c> when it is set.</summary>
        public Ext4FormatOptions Build() => new()
        {
            Profile = _profile,
            BlockSize = _blockSize,
            InodeSize = _inodeSize,
            BytesPerInode = _bytesPerInode,
            ReservedBlocksPercent = _reserved,
            JournalBlocks = _journalBlocks,
            Uuid = _uuid,
            HashSeed = _hashSeed,
            Label = _label,
            Timestamp = SourceDateEpoch(),
        };

        private static int ParseInt(string value, string what) =>
            int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed)
                ? parsed
                : throw new CliException($"invalid {what} '{value}'");

        private static Ext4FormatProfile ParseProfile(string value) => value switch
        {
            "debian12" or "debian" or "ubuntu" or "rhel8" or "rhel9" or "ext4" or "default" => Ext4FormatProfile.Debian12,
            "rhel7" => Ext4FormatProfile.Rhel7,
            "upstream" or "debian13" => Ext4FormatProfile.Upstream,
            _ => throw new CliException($"unknown profile '{value}' (use debian12, rhel8, rhel9, rhel7 or upstream)"),
        };

        private static DateTimeOffset? SourceDateEpoch()
        {
            string? text = Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
            if (string.IsNullOrEmpty(text))
            {
                return null;
            }

            return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long seconds) && seconds <= uint.MaxValue
                ? DateTimeOffset.FromUnixTimeSeconds(seconds)
                : throw new CliException($"SOURCE_DATE_EPOCH '{text}' is not a number of seconds (0 to 4294967295)");
        }
    }
}
