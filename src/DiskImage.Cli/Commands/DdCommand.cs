using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.IO;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>dd [-f fmt] [-O output_fmt] [-U] [bs=block_size] [count=blocks] [skip=blocks] if=input of=output</c>:
/// copies a range of the input's guest-visible content into a new image, with qemu-img's operands and
/// output size (the input's length, cut to <c>count</c> blocks when that is shorter, less the <c>skip</c>
/// blocks). Unlike qemu-img, an output that is the input (or one of its backing files) is refused.
/// </summary>
internal static class DdCommand
{
    private const int OptHelp = 1000;
    private const int OptForceShare = 1001;
    private const int OptImageOpts = 1002;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        string? sourceFormat = null;
        string targetFormatName = "raw";
        bool forceShare = false;
        var getopt = new GetOpt(
            args,
            "f:O:hU",
            new LongOption("force-share", false, OptForceShare),
            new LongOption("image-opts", false, OptImageOpts),
            new LongOption("help", false, OptHelp));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': sourceFormat = value; break;
                case 'O': targetFormatName = value!; break;
                case 'U' or OptForceShare: forceShare = true; break;
                case OptImageOpts: throw new CliException("--image-opts is not supported by diskimage; give the input as a file name");
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        long blockSize = 512;
        long? count = null;
        long skip = 0;
        string? input = null;
        string? output = null;
        foreach (string operand in getopt.Operands)
        {
            int eq = operand.IndexOf('=', StringComparison.Ordinal);
            string key = eq < 0 ? operand : operand[..eq];
            string value = eq < 0 ? string.Empty : operand[(eq + 1)..];
            switch (eq < 0 ? null : key)
            {
                case "bs":
                    if (!QemuSize.TryParse(value, out blockSize) || blockSize is < 1 or > int.MaxValue)
                    {
                        throw new CliException("Invalid bs specified. Must be between 1 and 2147483647.");
                    }

                    break;
                case "count":
                    count = ParseBlocks(value, "count");
                    break;
                case "skip":
                    skip = ParseBlocks(value, "skip");
                    break;
                case "if": input = value; break;
                case "of": output = value; break;
                default: throw new CliException($"unrecognized operand {key}");
            }
        }

        if (input is null || output is null)
        {
            throw new CliException("Must specify both input and output files");
        }

        using DiskImageFile image = ImageOpener.Open(input, sourceFormat, writable: false, followBacking: true, forceShare: forceShare);
        // As qemu-img, the output format is looked up once the input is open.
        DiskImageFormat targetFormat = targetFormatName switch
        {
            "raw" => DiskImageFormat.Raw,
            "qcow2" => DiskImageFormat.Qcow2,
            _ => throw new CliException("Unknown file format"),
        };
        if (ImageFiles.FindAlias(output, ImageFiles.Of(image)) is not null)
        {
            throw new CliException($"{output}: {ImageOpener.SameFileMessage(output)}");
        }

        // qemu sees every image as whole 512-byte sectors (a 1000-byte raw file is 1024 bytes long), and so
        // does the arithmetic below: the output is that view's range, rounded up to a sector, zeros past the input.
        BlockDevice content = image.Content;
        long size = RoundUpToSector(content.Length);
        if (count is { } blocks && blocks <= long.MaxValue / blockSize && blocks * blockSize < size)
        {
            size = blocks * blockSize;
        }

        // As qemu-img: the output is as long as the copied range, and empty when skip passes its end.
        bool skipPastEnd = skip > long.MaxValue / blockSize || skip * blockSize > size;
        long start = skipPastEnd ? 0 : skip * blockSize;
        long length = skipPastEnd ? 0 : size - start;
        try
        {
            using var window = new ZeroExtendedDevice(content, start, length, RoundUpToSector(length));
            var options = new ConvertOptions
            {
                TargetFormat = targetFormat,
                Overwrite = true, // qemu-img dd replaces an existing output
            };
            ImageConverter.Convert(window, output, options, progress: null, cancellationToken);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException or ArgumentException)
        {
            throw new CliException($"{output}: error while writing {ImageOpener.FormatName(targetFormat)}: {ImageOpener.Describe(e)}");
        }

        if (skipPastEnd)
        {
            // qemu-img reports this after creating the empty output and still exits 0.
            stderr.Write($"{Cli.ProgramName}: {input}: cannot skip to specified offset\n");
        }

        return 0;
    }

    private static long RoundUpToSector(long length) => length % 512 == 0 ? length : checked(length + 512 - (length % 512));

    private static long ParseBlocks(string value, string name)
    {
        if (!QemuSize.TryParse(value, out long blocks))
        {
            throw new CliException($"Invalid {name} specified." + QemuSize.SuffixHint);
        }

        return blocks;
    }
}
