using System.Globalization;
using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.Formats.Luks;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>convert [-f fmt] [-O fmt] [-c] [-o options] [-S size] [-m N] [-l snapshot] [-n] [--target-is-zero]
/// [-p] [-q] [-U] [-W] src dst</c> through <see cref="ImageConverter"/>. As in qemu-img, the output
/// format defaults to raw and the whole backing chain of the source is flattened into the target.
/// With <c>-n</c> the target already exists and is overwritten in place (zeros are written unless
/// <c>--target-is-zero</c>).
/// </summary>
internal static class ConvertCommand
{
    private const int OptNoBacking = 1000;
    private const int OptForceShare = 1001;
    private const int OptTargetIsZero = 1002;
    private const int OptHelp = 1003;
    private const int OptSalvage = 1004;
    private const int OptBitmaps = 1005;
    private const int OptSkipBrokenBitmaps = 1006;
    private const int MaxSparseSize = 16 * 1024 * 1024;

    public static int Run(string[] args, TextWriter stdout, CancellationToken cancellationToken = default) =>
        Run(args, stdout, TextWriter.Null, cancellationToken);

    /// <summary>Runs <c>convert</c>; <paramref name="stderr"/> receives <c>--salvage</c>'s warnings.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        string? sourceFormat = null;
        string targetFormatName = "raw";
        bool compress = false;
        var options = new QemuOptionList();
        int sparseSize = 4096;
        int parallelism = Environment.ProcessorCount;
        bool progress = false;
        bool quiet = false;
        bool followBacking = true;
        bool forceShare = false;
        bool existingTarget = false;
        bool targetIsZero = false;
        string? snapshotParameter = null;
        string? targetBacking = null;
        string? targetBackingFormat = null;
        bool salvage = false;
        bool bitmaps = false;
        bool skipBrokenBitmaps = false;
        var getopt = new GetOpt(
            args,
            "B:cf:F:hl:m:nO:o:pqS:t:T:UW",
            new LongOption("no-backing", false, OptNoBacking),
            new LongOption("force-share", false, OptForceShare),
            new LongOption("target-is-zero", false, OptTargetIsZero),
            new LongOption("salvage", false, OptSalvage),
            new LongOption("bitmaps", false, OptBitmaps),
            new LongOption("skip-broken-bitmaps", false, OptSkipBrokenBitmaps),
            new LongOption("help", false, OptHelp));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'c': compress = true; break;
                case 'f': sourceFormat = value; break;
                case 'O': targetFormatName = value!; break;
                case 'o': options.Add(value!); break;
                case 'p': progress = true; break;
                case 'q': quiet = true; break;
                case 't': ImageOpener.CheckCacheMode(value!, "Invalid cache option"); break;
                case 'T': ImageOpener.CheckCacheMode(value!, "Invalid source cache option"); break;
                case 'W': break;
                case 'U' or OptForceShare: forceShare = true; break;
                case 'n': existingTarget = true; break;
                case 'l': snapshotParameter = value; break;
                case 'B': targetBacking = value; break;
                case 'F': targetBackingFormat = value; break;
                case OptTargetIsZero: targetIsZero = true; break;
                case OptSalvage: salvage = true; break;
                case OptBitmaps: bitmaps = true; break;
                case OptSkipBrokenBitmaps: skipBrokenBitmaps = true; break;
                case 'm':
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out parallelism) || parallelism is < 1 or > 16)
                    {
                        throw new CliException("Invalid number of coroutines. Allowed number of coroutines is between 1 and 16");
                    }

                    break;
                case 'S':
                    if (!QemuSize.TryParse(value!, out long sparse))
                    {
                        throw new CliException("Invalid buffer size for sparse output specified." + QemuSize.SuffixHint);
                    }

                    if (sparse % 512 != 0 || sparse > MaxSparseSize)
                    {
                        throw new CliException("Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to 16777216. Select 0 to disable sparse detection (fully allocates output).");
                    }

                    sparseSize = (int)sparse;
                    break;
                case OptNoBacking: followBacking = false; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        DiskImageFormat targetFormat = ImageOpener.ParseFormat(targetFormatName)!.Value;
        if (options.HelpRequested)
        {
            stdout.Write(CreateOptionsParser.Help(targetFormat, withFileName: getopt.Operands.Count > 0));
            return 0;
        }

        if (getopt.Operands.Count < 2)
        {
            throw CliException.Usage("Expecting a source and a target file name");
        }

        if (getopt.Operands.Count > 2 && snapshotParameter is not null)
        {
            throw new CliException("No support for concatenating multiple snapshot");
        }

        string source = getopt.Operands[0];
        string target = getopt.Operands[^1];
        if (compress && targetFormat != DiskImageFormat.Qcow2)
        {
            throw new CliException("Compression not supported for this file format");
        }

        if (targetBacking is not null && targetFormat == DiskImageFormat.Raw)
        {
            throw new CliException("Backing file not supported for file format 'raw'");
        }

        CreateOptionsParser.CheckKeys(options, targetFormat, target);
        string? outBacking = TargetBacking(options, targetBacking, targetBackingFormat, target, existingTarget, compress);
        if (outBacking is not null && getopt.Operands.Count > 2)
        {
            throw new CliException("Having a backing file for the target makes no sense when concatenating multiple input images");
        }

        if (options.Get("size") is not null)
        {
            throw new CliException($"{target}: Invalid parameter 'size'");
        }

        if (targetFormat == DiskImageFormat.Raw && options.Get("preallocation") is { } preallocation && preallocation != "off")
        {
            throw new CliException($"{target}: Preallocation mode '{preallocation}' is not supported by diskimage for raw images (use off)");
        }

        if (targetIsZero && !existingTarget)
        {
            throw new CliException("--target-is-zero requires use of -n flag");
        }

        if (existingTarget && (compress || options.Items.Count > 0))
        {
            throw new CliException("-n cannot be combined with -c or -o: the target exists already");
        }

        using DiskImageFile image = ImageOpener.Open(source, sourceFormat, writable: false, followBacking, forceShare: forceShare);
        using var moreSources = new SourceImages(getopt.Operands.Skip(1).SkipLast(1), sourceFormat, followBacking, forceShare);
        // Creating (or rewriting) a file the source reads from would destroy the source: compare the
        // target with every file of the source's chain by device and inode, before anything is written.
        List<string> inputs = ImageFiles.Of(image);
        bool sourceHasBacking = inputs.Count > 1 || moreSources.Any;
        moreSources.AddFiles(inputs);
        if (outBacking is not null)
        {
            inputs.Add(Path.GetFullPath(ImageOpener.CombineBackingName(target, outBacking)));
        }

        if (ImageFiles.FindAlias(target, inputs) is not null)
        {
            throw new CliException($"{target}: error while converting {ImageOpener.FormatName(targetFormat)}: {ImageOpener.SameFileMessage(target)}");
        }

        List<Qcow2Bitmap>? copiedBitmaps = bitmaps ? BitmapsToCopy(image, moreSources.Any, targetFormat, options, skipBrokenBitmaps, stderr) : null;
        using BlockDevice? snapshot = snapshotParameter is null ? null : OpenSnapshot(image, snapshotParameter);
        using BlockDevice? concatenated = moreSources.Any ? moreSources.Concatenate(image) : null;
        BlockDevice content = snapshot ?? concatenated ?? image.Content;
        using SalvageDevice? salvaged = salvage ? new SalvageDevice(content, stderr) : null;
        content = salvaged ?? content;

        ProgressPrinter? printer = progress && !quiet ? new ProgressPrinter(stdout) : null;
        printer?.Report(new ConvertProgress(0, content.Length));
        try
        {
            if (existingTarget)
            {
                using DiskImageFile targetImage = ImageOpener.Open(target, targetFormatName, writable: true, followBacking);
                if (targetImage.Content.Length < content.Length)
                {
                    throw new CliException($"The target ({targetImage.Content.Length} bytes) is smaller than the source ({content.Length} bytes)");
                }

                var copyOptions = new BlockCopyOptions { SparseSize = sparseSize, TargetIsZero = targetIsZero, MaxDegreeOfParallelism = parallelism };
                BlockCopier.Copy(content, targetImage.Content, copyOptions, printer, cancellationToken);
                targetImage.Flush();
            }
            else if (outBacking is not null)
            {
                // -B: the target names its backing file, which must open; only the source's top layer is written.
                Qcow2CreateOptions qcow2 = CreateOptionsParser.ParseQcow2(options, content.Length, target).Build();
                string backingPath = ImageOpener.CombineBackingName(target, outBacking);
                if (!File.Exists(backingPath))
                {
                    // qemu-img creates the target first and leaves it; diskimage writes nothing.
                    throw new CliException($"Could not open '{target}': Could not open backing file: Could not open '{outBacking}': No such file or directory");
                }

                Qcow2Image.Create(target, content.Length, qcow2, overwrite: true).Dispose();
                using DiskImageFile targetImage = ImageOpener.Open(target, "qcow2", writable: true, followBacking: true);
                OverlayCopier.Copy(content, sourceHasBacking, targetImage.Content, sparseSize, printer, cancellationToken);
                targetImage.Flush();
            }
            else if (targetFormat == DiskImageFormat.Luks)
            {
                // Every byte of a LUKS payload is ciphertext, so zeros are written too (no sparse target).
                LuksCreateOptions luks = LuksCliOptions.Build(options, "", target)!;
                using LuksImage targetImage = LuksImage.Create(target, (content.Length + 511) & ~511L, luks, overwrite: true);
                BlockCopier.Copy(content, targetImage.Content, new BlockCopyOptions { SparseSize = 0, MaxDegreeOfParallelism = parallelism }, printer, cancellationToken);
                targetImage.Flush();
            }
            else
            {
                Qcow2CreateOptions? qcow2 = targetFormat == DiskImageFormat.Qcow2
                    ? CreateOptionsParser.ParseQcow2(options, content.Length, target).Build()
                    : null;
                var convertOptions = new ConvertOptions
                {
                    TargetFormat = targetFormat,
                    Qcow2 = qcow2,
                    Compress = compress,
                    SparseSize = sparseSize,
                    MaxDegreeOfParallelism = parallelism,
                    Overwrite = true, // qemu-img convert replaces an existing target
                };
                ImageConverter.Convert(content, target, convertOptions, printer, cancellationToken);
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException or ArgumentException)
        {
            printer?.Abort();
            throw new CliException($"{target}: error while converting {ImageOpener.FormatName(targetFormat)}: {ImageOpener.Describe(e)}");
        }

        if (copiedBitmaps is { Count: > 0 })
        {
            CopyBitmaps((Qcow2Image)image, target, copiedBitmaps);
        }

        printer?.Finish();
        return 0;
    }

    /// <summary>
    /// <c>--bitmaps</c>: the source's persistent bitmaps to copy, checked as qemu-img checks them
    /// before anything is written (inconsistent ones refused, or skipped with a warning under
    /// <c>--skip-broken-bitmaps</c>).
    /// </summary>
    private static List<Qcow2Bitmap> BitmapsToCopy(DiskImageFile image, bool severalSources, DiskImageFormat targetFormat, QemuOptionList options, bool skipBroken, TextWriter stderr)
    {
        if (severalSources)
        {
            throw new CliException("Copying bitmaps only possible with single source");
        }

        if (targetFormat != DiskImageFormat.Qcow2 || options.Get("compat") is "0.10" or "v2")
        {
            throw new CliException($"Format driver '{ImageOpener.FormatName(targetFormat)}' does not support bitmaps");
        }

        if (image is not Qcow2Image qcow2)
        {
            throw new CliException("Source lacks bitmap support");
        }

        var list = new List<Qcow2Bitmap>();
        foreach (Qcow2Bitmap b in qcow2.Bitmaps)
        {
            if ((b.Flags & Qcow2BitmapFlags.InUse) == 0)
            {
                list.Add(b);
            }
            else if (skipBroken)
            {
                stderr.Write($"{Cli.ProgramName}: warning: Skipping inconsistent bitmap '{b.Name}'\n");
            }
            else
            {
                throw new CliException($"Cannot copy inconsistent bitmap '{b.Name}'\nTry --skip-broken-bitmaps, or use '{Cli.ProgramName} bitmap --remove' to delete it");
            }
        }

        return list;
    }

    /// <summary>Adds each bitmap to the converted target (same name, granularity, enabled state) and merges the source's bits into it.</summary>
    private static void CopyBitmaps(Qcow2Image source, string target, List<Qcow2Bitmap> bitmaps)
    {
        using DiskImageFile opened = ImageOpener.Open(target, "qcow2", writable: true, followBacking: true);
        var targetImage = (Qcow2Image)opened;
        foreach (Qcow2Bitmap b in bitmaps)
        {
            targetImage.AddBitmap(b.Name, b.Granularity, (b.Flags & Qcow2BitmapFlags.Auto) != 0);
            targetImage.MergeBitmap(b.Name, source, b.Name);
        }
    }

    /// <summary>
    /// The target's backing file from <c>-B</c>/<c>-F</c> or <c>-o backing_file,backing_fmt</c>
    /// (moved into <paramref name="options"/>), or null; qemu-img's refusals.
    /// </summary>
    private static string? TargetBacking(QemuOptionList options, string? backing, string? backingFormat, string target, bool existingTarget, bool compress)
    {
        if (backing is not null)
        {
            options.Set("backing_file", backing);
        }

        if (backingFormat is not null)
        {
            options.Set("backing_fmt", backingFormat);
        }

        string? outBacking = options.Get("backing_file");
        if (outBacking is null)
        {
            if (options.Get("backing_fmt") is not null)
            {
                throw new CliException($"{target}: backing_fmt without backing_file is not supported by diskimage");
            }

            return null;
        }

        if (options.Get("backing_fmt") is null)
        {
            throw new CliException("Use of backing file requires explicit backing format");
        }

        if (existingTarget || compress)
        {
            throw new CliException("A backing file for the target (-B, -o backing_file) together with -n or -c is not supported by diskimage");
        }

        return outBacking;
    }

    /// <summary>
    /// <c>-l</c>: "snapshot.id=ID", "snapshot.name=NAME" (or both, comma separated) or a bare ID or
    /// name, as qemu-img takes it. Returns the snapshot's read-only content.
    /// </summary>
    private static BlockDevice OpenSnapshot(DiskImageFile image, string parameter)
    {
        string? id = null;
        string? name = null;
        if (parameter.StartsWith("snapshot.", StringComparison.Ordinal))
        {
            var list = new QemuOptionList();
            list.Add(parameter);
            id = list.Get("snapshot.id");
            name = list.Get("snapshot.name");
        }

        if (image is not Qcow2Image qcow2)
        {
            throw new CliException("Failed to load snapshot: this image format has no internal snapshots");
        }

        foreach (Qcow2Snapshot snapshot in qcow2.Snapshots)
        {
            bool match = id is null && name is null
                ? snapshot.Id == parameter || snapshot.Name == parameter
                : (id is null || snapshot.Id == id) && (name is null || snapshot.Name == name);
            if (match)
            {
                return qcow2.OpenSnapshot(snapshot);
            }
        }

        throw new CliException($"Failed to load snapshot: Can't find snapshot '{parameter}'");
    }

    /// <summary>qemu-img's progress line, <c>    (12.34/100%)</c> and a carriage return, redrawn every whole percent.</summary>
    internal sealed class ProgressPrinter : IProgress<ConvertProgress>
    {
        private readonly TextWriter _writer;
        private readonly Lock _lock = new();
        private double _last = -1;

        public ProgressPrinter(TextWriter writer) => _writer = writer;

        public void Report(ConvertProgress value)
        {
            lock (_lock)
            {
                double percent = Math.Clamp(value.Percent, 0, 100);
                if (_last >= 0 && percent - _last < 1 && !(percent >= 100 && _last < 100))
                {
                    return;
                }

                _last = percent;
                Print(percent);
            }
        }

        /// <summary>Ends the progress line without claiming completion (before an error message).</summary>
        public void Abort()
        {
            lock (_lock)
            {
                _writer.Write("\n");
                _writer.Flush();
            }
        }

        public void Finish()
        {
            lock (_lock)
            {
                Print(100);
                _writer.Write("\n");
                _writer.Flush();
            }
        }

        private void Print(double percent)
        {
            _writer.Write($"    ({QemuSize.FormatF2(percent)}/100%)\r");
            _writer.Flush();
        }
    }
}
