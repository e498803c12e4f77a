using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Host;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>copy-in [-f fmt] [--xattrs] image host-path... guest-dir</c>: copies host files and
/// directories (recursively) into an existing directory of the ext4 file system in an image, like
/// <c>virt-copy-in</c>. Modes, owners, times, symbolic links, hard links within the copy, device
/// nodes and FIFOs are kept.
/// </summary>
[SupportedOSPlatform("linux")]
internal static class CopyInCommand
{
    private const int OptHelp = 1000;
    private const int OptXattrs = 1001;
    private const int OptPartition = 1002;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        string? format = null;
        bool xattrs = false;
        string? partition = null;
        var mounts = new List<string>();
        var getopt = new GetOpt(args, "f:hm:", new LongOption("help", false, OptHelp), new LongOption("xattrs", false, OptXattrs), new LongOption("partition", true, OptPartition), new LongOption("mount", true, 'm'));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case OptXattrs: xattrs = true; break;
                case OptPartition: partition = value; break;
                case 'm': mounts.Add(value!); break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count < 3)
        {
            throw CliException.Usage("Expecting an image file name, one or more local paths and a directory in the image");
        }

        string guestDirectory = FileSystemImage.CheckGuestPath(getopt.Operands[^1]);

        // One copy over the host's whole tree: hard links between the arguments' files stay hard links.
        // (Only lstat is used on the arguments: reading a symbolic link would change its access time.)
        using var host = new HostDirectoryFileSystem("/");
        var sources = new List<string>();
        for (int i = 1; i < getopt.Operands.Count - 1; i++)
        {
            string hostPath = getopt.Operands[i];
            string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(hostPath));
            if (Path.GetFileName(full).Length == 0)
            {
                throw new CliException($"{hostPath}: cannot copy the root directory (copy its entries instead)");
            }

            if (!host.Exists(full.Replace(Path.DirectorySeparatorChar, '/')))
            {
                throw new CliException($"{hostPath}: No such file or directory");
            }

            sources.Add(full.Replace(Path.DirectorySeparatorChar, '/'));
        }

        using FileSystemImage image = FileSystemImage.Open(getopt.Operands[0], format, writable: true, partition: partition, mounts: mounts);
        UnixFileInfo target = image.GetEntry(guestDirectory);
        if (!target.IsDirectory && !(target.Type == UnixFileType.SymbolicLink && image.GetEntry(FileSystemPath.Combine(guestDirectory, ".")).IsDirectory))
        {
            throw new CliException($"{guestDirectory}: Not a directory");
        }

        FileSystemCopyResult result;
        try
        {
            result = FileSystemCopy.Copy(host, sources, image.FileSystem, guestDirectory, new FileSystemCopyOptions { CopyXattrs = xattrs }, cancellationToken);
        }
        finally
        {
            // What was copied stays consistent on disk even when a later entry fails or the copy is interrupted
            // (it stops between entries; a file cut mid-copy is removed).
            image.Flush();
        }

        foreach (string skipped in result.Skipped)
        {
            stderr.Write($"{Cli.ProgramName}: skipped {skipped}\n");
        }

        return 0;
    }
}
