using DiskImage.FileSystems;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>copy-out [-f fmt] image guest-path... host-dir</c>: copies files and directories (recursively)
/// out of the ext4 file system in an image into an existing host directory, like <c>virt-copy-out</c>.
/// Modes, times, symbolic links and hard links within the copy are kept, owners when running as root;
/// nothing is written outside the host directory.
/// </summary>
internal static class CopyOutCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        if (!ImageReadArguments.TryParse(args, stdout, 3, "Expecting an image file name, one or more paths in the image and a local directory", out ImageReadArguments arguments))
        {
            return 0;
        }

        string hostDirectory = arguments.Operands[^1];
        if (!DiskImage.FileSystems.HostTreeWriter.DirectoryExists(hostDirectory))
        {
            throw new CliException($"local directory '{hostDirectory}' does not exist or is not a directory");
        }

        using FileSystemImage image = arguments.Open();
        var paths = new List<string>();
        for (int i = 1; i < arguments.Operands.Count - 1; i++)
        {
            paths.Add(image.GetEntry(arguments.Operands[i]).Path);
        }

        // One copy: hard links between files of different arguments stay hard links. Interrupted, it removes what it created.
        FileSystemCopyResult result;
        try
        {
            result = FileSystemCopy.CopyToHost(image.FileSystem, paths, hostDirectory, options: null, cancellationToken);
        }
        catch (InvalidDataException e)
        {
            throw new CliException(e.Message);
        }

        foreach (string skipped in result.Skipped)
        {
            stderr.Write($"{Cli.ProgramName}: skipped {skipped}\n");
        }

        return 0;
    }
}
