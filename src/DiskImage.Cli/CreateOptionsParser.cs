using System.Globalization;
using System.Text;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;

namespace DiskImage.Cli;

/// <summary>The <c>-o</c> creation options of a format, checked and turned into library options, with qemu-img's messages.</summary>
internal sealed class CreateOptionsParser
{
    private const string V3Hint = " (use version=v3 or greater)";

    private static readonly (string Name, string Type, string Help)[] Qcow2Options =
    [
        ("backing_file", "str", "Name of the backing image"),
        ("backing_fmt", "str", "Format of the backing image (qcow2 or raw)"),
        ("cluster_size", "size", "Cluster size, a power of two from 512 to 2M (default 64k)"),
        ("compat", "str", "Version: 0.10 or v2, 1.1 or v3 (default)"),
        ("compression_type", "str", "Codec of compressed clusters: zlib (default) or zstd"),
        ("extended_l2", "bool (on/off)", "Extended L2 entries with 32 subclusters"),
        ("lazy_refcounts", "bool (on/off)", "Defer refcount updates (v3)"),
        ("preallocation", "str", "Preallocation mode (allowed values: off, metadata)"),
        ("refcount_bits", "num", "Refcount width in bits, a power of two from 1 to 64 (default 16)"),
        ("size", "size", "Virtual disk size"),
    ];

    private static readonly (string Name, string Type, string Help)[] RawOptions =
    [
        ("preallocation", "str", "Preallocation mode (allowed values: off)"),
        ("size", "size", "Virtual disk size"),
    ];

    /// <summary>Prints the options <paramref name="format"/> accepts (<c>-o help</c>); qemu-img names the format when no file name is given.</summary>
    public static string Help(DiskImageFormat format, bool withFileName = true)
    {
        var sb = new StringBuilder(withFileName ? "Supported options:\n" : $"Supported {ImageOpener.FormatName(format)} options:\n");
        foreach ((string name, string type, string help) in format == DiskImageFormat.Qcow2 ? Qcow2Options : format == DiskImageFormat.Luks ? LuksCliOptions.Options : RawOptions)
        {
            string left = $"{name}=<{type}>";
            sb.Append(CultureInfo.InvariantCulture, $"  {left,-22} - {help}\n");
        }

        return sb.ToString();
    }

    /// <summary>Checks that every key of <paramref name="options"/> is known for <paramref name="format"/>.</summary>
    public static void CheckKeys(QemuOptionList options, DiskImageFormat format, string fileName)
    {
        if (format == DiskImageFormat.Raw && (options.Get("backing_file") is not null || options.Get("backing_fmt") is not null))
        {
            throw new CliException($"{Prefix(fileName)}Backing file not supported for file format 'raw'");
        }

        (string Name, string Type, string Help)[] known = format == DiskImageFormat.Qcow2 ? Qcow2Options : format == DiskImageFormat.Luks ? LuksCliOptions.Options : RawOptions;
        foreach (KeyValuePair<string, string> item in options.Items)
        {
            if (Array.FindIndex(known, k => k.Name == item.Key) < 0 && !(format == DiskImageFormat.Qcow2 && LuksCliOptions.IsQcow2Key(item.Key)))
            {
                throw new CliException(item.Key is "data_file" or "data_file_raw" or "encryption" or "nocow" or "extent_size_hint" || item.Key.StartsWith("encrypt.", StringComparison.Ordinal)
                    ? $"{Prefix(fileName)}Parameter '{item.Key}' is not supported by diskimage"
                    : $"{Prefix(fileName)}Invalid parameter '{item.Key}'");
            }
        }
    }

    /// <summary>Parses an optional size-valued option (<c>size</c>, <c>cluster_size</c>).</summary>
    public static long? ParseSizeOption(QemuOptionList options, string key, string fileName = "")
    {
        string? text = options.Get(key);
        if (text is null)
        {
            return null;
        }

        if (!QemuSize.TryParse(text, out long value))
        {
            throw new CliException($"{Prefix(fileName)}Parameter '{key}' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.");
        }

        return value;
    }

    private static bool? ParseBool(QemuOptionList options, string key, string fileName)
    {
        string? text = options.Get(key);
        return text switch
        {
            null => null,
            "on" or "yes" or "true" or "y" => true,
            "off" or "no" or "false" or "n" => false,
            _ => throw new CliException($"{Prefix(fileName)}Parameter '{key}' expects 'on' or 'off'"),
        };
    }

