using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.IO;

namespace DiskImage.Cli.Commands;

/// <summary><c>rebase [-U] [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] -b backing_file [-F backing_fmt] filename</c>.</summary>
internal static class RebaseCommand
{
    private const int OptHelp = 1000;
    private const int OptForceShare = 1001;

    public static int Run(string[] args, TextWriter stdout, CancellationToken cancellationToken)
    {
        string? format = null;
        string? backing = null;
        string? backingFormat = null;
        string? cache = null;
        string? sourceCache = null;
        bool unsafeMode = false;
        bool showProgress = false;
        bool quiet = false;
        bool forceShare = false;
        var getopt = new GetOpt(
            args,
            "hf:F:b:upt:T:qU",
            new LongOption("help", false, OptHelp),
            new LongOption("force-share", false, OptForceShare));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case 'F': backingFormat = value; break;
                case 'b': backing = value; break;
                case 'u': unsafeMode = true; break;
                case 'p': showProgress = true; break;
                case 't': cache = value; break;
                case 'T': sourceCache = value; break;
                case 'q': quiet = true; break;
                case 'U' or OptForceShare: forceShare = true; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 1)
        {
            throw CliException.Usage("Expecting one image file name");
        }

        if (!unsafeMode && backing is null)
        {
            throw CliException.Usage("Must specify backing file (-b) or use unsafe mode (-u)");
        }

        if (quiet)
        {
            showProgress = false;
        }

        if (cache is not null)
        {
            ImageOpener.CheckCacheMode(cache, "Invalid cache option");
        }

        if (sourceCache is not null)
        {
            ImageOpener.CheckCacheMode(sourceCache, "Invalid source cache option");
        }

        string fileName = getopt.Operands[0];

        // The image opens first (its errors in qemu-img's words); unsafe mode does not open the backing chain.
        ImageOpener.RequireWriteLock(fileName, format);
        DiskImageFormat imageFormat;
        using (DiskImageFile probe = ImageOpener.Open(fileName, format, writable: false, followBacking: !unsafeMode, metadataOnly: unsafeMode, forceShare: true))
        {
            imageFormat = probe.Format;
        }

        DiskImageFormat? parsedBackingFormat = backingFormat switch
        {
            null => null,
            "qcow2" => DiskImageFormat.Qcow2,
            "raw" => DiskImageFormat.Raw,
            "vmdk" or "vdi" or "vhdx" or "vpc" or "qed" or "parallels" or "luks" or "dmg" or "bochs" or "cloop" or "file" or "host_device" or "nbd"
                => throw new CliException($"Backing format '{backingFormat}' is not supported by diskimage (qcow2 or raw)"),
            _ => throw new CliException($"Invalid format name: '{backingFormat}'"),
        };

        var printer = showProgress && !unsafeMode ? new ConvertCommand.ProgressPrinter(stdout) : null;
        try
        {
            ImageRebaser.Rebase(
                fileName,
                backing,
                new ImageRebaseOptions
                {
                    Format = imageFormat,
                    BackingFormat = parsedBackingFormat,
                    Unsafe = unsafeMode,
                    BackingLocking = forceShare ? ImageLocking.ForceShare : ImageLocking.Enabled,
                },
                printer,
                cancellationToken);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException or NotSupportedException or InvalidDataException)
        {
            printer?.Abort();
            throw new CliException(e is ArgumentException ? ImageOpener.Describe(e) : e.Message);
        }

        printer?.Finish();
        return 0;
    }
}
