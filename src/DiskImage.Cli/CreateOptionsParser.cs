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

    /// <summary>Prints the options <paramref name="format"/> accepts (<c>-o help</c>).</summary>
    public static string Help(DiskImageFormat format)
    {
        var sb = new StringBuilder("Supported options:\n");
        foreach ((string name, string type, string help) in format == DiskImageFormat.Qcow2 ? Qcow2Options : RawOptions)
        {
            string left = $"{name}=<{type}>";
            sb.Append(CultureInfo.InvariantCulture, $"  {left,-22} - {help}\n");
        }

        return sb.ToString();
    }

    /// <summary>Checks that every key of <paramref name="options"/> is known for <paramref name="format"/>.</summary>
    public static void CheckKeys(QemuOptionList options, DiskImageFormat format, string fileName)
    {
        (string Name, string Type, string Help)[] known = format == DiskImageFormat.Qcow2 ? Qcow2Options : RawOptions;
        foreach (KeyValuePair<string, string> item in options.Items)
        {
            if (Array.FindIndex(known, k => k.Name == item.Key) < 0)
            {
                throw new CliException(item.Key is "data_file" or "data_file_raw" or "encryption" or "nocow" or "extent_size_hint" || item.Key.StartsWith("encrypt.", StringComparison.Ordinal)
                    ? $"{Prefix(fileName)}Parameter '{item.Key}' is not supported by diskimage"
                    : $"{Prefix(fileName)}Invalid parameter '{item.Key}'");
            }
        }
    }

    /// <summary>Parses an optional size-valued option (<c>size</c>, <c>cluster_size</c>).</summary>
    public static long? ParseSizeOption(QemuOptionList options, string key)
    {
        string? text = options.Get(key);
        if (text is null)
        {
            return null;
        }

        if (!QemuSize.TryParse(text, out long value))
        {
            throw new CliException($"Parameter '{key}' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.");
        }

        return value;
    }

    private static bool? ParseBool(QemuOptionList options, string key)
    {
        string? text = options.Get(key);
        return text switch
        {
            null => null,
            "on" or "yes" or "true" or "y" => true,
            "off" or "no" or "false" or "n" => false,
            _ => throw new CliException($"Parameter '{key}' expects 'on' or 'off'"),
        };
    }

    /// <summary>
    /// Builds qcow2 options from <c>-o</c> (keys already checked) and returns them with the text qemu-img
    /// prints after "fmt=qcow2" (cluster_size ... refcount_bits). Consistency errors are raised by
    /// <see cref="Validate"/> so that, as in qemu-img, the "Formatting" line comes first.
    /// </summary>
    public static (Func<Qcow2CreateOptions> Build, string Description) ParseQcow2(QemuOptionList options, long size, string fileName)
    {
        long clusterSize = ParseSizeOption(options, "cluster_size") ?? 65536;
        string? compat = options.Get("compat");
        int version = compat switch
        {
            null or "1.1" or "v3" => 3,
            "0.10" or "v2" => 2,
            _ => throw new CliException($"{Prefix(fileName)}Invalid parameter value for 'compat': '{compat}' (expecting 0.10, v2, 1.1 or v3)"),
        };
        string compressionName = options.Get("compression_type") ?? "zlib";
        Qcow2CompressionType compression = compressionName switch
        {
            "zlib" => Qcow2CompressionType.Deflate,
            "zstd" => Qcow2CompressionType.Zstd,
            _ => throw new CliException($"Parameter 'compression_type' does not accept value '{compressionName}'"),
        };
        bool extendedL2 = ParseBool(options, "extended_l2") ?? false;
        bool lazyRefcounts = ParseBool(options, "lazy_refcounts") ?? false;
        string? preallocationName = options.Get("preallocation");
        Qcow2Preallocation preallocation = preallocationName switch
        {
            null or "off" => Qcow2Preallocation.Off,
            "metadata" => Qcow2Preallocation.Metadata,
            "falloc" or "full" => throw new CliException($"{Prefix(fileName)}Preallocation mode '{preallocationName}' is not supported by diskimage (use off or metadata)"),
            _ => throw new CliException($"Parameter 'preallocation' does not accept value '{preallocationName}'"),
        };
        string? refcountText = options.Get("refcount_bits");
        long refcountBits = 16;
        if (refcountText is not null && !long.TryParse(refcountText, NumberStyles.None, CultureInfo.InvariantCulture, out refcountBits))
        {
            throw new CliException($"Parameter 'refcount_bits' expects a number");
        }

        string? backingFile = options.Get("backing_file");
        string? backingFormatName = options.Get("backing_fmt");

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"cluster_size={clusterSize} extended_l2={OnOff(extendedL2)}");
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

        sb.Append(CultureInfo.InvariantCulture, $" lazy_refcounts={OnOff(lazyRefcounts)} refcount_bits={refcountBits}");

        Qcow2CreateOptions Build()
        {
            Validate(fileName, version, clusterSize, refcountBits, compression, extendedL2, lazyRefcounts);
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

    private static string OnOff(bool value) => value ? "on" : "off";
}