    /// <summary>
    /// Builds qcow2 options from <c>-o</c> (keys already checked) and returns them with the text qemu-img
    /// prints after "fmt=qcow2" (cluster_size ... refcount_bits). Consistency errors are raised by
    /// <see cref="Validate"/> so that, as in qemu-img, the "Formatting" line comes first.
    /// </summary>
    public static (Func<Qcow2CreateOptions> Build, string Description) ParseQcow2(QemuOptionList options, long size, string fileName)
    {
        // Values of number and boolean options are checked while parsing (before the "Formatting"
        // line), choices such as compat or compression_type when the image is made (after it).
        long clusterSize = ParseSizeOption(options, "cluster_size", fileName) ?? 65536;
        string? compat = options.Get("compat");
        string compressionName = options.Get("compression_type") ?? "zlib";
        bool extendedL2 = ParseBool(options, "extended_l2", fileName) ?? false;
        bool lazyRefcounts = ParseBool(options, "lazy_refcounts", fileName) ?? false;
        string? preallocationName = options.Get("preallocation");
        string? refcountText = options.Get("refcount_bits");
        long refcountBits = 16;
        if (refcountText is not null && !long.TryParse(refcountText, NumberStyles.None, CultureInfo.InvariantCulture, out refcountBits))
        {
            throw new CliException($"{Prefix(fileName)}Parameter 'refcount_bits' expects a number");
        }

        string? backingFile = options.Get("backing_file");
        string? backingFormatName = options.Get("backing_fmt");

        var sb = new StringBuilder(LuksCliOptions.Describe(options, "encrypt."));
        // Booleans are echoed as typed ("yes", "on"...), like qemu-img's option printer.
        sb.Append(CultureInfo.InvariantCulture, $"cluster_size={clusterSize} extended_l2={options.Get("extended_l2") ?? "off"}");
        if (preallocationName is not null)
        {
            sb.Append(" preallocation=").Append(preallocationName);
        }

        sb.Append(CultureInfo.InvariantCulture, $" compression_type={compressionName} size={size}");
        if (backingFile is not null)
        {
            sb.Append(" backing_file=").Append(backingFile);
        }

        if (backingFormatName is not null)
        {
            sb.Append(" backing_fmt=").Append(backingFormatName);
        }

        if (compat is not null)
        {
            sb.Append(" compat=").Append(compat);
        }

        sb.Append(CultureInfo.InvariantCulture, $" lazy_refcounts={options.Get("lazy_refcounts") ?? "off"} refcount_bits={refcountBits}");

        Qcow2CreateOptions Build()
        {
            int version = compat switch
            {
                null or "1.1" or "v3" => 3,
                "0.10" or "v2" => 2,
                _ => throw new CliException($"{Prefix(fileName)}Parameter 'version' does not accept value '{compat}'"),
            };
            Qcow2CompressionType compression = compressionName switch
            {
                "zlib" => Qcow2CompressionType.Deflate,
                "zstd" => Qcow2CompressionType.Zstd,
                _ => throw new CliException($"{Prefix(fileName)}Parameter 'compression-type' does not accept value '{compressionName}'"),
            };
            Qcow2Preallocation preallocation = preallocationName switch
            {
                null or "off" => Qcow2Preallocation.Off,
                "metadata" => Qcow2Preallocation.Metadata,
                "falloc" or "full" => throw new CliException($"{Prefix(fileName)}Preallocation mode '{preallocationName}' is not supported by diskimage (use off or metadata)"),
                _ => throw new CliException($"{Prefix(fileName)}Parameter 'preallocation' does not accept value '{preallocationName}'"),
            };
            Validate(fileName, version, clusterSize, refcountBits, compression, extendedL2, lazyRefcounts);
            if (clusterSize is >= 512 and <= 2 * 1024 * 1024)
            {
                // One L2 table maps cluster_size / entry_size clusters; the L1 table may not exceed 32 MiB.
                long l2Span = clusterSize / (extendedL2 ? 16 : 8) * clusterSize;
                if (((size - 1) / l2Span) + 1 > 32L * 1024 * 1024 / 8)
                {
                    throw new CliException($"{Prefix(fileName)}The image size is too large for file format 'qcow2' (try using a larger cluster size)");
                }
            }

            return new Qcow2CreateOptions
            {
                Version = version,
                ClusterSize = (int)clusterSize,
                RefcountBits = (int)refcountBits,
                CompressionType = compression,
                ExtendedL2 = extendedL2,
                LazyRefcounts = lazyRefcounts,
                Preallocation = preallocation,
                BackingFile = backingFile,
                BackingFormat = backingFormatName is null ? null : ImageOpener.ParseFormat(backingFormatName),
                Encryption = LuksCliOptions.Build(options, "encrypt.", fileName),
            };
        }

        return (Build, sb.ToString());
    }

    /// <summary>The consistency rules of qcow2 creation, with qemu-img's messages.</summary>
    private static void Validate(string fileName, int version, long clusterSize, long refcountBits, Qcow2CompressionType compression, bool extendedL2, bool lazyRefcounts)
    {
        string? error = null;
        if (clusterSize < 512 || clusterSize > 2 * 1024 * 1024 || (clusterSize & (clusterSize - 1)) != 0)
        {
            error = "Cluster size must be a power of two between 512 and 2048k";
        }
        else if (refcountBits < 1 || refcountBits > 64 || (refcountBits & (refcountBits - 1)) != 0)
        {
            error = "Refcount width must be a power of two and may not exceed 64 bits";
        }
        else if (version < 3 && refcountBits != 16)
        {
            error = "Different refcount widths than 16 bits require compatibility level 1.1 or above" + V3Hint;
        }
        else if (version < 3 && lazyRefcounts)
        {
            error = "Lazy refcounts only supported with compatibility level 1.1 and above" + V3Hint;
        }
        else if (version < 3 && compression != Qcow2CompressionType.Deflate)
        {
            error = "Non-zlib compression type is only supported with compatibility level 1.1 and above" + V3Hint;
        }
        else if (version < 3 && extendedL2)
        {
            error = "Extended L2 entries are only supported with compatibility level 1.1 and above" + V3Hint;
        }
        else if (extendedL2 && clusterSize < 16384)
        {
            error = "Extended L2 entries are only supported with cluster sizes of at least 16384 bytes";
        }

        if (error is not null)
        {
            throw new CliException(Prefix(fileName) + error);
        }
    }

    /// <summary>"name: " before a message about the image being created; nothing when there is no file (measure).</summary>
    private static string Prefix(string fileName) => fileName.Length == 0 ? "" : fileName + ": ";

}
