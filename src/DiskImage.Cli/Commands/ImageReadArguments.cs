using DiskImage.FileSystems;

namespace DiskImage.Cli.Commands;

/// <summary>
/// The arguments the commands that read a file system in an image share: <c>-f fmt</c>,
/// <c>--skip-journal</c>, <c>--partition</c>, <c>-m dev[:mountpoint]</c>, <c>-h</c>/<c>--help</c>, and the image as the first operand.
/// </summary>
internal sealed class ImageReadArguments
{
    private const int OptHelp = 1000;
    private const int OptSkipJournal = 1001;
    private const int OptPartition = 1002;

    private ImageReadArguments(string? format, bool skipJournal, string? partition, IReadOnlyList<string> mounts, IReadOnlyList<string> operands)
    {
        Format = format;
        SkipJournal = skipJournal;
        Partition = partition;
        Mounts = mounts;
        Operands = operands;
    }

    /// <summary>The image format given with <c>-f</c>, or null to detect it.</summary>
    public string? Format { get; }

    /// <summary>Whether <c>--skip-journal</c> was given.</summary>
    public bool SkipJournal { get; }

    /// <summary>The <c>--partition</c> operand (a number or a device name), or null for the bare file system or the inspected guest.</summary>
    public string? Partition { get; }

    /// <summary>The <c>-m</c>/<c>--mount</c> operands (<c>/dev/sda2:/</c>, <c>/dev/vg/lv_var:/var</c>), in order; empty for inspection.</summary>
    public IReadOnlyList<string> Mounts { get; }

    /// <summary>The operands; the first is the image.</summary>
    public IReadOnlyList<string> Operands { get; }

    /// <summary>
    /// Parses <paramref name="args"/>. Returns false after printing the help text (the command then exits 0);
    /// throws a usage error when there are fewer than <paramref name="minOperands"/> operands.
    /// </summary>
    /// <param name="args">The arguments after the verb.</param>
    /// <param name="stdout">Where the help text goes.</param>
    /// <param name="minOperands">How many operands the command needs at least.</param>
    /// <param name="usage">The usage error's text when operands are missing.</param>
    /// <param name="parsed">The parsed arguments.</param>
    /// <param name="extraShortOptions">The command's own argument-less short options (e.g. "lR").</param>
    /// <param name="extraLongOptions">The command's own long options.</param>
    /// <param name="onExtraOption">Called with the id of each of the command's own options.</param>
    public static bool TryParse(
        string[] args,
        TextWriter stdout,
        int minOperands,
        string usage,
        out ImageReadArguments parsed,
        string extraShortOptions = "",
        LongOption[]? extraLongOptions = null,
        Action<int>? onExtraOption = null)
    {
        string? format = null;
        bool skipJournal = false;
        string? partition = null;
        var mounts = new List<string>();
        var longOptions = new List<LongOption> { new("help", false, OptHelp), new("skip-journal", false, OptSkipJournal), new("partition", true, OptPartition), new("mount", true, 'm') };
        if (extraLongOptions is not null)
        {
            longOptions.AddRange(extraLongOptions);
        }

        var getopt = new GetOpt(args, "f:hm:" + extraShortOptions, [.. longOptions]);
        parsed = null!;
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case OptSkipJournal: skipJournal = true; break;
                case OptPartition: partition = value; break;
                case 'm': mounts.Add(value!); break;
                case 'h' or OptHelp: Cli.PrintHelp(stdout); return false;
                default: onExtraOption?.Invoke(option); break;
            }
        }

        if (getopt.Operands.Count < minOperands)
        {
            throw CliException.Usage(usage);
        }

        parsed = new ImageReadArguments(format, skipJournal, partition, mounts, getopt.Operands);
        return true;
    }

    /// <summary>Opens the image (the first operand) and its file system read-only.</summary>
    public FileSystemImage Open() => FileSystemImage.Open(Operands[0], Format, writable: false, SkipJournal, Partition, Mounts);
}
