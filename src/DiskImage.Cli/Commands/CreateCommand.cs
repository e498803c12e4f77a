using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.Formats.Luks;
using DiskImage.Formats.Qcow2;
using DiskImage.Formats.Raw;

namespace DiskImage.Cli.Commands;

/// <summary><c>create [-q] [-f fmt] [-o options] [-b backing [-F backing_fmt]] [-u] filename [size]</c>.</summary>
internal static class CreateCommand
{
    private const int OptHelp = 1000;

    public static int Run(string[] args, TextWriter stdout)
    {
        string formatName = "raw";
        var options = new QemuOptionList();
        string? backing = null;
        string? backingFormat = null;
        bool unsafeBacking = false;
        bool quiet = false;
        var getopt = new GetOpt(args, "b:F:f:ho:qu", new LongOption("help", false, OptHelp));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'b': backing = value; break;
                case 'F': backingFormat = value; break;
                case 'f': formatName = value!; break;
                case 'o': options.Add(value!); break;
                case 'q': quiet = true; break;
                case 'u': unsafeBacking = true; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        DiskImageFormat format = ImageOpener.ParseFormat(formatName)!.Value;
        if (options.HelpRequested)
        {
            stdout.Write(CreateOptionsParser.Help(format, withFileName: getopt.Operands.Count > 0));
            return 0;
        }

        if (getopt.Operands.Count == 0)
        {
            throw CliException.Usage("Expecting image file name");
        }

        if (getopt.Operands.Count > 2)
        {
            throw CliException.Usage($"Unexpected argument: {getopt.Operands[2]}");
        }

        string fileName = getopt.Operands[0];
        long? size = null;
        if (getopt.Operands.Count == 2)
        {
            if (!QemuSize.TryParse(getopt.Operands[1], out long parsed))
            {
                throw new CliException("Invalid image size specified." + QemuSize.SuffixHint);
            }

            size = parsed;
        }

        if (backing is not null)
        {
            options.Set("backing_file", backing);
        }

        if (backingFormat is not null)
        {
            options.Set("backing_fmt", backingFormat);
        }

        CreateOptionsParser.CheckKeys(options, format, fileName);
        long? optionSize = CreateOptionsParser.ParseSizeOption(options, "size", fileName);
        if (size is not null && optionSize is not null)
        {
            throw new CliException($"{fileName}: The image size must be specified only once");
        }

        size ??= optionSize;

        if (format == DiskImageFormat.Raw)
        {
            string? rawPreallocation = options.Get("preallocation");

            if (size is not { } rawSize)
            {
                throw new CliException($"{fileName}: Image creation needs a size parameter");
            }

            if (!quiet)
            {
                string preallocationText = options.Get("preallocation") is { } p ? " preallocation=" + p : "";
                stdout.Write($"Formatting '{fileName}', fmt=raw size={rawSize}{preallocationText}\n");
            }

            if (rawPreallocation is not (null or "off" or "falloc" or "full" or "metadata"))
            {
                throw new CliException($"{fileName}: invalid parameter value: {rawPreallocation}");
            }

            if (rawPreallocation == "metadata")
            {
                // qemu-img creates the (empty) file before its driver refuses the mode.
                File.WriteAllBytes(fileName, []);
                throw new CliException($"{fileName}: Unsupported preallocation mode: metadata");
            }

            if (rawPreallocation is "falloc" or "full")
            {
                Create(fileName, () =>
                {
                    DiskImage.Formats.Raw.RawPreallocation.Create(fileName, RoundUpToSector(rawSize), full: rawPreallocation == "full");
                    return RawImage.Open(fileName);
                });
                return 0;
            }

            Create(fileName, () => RawImage.Create(fileName, RoundUpToSector(rawSize), overwrite: true));
            return 0;
        }

        if (format == DiskImageFormat.Luks)
        {
            if (size is not { } luksSize)
            {
                throw new CliException($"{fileName}: Image creation needs a size parameter");
            }

            LuksCreateOptions luks = LuksCliOptions.Build(options, "", fileName)!;
            if (!quiet)
            {
                stdout.Write($"Formatting '{fileName}', fmt=luks size={luksSize} {LuksCliOptions.Describe(options, "").TrimEnd()}\n");
            }

            Create(fileName, () => LuksImage.Create(fileName, RoundUpToSector(luksSize), luks, overwrite: true));
            return 0;
        }

        string? backingName = options.Get("backing_file");
        string? backingFormatName = options.Get("backing_fmt");
        if (backingName is not null)
        {
            string backingPath = ImageOpener.CombineBackingName(fileName, backingName);
            if (backingFormatName is null)
            {
                string detected = "";
                if (!unsafeBacking && File.Exists(backingPath))
                {
                    detected = $"\nDetected format of {DiskImageFile.DetectFormatName(backingPath)}.";
                }

                throw new CliException($"{fileName}: Backing file specified without backing format{detected}");
            }

            if (ImageOpener.ParseFormat(backingFormatName) is not { } parsedBackingFormat)
            {
                throw new CliException($"{fileName}: Unknown backing format '{backingFormatName}'");
            }

            // The new image must not be (by any spelling) a file of its own backing chain: creating it
            // would truncate the backing data.
            var inputs = new List<string> { backingPath };
            if (!unsafeBacking)
            {
                // Like qemu-img: the backing file must open; its size is the default size.
                try
                {
                    using DiskImageFile backingImage = DiskImageFile.Open(backingPath, new DiskImageOpenOptions
                    {
                        Format = parsedBackingFormat,
                        BackingFiles = BackingFilePolicy.Allow,
                    });
                    size ??= backingImage.Content.Length;
                    inputs.AddRange(ImageFiles.Of(backingImage));
                }
                catch (Exception e) when (ImageOpener.IsOpenFailure(e))
                {
                    throw new CliException($"{fileName}: Could not open '{backingName}': {ImageOpener.Describe(e)}\nCould not open backing image.");
                }
            }
            else if (File.Exists(backingPath))
            {
                // -u does not need the backing file, but when it opens, its chain is still not to be overwritten.
                try
                {
                    using DiskImageFile backingImage = DiskImageFile.Open(backingPath, new DiskImageOpenOptions
                    {
                        Format = parsedBackingFormat,
                        BackingFiles = BackingFilePolicy.Allow,
                    });
                    inputs.AddRange(ImageFiles.Of(backingImage));
                }
                catch (Exception e) when (ImageOpener.IsOpenFailure(e))
                {
                }
            }

            if (ImageFiles.FindAlias(fileName, inputs) is not null)
            {
                throw new CliException($"{fileName}: {ImageOpener.SameFileMessage(fileName)}");
            }
        }

        if (size is not { } virtualSize)
        {
            throw new CliException($"{fileName}: Image creation needs a size parameter");
        }

        (Func<Qcow2CreateOptions> build, string description) = CreateOptionsParser.ParseQcow2(options, virtualSize, fileName);
        if (!quiet)
        {
            stdout.Write($"Formatting '{fileName}', fmt=qcow2 {description}\n");
        }

        Qcow2CreateOptions createOptions = build();
        Create(fileName, () => Qcow2Image.Create(fileName, RoundUpToSector(virtualSize), createOptions, overwrite: true), unsafeBacking && backingName is not null);
        return 0;
    }

    // qemu-img rounds the size of a new image up to whole 512-byte sectors (the message shows it as given).
    private static long RoundUpToSector(long size) => size > long.MaxValue - 511 ? size : (size + 511) & ~511L;

    private static void Create(string fileName, Func<DiskImageFile> create, bool unsafeBacking = false)
    {
        try
        {
            using DiskImageFile image = create();
            image.Flush();
        }
        catch (Exception e) when (ImageOpener.IsOpenFailure(e))
        {
            // The new image is written and flushed before it is opened with its backing chain; with -u
            // (as in qemu-img) a backing file that is missing or does not open is no error, so the
            // image stands when its own header reads back.
            if (unsafeBacking && HeaderReadsBack(fileName))
            {
                return;
            }

            throw new CliException($"{fileName}: {ImageOpener.Describe(e)}");
        }
    }

    private static bool HeaderReadsBack(string fileName)
    {
        try
        {
            using DiskImageFile image = DiskImageFile.Open(fileName, new DiskImageOpenOptions { Format = DiskImageFormat.Qcow2, MetadataOnly = true });
            return true;
        }
        catch (Exception e) when (ImageOpener.IsOpenFailure(e))
        {
            return false;
        }
    }
}
