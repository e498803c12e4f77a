using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>amend [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename</c>: qcow2 <c>compat</c>
/// (upgrade, and downgrade with zero clusters expanded), <c>refcount_bits</c> (the refcount structure
/// rebuilt) and <c>lazy_refcounts</c>, in qemu-img's order and with its messages; <c>size</c> and
/// external data files are refused by name.
/// </summary>
internal static class AmendCommand
{
    private const int OptHelp = 1000;
    private const int OptForce = 1001;

    private static readonly string[] CreationOnly =
        ["cluster_size", "preallocation", "extended_l2", "compression_type", "encryption", "nocow"];

    public static int Run(string[] args, TextWriter stdout)
    {
        string? format = null;
        var options = new QemuOptionList();
        bool haveOptions = false;
        var getopt = new GetOpt(args, "ho:f:t:pq", new LongOption("help", false, OptHelp), new LongOption("force", false, OptForce));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'o': options.Add(value!); haveOptions = true; break;
                case 'f': format = value; break;
                case 't': ImageOpener.CheckCacheMode(value!, "Invalid cache option"); break;
                case 'p' or 'q' or OptForce: break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (!haveOptions)
        {
            throw CliException.Usage("Must specify options (-o)");
        }

        if (getopt.Operands.Count != 1)
        {
            // qemu-img amend reports this one without the help hint.
            throw new CliException("Expecting one image file name");
        }

        string fileName = getopt.Operands[0];

        // Options are parsed as qemu-img parses them: types in the order given, then the driver's
        // checks in its own order (compat before refcount_bits).
        string? compat = null;
        bool? lazy = null;
        long? refcountBitsWanted = null;
        string? sizeValue = null;
        string? backingFile = null;
        string? backingFormat = null;
        bool hasBacking = false;
        foreach ((string key, string value) in options.Items)
        {
            switch (key)
            {
                case "compat": compat = value; break;
                case "lazy_refcounts":
                    lazy = value switch
                    {
                        "on" => true,
                        "off" => false,
                        _ => throw new CliException($"Parameter 'lazy_refcounts' expects 'on' or 'off'"),
                    };
                    break;
                case "refcount_bits":
                    refcountBitsWanted = long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long bits)
                        ? bits
                        : throw new CliException("Parameter 'refcount_bits' expects a number");
                    break;
                case "size": sizeValue = value; break;
                case "backing_file": backingFile = value; hasBacking = true; break;
                case "backing_fmt": backingFormat = value; hasBacking = true; break;
                case "data_file" or "data_file_raw":
                    throw new CliException("External data files are not supported by diskimage");
                default:
                    throw new CliException(Array.IndexOf(CreationOnly, key) >= 0
                        ? $"Invalid parameter '{key}'\nThis option is only supported for image creation"
                        : $"Invalid parameter '{key}'");
            }
        }

        int? wanted = compat switch
        {
            null => null,
            "0.10" or "v2" => 2,
            "1.1" or "v3" => 3,
            _ => throw new CliException($"Unknown compatibility level {compat}"),
        };
        if (refcountBitsWanted is { } rb && (rb <= 0 || rb > 64 || (rb & (rb - 1)) != 0))
        {
            throw new CliException("Refcount width must be a power of two and may not exceed 64 bits");
        }

        if (wanted == 2 && ExternalDataFileNamed(fileName))
        {
            throw new CliException("Cannot downgrade an image with a data file");
        }

        // The writable open takes the write lock and repairs a dirty image, as qemu-img's open does.
        int version;
        int refcountBits;
        long size;
        bool lazyNow;
        string? backingNow;
        string? backingFormatNow;
        using (DiskImageFile image = ImageOpener.Open(fileName, format, writable: true, followBacking: true))
        {
            if (image is not Qcow2Image qcow2)
            {
                throw new CliException($"Format driver '{ImageOpener.FormatName(image.Format)}' does not support option amendment");
            }

            version = qcow2.Version;
            refcountBits = qcow2.RefcountBits;
            size = qcow2.VirtualSize;
            ImageInfo info = qcow2.GetInfo();
            lazyNow = info.Qcow2!.LazyRefcounts;
            backingNow = info.BackingFileName;
            backingFormatNow = info.BackingFileFormat;
        }

        if (sizeValue is not null && (!QemuSize.TryParse(sizeValue, out long newSize) || newSize != size))
        {
            throw new CliException("Changing the size with amend is not supported by diskimage (use resize)");
        }

        int newVersion = wanted ?? version;
        int newBits = (int)(refcountBitsWanted ?? refcountBits);

        // qemu-img's order: upgrade, refcount width, backing file check, lazy refcounts, downgrade last.
        // A later step that fails leaves the earlier ones done, as in qemu-img.
        if (newVersion > version)
        {
            AmendHeader(fileName, h => Qcow2Image.AmendHeader(h, upgradeToVersion3: true, lazyRefcounts: null));
        }

        if (newBits != refcountBits)
        {
            if (newVersion < 3 && newBits != 16)
            {
                throw new CliException("Refcount widths other than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
            }

            string? refused = null;
            AmendHeader(fileName, h => refused = Qcow2Image.ChangeRefcountBits(h, newBits));
            if (refused is not null)
            {
                throw new CliException(refused);
            }
        }

        if (hasBacking && (backingFile != backingNow || backingFormat != backingFormatNow))
        {
            throw new CliException("Cannot amend the backing file\nYou can use 'diskimage rebase' instead.");
        }

        if (lazy is { } lazyWanted && lazyWanted != lazyNow)
        {
            if (lazyWanted && newVersion < 3)
            {
                throw new CliException("Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
            }

            AmendHeader(fileName, h => Qcow2Image.AmendHeader(h, upgradeToVersion3: false, lazyRefcounts: lazyWanted));
        }

        if (newVersion < version)
        {
            Downgrade(fileName, format);
        }

        return 0;
    }

    /// <summary>Turns a version 3 image into version 2 as qemu-img does (zero clusters expanded first).</summary>
    private static void Downgrade(string fileName, string? format)
    {
        using (DiskImageFile image = ImageOpener.Open(fileName, format, writable: true, followBacking: true))
        {
            var qcow2 = (Qcow2Image)image;
            if (qcow2.DowngradeRefusal() is { } refused)
            {
                throw new CliException(refused);
            }

            qcow2.ExpandZeroClusters();
            if (qcow2.CompressionType != Qcow2CompressionType.Deflate && qcow2.HasCompressedClusters())
            {
                throw new CliException("Cannot downgrade an image with zstd compression type and existing compressed clusters");
            }
        }

        AmendHeader(fileName, h => Qcow2Image.AmendHeader(h, upgradeToVersion3: false, lazyRefcounts: null, downgradeToVersion2: true));
    }

    /// <summary>Whether the file is a qcow2 image that names an external data file (read without opening it as an image).</summary>
    private static bool ExternalDataFileNamed(string fileName)
    {
        try
        {
            using FileBlockDevice host = FileBlockDevice.Open(fileName, writable: false, ImageLocking.ForceShare);
            return Qcow2Image.NamesExternalDataFile(host);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException)
        {
            return false;
        }
    }

    private static void AmendHeader(string fileName, Action<BlockDevice> change)
    {
        using FileBlockDevice host = FileBlockDevice.Open(fileName, writable: true, ImageLocking.Enabled);
        try
        {
            change(host);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            throw new CliException(e.Message);
        }
    }
}
