using System.Globalization;
using DiskImage.Archives.Cpio;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>mkinitramfs dir -o file [--compress c] [--level N] [--early dir] [--reproducible] [--root-owner] [--format newc|crc]</c>:
/// packs a host directory (and optionally an uncompressed early directory) into an initramfs image.
/// </summary>
internal static class MkInitramfsCommand
{
    private const int OptCompress = 1000;
    private const int OptLevel = 1001;
    private const int OptEarly = 1002;
    private const int OptReproducible = 1003;
    private const int OptRootOwner = 1004;
    private const int OptFormat = 1005;
    private const int OptOutput = 1006;
    private const int OptHelp = 1007;

    public static int Run(string[] args, TextWriter stdout, CancellationToken cancellationToken = default)
    {
        string? output = null;
        string? early = null;
        var compression = InitramfsWriteOptions.Default.Compression;
        int? compressionLevel = null;
        bool reproducible = false, rootOwner = false;
        var format = CpioFormat.Newc;
        var getopt = new GetOpt(
            args,
            "ho:",
            new LongOption("output", true, OptOutput),
            new LongOption("compress", true, OptCompress),
            new LongOption("level", true, OptLevel),
            new LongOption("early", true, OptEarly),
            new LongOption("reproducible", false, OptReproducible),
            new LongOption("root-owner", false, OptRootOwner),
            new LongOption("format", true, OptFormat),
            new LongOption("help", false, OptHelp));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'o' or OptOutput: output = value; break;
                case OptCompress: compression = ParseCompression(value!); break;
                case OptLevel:
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int level))
                    {
                        throw CliException.Usage($"Invalid compression level '{value}'");
                    }

                    compressionLevel = level;
                    break;
                case OptEarly: early = value; break;
                case OptReproducible: reproducible = true; break;
                case OptRootOwner: rootOwner = true; break;
                case OptFormat:
                    format = value switch
                    {
                        "newc" => CpioFormat.Newc,
                        "crc" => CpioFormat.Crc,
                        _ => throw CliException.Usage($"Unknown cpio format '{value}' (use newc or crc)"),
                    };
                    break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 1)
        {
            throw CliException.Usage("Expecting one source directory");
        }

        if (string.IsNullOrEmpty(output))
        {
            throw CliException.Usage("Expecting an output file name (-o file)");
        }

        string source = getopt.Operands[0];
        if (!DiskImage.FileSystems.HostTreeWriter.DirectoryExists(source))
        {
            throw new CliException($"Could not open '{source}': No such directory");
        }

        if (early is not null && !DiskImage.FileSystems.HostTreeWriter.DirectoryExists(early))
        {
            throw new CliException($"Could not open '{early}': No such directory");
        }

        var options = new InitramfsWriteOptions
        {
            Compression = compression,
            CompressionLevel = compressionLevel,
            Build = new CpioBuildOptions
            {
                Format = format,
                Reproducible = reproducible,
                Uid = rootOwner ? 0 : null,
                Gid = rootOwner ? 0 : null,
            },
        };

        // Pack writes a temporary file and renames it, so a refused compression (xz, lzo), a failure or an interrupt leaves no output.
        Initramfs.Pack(source, output, options, early, overwrite: true, cancellationToken);
        return 0;
    }

    internal static InitramfsCompression ParseCompression(string value) => value switch
    {
        "zstd" => InitramfsCompression.Zstd,
        "gzip" => InitramfsCompression.Gzip,
        "bzip2" => InitramfsCompression.Bzip2,
        "lzma" => InitramfsCompression.Lzma,
        "lz4" => InitramfsCompression.Lz4,
        "none" => InitramfsCompression.None,
        "xz" => InitramfsCompression.Xz,
        "lzo" => InitramfsCompression.Lzo,
        _ => throw CliException.Usage($"Unknown compression '{value}' (use zstd, gzip, bzip2, lzma, lz4 or none)"),
    };
}
