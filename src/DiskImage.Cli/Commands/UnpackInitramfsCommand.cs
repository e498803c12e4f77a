using DiskImage.Archives.Cpio;

namespace DiskImage.Cli.Commands;

/// <summary><c>unpack-initramfs file dir</c>: extracts every segment under a directory, never writing outside it.</summary>
internal static class UnpackInitramfsCommand
{
    private const int OptHelp = 1000;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        var getopt = new GetOpt(args, "h", new LongOption("help", false, OptHelp));
        while (getopt.Next(out int option, out _))
        {
            if (option is 'h' or OptHelp)
            {
                return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 2)
        {
            throw CliException.Usage("Expecting an initramfs file name and a target directory");
        }

        using FileStream image = InitramfsCommandSupport.OpenImage(getopt.Operands[0]);
        string target = getopt.Operands[1];
        bool created = !Directory.Exists(target) && !File.Exists(target);
        InitramfsExtractResult result;
        try
        {
            result = Initramfs.Unpack(image, target, options: null, cancellationToken);
        }
        catch (OperationCanceledException) when (created)
        {
            // Interrupted: a directory this run created holds only what it wrote, and goes.
            Directory.Delete(target, recursive: true);
            throw;
        }

        foreach (string skipped in result.Skipped)
        {
            stderr.Write($"{Cli.ProgramName}: skipped {skipped}\n");
        }

        InitramfsCommandSupport.WriteWarnings(result.Warnings, stderr);
        return 0;
    }
}

/// <summary>What the initramfs verbs share.</summary>
internal static class InitramfsCommandSupport
{
    /// <summary>Opens an image for reading; a missing or unreadable file is a user error in qemu-img's words.</summary>
    public static FileStream OpenImage(string path)
    {
        try
        {
            // A name with bytes that are not UTF-8 (escaped by UnixPathEncoding) is opened by its raw bytes.
            return OperatingSystem.IsLinux() && path.AsSpan().IndexOfAnyInRange('\uDC80', '\uDCFF') >= 0
                ? DiskImage.FileSystems.HostTreeWriter.OpenRead(path)
                : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new CliException($"Could not open '{path}': {ImageOpener.Describe(e)}");
        }
    }

    /// <summary>Prints the reader's kernel-compatibility warnings to stderr.</summary>
    public static void WriteWarnings(IReadOnlyList<string> warnings, TextWriter stderr)
    {
        foreach (string warning in warnings)
        {
            stderr.Write($"{Cli.ProgramName}: warning: {warning}\n");
        }
    }
}
