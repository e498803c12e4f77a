using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Cli.Commands;

/// <summary><c>resize [-f fmt] [-q] [--shrink] filename [+|-]size</c>.</summary>
internal static class ResizeCommand
{
    private const int OptShrink = 1000;
    private const int OptPreallocation = 1001;
    private const int OptNoBacking = 1002;
    private const int OptHelp = 1003;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        // Like qemu-img, the size is taken off the end first, so "-1G" is not read as an option.
        if (args.Length < 2)
        {
            throw CliException.Usage("Not enough arguments");
        }

        string sizeText = args[^1];
        string? format = null;
        bool quiet = false;
        bool shrink = false;
        bool followBacking = true;
        var getopt = new GetOpt(
            args[..^1],
            "f:hq",
            new LongOption("shrink", false, OptShrink),
            new LongOption("preallocation", true, OptPreallocation),
            new LongOption("no-backing", false, OptNoBacking),
            new LongOption("help", false, OptHelp));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case 'q': quiet = true; break;
                case OptShrink: shrink = true; break;
                case OptPreallocation when value != "off":
                    throw new CliException($"Preallocation mode '{value}' is not supported by diskimage (use off)");
                case OptNoBacking: followBacking = false; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 1)
        {
            throw CliException.Usage("Expecting one image file name");
        }

        int sign = sizeText.Length > 0 && sizeText[0] == '+' ? 1 : sizeText.Length > 0 && sizeText[0] == '-' ? -1 : 0;
        if (!QemuSize.TryParse(sign == 0 ? sizeText : sizeText[1..], out long amount))
        {
            throw new CliException("Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.");
        }

        string fileName = getopt.Operands[0];
        ImageOpener.RequireWriteLock(fileName, format);
        if (followBacking)
        {
            // A writable open may already write (a dirty image is repaired), so the image is first
            // opened read-only to make sure it is none of its own backing files by another name.
            using DiskImageFile probe = ImageOpener.Open(fileName, format, writable: false, followBacking);
            List<string> files = ImageFiles.Of(probe);
            if (files.Count > 1 && ImageFiles.FindAlias(fileName, files.GetRange(1, files.Count - 1)) is not null)
            {
                throw new CliException($"Could not open '{fileName}': {ImageOpener.SameFileMessage(fileName)}");
            }
        }

        bool shrunkQcow2 = false;
        using (DiskImageFile image = ImageOpener.Open(fileName, format, writable: true, followBacking))
        {
            shrunkQcow2 = Resize(image, sign, amount, shrink, stderr);
        }

        if (shrunkQcow2)
        {
            // As qemu-img: the file ends after its last cluster in use.
            using FileBlockDevice host = FileBlockDevice.Open(fileName, writable: true, ImageLocking.Enabled);
            Qcow2Image.TruncateAfterLastUsedCluster(host);
        }

        if (!quiet)
        {
            stdout.Write("Image resized.\n");
        }

        return 0;
    }

    /// <summary>Resizes the open image; true when a qcow2 image got smaller.</summary>
    private static bool Resize(DiskImageFile image, int sign, long amount, bool shrink, TextWriter stderr)
    {
        long current = image.Content.Length;
        long newSize = sign == 0 ? amount : sign > 0 ? current + amount : current - amount;
        if (newSize <= 0 || (sign > 0 && newSize < current))
        {
            throw new CliException("New image size must be positive");
        }

        if (newSize < current && !shrink)
        {
            stderr.Write($"{Cli.ProgramName}: Use the --shrink option to perform a shrink operation.\n");
            throw new CliException("warning: Shrinking an image will delete all data beyond the shrunken image's end. Before performing such an operation, make sure there is no important data there.");
        }

        if (image is Qcow2Image && newSize % 512 != 0)
        {
            throw new CliException("The new size must be a multiple of 512");
        }

        try
        {
            if (image is Qcow2Image qcow2)
            {
                qcow2.Resize(newSize);
            }
            else
            {
                image.Content.SetLength(newSize);
            }

            image.Flush();
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or NotSupportedException or ArgumentException)
        {
            throw new CliException(e.Message);
        }

        return image is Qcow2Image && newSize < current;
    }
}
