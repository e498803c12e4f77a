using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;

namespace DiskImage.Cli.Commands;

/// <summary><c>commit [-q] [-f fmt] [-t cache] [-b base] [-r rate] [-d] [-p] filename</c>.</summary>
internal static class CommitCommand
{
    private const int OptHelp = 1000;

    public static int Run(string[] args, TextWriter stdout, CancellationToken cancellationToken)
    {
        string? format = null;
        string? baseName = null;
        bool keep = false;
        bool showProgress = false;
        bool quiet = false;
        long rate = 0;
        string? cache = null;
        var getopt = new GetOpt(args, "f:ht:b:dpqr:", new LongOption("help", false, OptHelp));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case 't': cache = value; break;
                case 'b':
                    // -b implies -d, as in qemu-img.
                    baseName = value;
                    keep = true;
                    break;
                case 'd': keep = true; break;
                case 'p': showProgress = true; break;
                case 'q': quiet = true; break;
                case 'r':
                    if (!QemuSize.TryParse(value!, out rate))
                    {
                        throw new CliException("Invalid rate limit specified." + QemuSize.SuffixHint);
                    }

                    break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 1)
        {
            throw CliException.Usage("Expecting one image file name");
        }

        if (quiet)
        {
            showProgress = false;
        }

        string fileName = getopt.Operands[0];
        if (cache is not null)
        {
            ImageOpener.CheckCacheMode(cache, "Invalid cache option");
        }

        ImageOpener.RequireWriteLock(fileName, format);
        DiskImageFormat? parsed;
        using (DiskImageFile probe = ImageOpener.Open(fileName, format, writable: false, followBacking: true, forceShare: true))
        {
            parsed = probe.Format;
            if (baseName is null && probe is not Qcow2Image { Backing: not null })
            {
                throw new CliException("Image does not have a backing file");
            }

            List<string> files = ImageFiles.Of(probe);
            if (files.Count > 1 && ImageFiles.FindAlias(fileName, files.GetRange(1, files.Count - 1)) is not null)
            {
                throw new CliException($"Could not open '{fileName}': {ImageOpener.SameFileMessage(fileName)}");
            }
        }

        var printer = showProgress ? new ConvertCommand.ProgressPrinter(stdout) : null;
        try
        {
            ImageCommitter.Commit(
                fileName,
                new ImageCommitOptions { Format = parsed, Base = baseName, KeepTop = keep, RateLimit = rate },
                printer,
                cancellationToken);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException or NotSupportedException or InvalidDataException)
        {
            printer?.Abort();
            throw new CliException(e is ArgumentException ? ImageOpener.Describe(e) : e.Message);
        }

        printer?.Finish();
        if (!quiet)
        {
            stdout.Write("Image committed.\n");
        }

        return 0;
    }
}
