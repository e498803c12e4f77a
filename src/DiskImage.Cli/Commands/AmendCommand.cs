using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>amend [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename</c>: qcow2 <c>compat=1.1</c>
/// (upgrade) and <c>lazy_refcounts</c>; options that would rebuild the image are refused by name.
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

        // The writable open takes the write lock and repairs a dirty image, as qemu-img's open does.
        int version;
        int refcountBits;
        long size;
        using (DiskImageFile image = ImageOpener.Open(fileName, format, writable: true, followBacking: true))
        {
            if (image is not Qcow2Image qcow2)
            {
                throw new CliException($"Format driver '{ImageOpener.FormatName(image.Format)}' does not support option amendment");
            }

            version = qcow2.Version;
            refcountBits = qcow2.RefcountBits;
            size = qcow2.VirtualSize;
        }

        bool upgrade = false;
        bool? lazy = null;
        foreach ((string key, string value) in options.Items)
        {
            switch (key)
            {
                case "compat":
                    int wanted = value switch
                    {
                        "0.10" or "v2" => 2,
                        "1.1" or "v3" => 3,
                        _ => throw new CliException($"Invalid compatibility level: '{value}'"),
                    };
                    if (wanted < version)
                    {
                        throw new CliException("Downgrading to compat=0.10 is not supported by diskimage");
                    }

                    upgrade = wanted > version;
                    break;
                case "lazy_refcounts":
                    lazy = value switch
                    {
                        "on" => true,
                        "off" => false,
                        _ => throw new CliException($"Parameter 'lazy_refcounts' expects 'on' or 'off'"),
                    };
                    break;
                case "refcount_bits":
                    if (value != refcountBits.ToString(System.Globalization.CultureInfo.InvariantCulture))
                    {
                        throw new CliException("Changing refcount_bits is not supported by diskimage");
                    }

                    break;
                case "size":
                    if (!QemuSize.TryParse(value, out long newSize) || newSize != size)
                    {
                        throw new CliException("Changing the size with amend is not supported by diskimage (use resize)");
                    }

                    break;
                case "backing_file" or "backing_fmt":
                    throw new CliException("Changing the backing file with amend is not supported by diskimage (use rebase -u)");
                case "data_file" or "data_file_raw":
                    throw new CliException("External data files are not supported by diskimage");
                default:
                    throw new CliException(Array.IndexOf(CreationOnly, key) >= 0
                        ? $"Invalid parameter '{key}'\nThis option is only supported for image creation"
                        : $"Invalid parameter '{key}'");
            }
        }

        if (lazy is not null && version < 3 && !upgrade)
        {
            throw new CliException("Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
        }

        if (!upgrade && lazy is null)
        {
            return 0;
        }

        using FileBlockDevice host = FileBlockDevice.Open(fileName, writable: true, ImageLocking.Enabled);
        try
        {
            Qcow2Image.AmendHeader(host, upgrade, lazy);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            throw new CliException(e.Message);
        }

        return 0;
    }
}
