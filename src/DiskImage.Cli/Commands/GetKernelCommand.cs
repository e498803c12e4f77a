using DiskImage.FileSystems;
using DiskImage.Guests;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>get-kernel [-f fmt] [--unversioned-names] [--prefix P] image -o directory</c>: copies the guest's default
/// kernel and its initrd out, like <c>virt-get-kernel</c> (same file names; the kernel and initrd are paired by
/// version). Prints what it copied as virt-get-kernel does (<c>download: GUEST -> HOST</c>).
/// </summary>
internal static class GetKernelCommand
{
    private const int OptHelp = 1000;
    private const int OptUnversioned = 1001;
    private const int OptPrefix = 1002;

    public static int Run(string[] args, TextWriter stdout)
    {
        string? format = null;
        string? output = null;
        string? prefix = null;
        bool unversioned = false;
        var getopt = new GetOpt(args, "f:ho:", new LongOption("help", false, OptHelp), new LongOption("output", true, 'o'), new LongOption("unversioned-names", false, OptUnversioned), new LongOption("prefix", true, OptPrefix));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case 'o': output = value; break;
                case OptUnversioned: unversioned = true; break;
                case OptPrefix: prefix = value; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 1)
        {
            throw CliException.Usage("Expecting an image file name (and -o directory)");
        }

        output ??= ".";
        if (!Directory.Exists(output))
        {
            throw new CliException($"{output}: No such directory (the output directory must exist)");
        }

        string path = getopt.Operands[0];
        using GuestImage image = GuestImage.Open(path, format);
        IReadOnlyList<GuestOperatingSystem> systems = image.Guest.Inspect();
        if (systems.Count != 1)
        {
            throw new CliException(systems.Count == 0
                ? $"'{path}': no operating system found on the disk"
                : $"'{path}': {systems.Count} operating systems found; get-kernel needs exactly one");
        }

        IFileSystem fs = image.Guest.Mount(systems[0]);
        GuestKernel kernel = GuestKernel.TryFind(fs) ?? throw new CliException($"'{path}': no kernel found (/boot holds no vmlinuz-* or vmlinux-*)");
        Copy(fs, kernel.KernelPath, Path.Combine(output, OutName(kernel.KernelPath, unversioned ? "vmlinuz" : null, prefix)), stdout);
        if (kernel.InitrdPath is not null)
        {
            Copy(fs, kernel.InitrdPath, Path.Combine(output, OutName(kernel.InitrdPath, unversioned ? "initrd.img" : null, prefix)), stdout);
        }

        return 0;
    }

    private static string OutName(string guestPath, string? unversioned, string? prefix)
    {
        string name = unversioned ?? guestPath[(guestPath.LastIndexOf('/') + 1)..];
        return prefix is null ? name : prefix + "-" + name;
    }

    private static void Copy(IFileSystem fs, string guestPath, string hostPath, TextWriter stdout)
    {
        try
        {
            using Stream source = fs.OpenFile(guestPath, FileMode.Open, FileAccess.Read);
            using var target = new FileStream(hostPath, FileMode.Create, FileAccess.Write);
            source.CopyTo(target);
        }
        catch (Exception e) when (FileSystemImage.IsGuestError(e))
        {
            throw FileSystemImage.GuestError(guestPath, e);
        }

        stdout.Write($"download: {guestPath} -> {hostPath}\n");
    }
}
