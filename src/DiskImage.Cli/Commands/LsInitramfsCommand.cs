using DiskImage.Archives.Cpio;

namespace DiskImage.Cli.Commands;

/// <summary><c>lsinitramfs [-l] file</c>: one path per line for every segment, like Debian's lsinitramfs; <c>-l</c> for a long listing.</summary>
internal static class LsInitramfsCommand
{
    private const int OptHelp = 1000;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        bool longFormat = false;
        var getopt = new GetOpt(args, "hl", new LongOption("help", false, OptHelp));
        while (getopt.Next(out int option, out _))
        {
            switch (option)
            {
                case 'l': longFormat = true; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 1)
        {
            throw CliException.Usage("Expecting one initramfs file name");
        }

        using FileStream image = InitramfsCommandSupport.OpenImage(getopt.Operands[0]);
        using var reader = new InitramfsReader(image, leaveOpen: true);
        while (reader.GetNextEntry() is { } entry)
        {
            stdout.Write(longFormat ? Initramfs.FormatLong(entry) : entry.Name);
            stdout.Write('\n');
        }

        InitramfsCommandSupport.WriteWarnings(reader.Warnings, stderr);
        return 0;
    }
}
