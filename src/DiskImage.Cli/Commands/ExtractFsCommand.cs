using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.Guests;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>extract-fs [-f fmt] [-O raw|qcow2] [-c] image {device | --partition N} output</c>: writes one volume of a whole
/// disk (a partition <c>/dev/sdaN</c> or an LVM logical volume <c>/dev/VG/LV</c>, also by number) out as an image of
/// its own, byte for byte — an Ironic "partition image". Unallocated ranges of the source stay holes.
/// </summary>
internal static class ExtractFsCommand
{
    private const int OptHelp = 1000;
    private const int OptPartition = 1001;

    public static int Run(string[] args, TextWriter stdout, CancellationToken cancellationToken = default)
    {
        string? format = null;
        string targetFormatName = "raw";
        string? partition = null;
        bool compress = false;
        var getopt = new GetOpt(args, "f:O:ch", new LongOption("help", false, OptHelp), new LongOption("partition", true, OptPartition));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case 'O': targetFormatName = value!; break;
                case 'c': compress = true; break;
                case OptPartition: partition = value; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        int needed = partition is null ? 3 : 2;
        if (getopt.Operands.Count != needed)
        {
            throw CliException.Usage(partition is null
                ? "Expecting an image file name, a device (/dev/sda2, /dev/VG/LV or a partition number) and an output file name"
                : "Expecting an image file name and an output file name (the device is given with --partition)");
        }

        DiskImageFormat targetFormat = ImageOpener.ParseFormat(targetFormatName)!.Value;
        if (compress && targetFormat != DiskImageFormat.Qcow2)
        {
            throw new CliException("Compression not supported for this file format");
        }

        string path = getopt.Operands[0];
        string device = partition ?? getopt.Operands[1];
        string target = getopt.Operands[^1];
        using GuestImage image = GuestImage.Open(path, format);
        if (ImageFiles.FindAlias(target, ImageFiles.Of(image.Guest.Disk)) is not null || ImageFiles.FindAlias(target, [path]) is not null)
        {
            throw new CliException($"{target}: error while converting {ImageOpener.FormatName(targetFormat)}: {ImageOpener.SameFileMessage(target)}");
        }

        GuestVolume volume = FileSystemImage.FindVolume(path, image.Guest, device);

        try
        {
            ImageConverter.Convert(volume.Device, target, new ConvertOptions { TargetFormat = targetFormat, Compress = compress, Overwrite = true }, progress: null, cancellationToken);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException or ArgumentException)
        {
            throw new CliException($"{target}: error while converting {ImageOpener.FormatName(targetFormat)}: {ImageOpener.Describe(e)}");
        }

        return 0;
    }
}
