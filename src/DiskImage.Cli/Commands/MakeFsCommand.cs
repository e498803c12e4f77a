using System.Runtime.Versioning;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Xfs;
using DiskImage.FileSystems.Host;
using DiskImage.Formats;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>make-fs [-t ext4|xfs] [-f raw|qcow2] [-s N|+N] [--label L] [-T profile] [-U uuid] ... dir image</c>:
/// builds an ext4 or XFS file system holding a host directory tree into a new image, like <c>virt-make-fs</c>.
/// </summary>
[SupportedOSPlatform("linux")]
internal static class MakeFsCommand
{
    /// <summary>The free space added to the smallest size that fits when no size is given, in percent.</summary>
    public const int DefaultExtraPercent = 10;

    private const int OptHelp = 1000;

    public static int Run(string[] args, TextWriter stdout, CancellationToken cancellationToken = default)
    {
        string type = "ext4";
        string formatName = "raw";
        string? sizeText = null;
        var settings = new MkfsCommand.Settings();
        var pending = new List<(int Option, string Value)>();
        var getopt = new GetOpt(
            args,
            "b:d:E:f:F:hI:i:l:L:m:O:s:T:t:U:",
            new LongOption("help", false, OptHelp),
            new LongOption("type", true, 't'),
            new LongOption("format", true, 'f'),
            new LongOption("size", true, 's'),
            new LongOption("label", true, 'L'),
            new LongOption("uuid", true, 'U'),
            new LongOption("profile", true, 'T'));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 't': type = value!; break;
                case 'f' or 'F': formatName = value!; break;
                case 's': sizeText = value; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
                default: pending.Add((option, value!)); break;
            }
        }

        if (getopt.Operands.Count != 2)
        {
            throw CliException.Usage("Expecting a source directory and an output image file name");
        }

        MkfsCommand.CheckType(type);
        DiskImageFormat format = ImageOpener.ParseFormat(formatName)!.Value;
        string source = getopt.Operands[0];
        string output = getopt.Operands[1];
        if (!DiskImage.FileSystems.HostTreeWriter.DirectoryExists(source))
        {
            throw new CliException(File.Exists(source)
                ? $"{source}: input must be a directory (archives are not supported)"
                : $"{source}: No such file or directory");
        }

        using var tree = new HostDirectoryFileSystem(source);
        long? fixedSize = sizeText is not null && !sizeText.StartsWith('+') ? MkfsCommand.ParseSize(sizeText) : null;
        int extraPercent = sizeText is null ? DefaultExtraPercent : 0;
        long extraBytes = sizeText is null || fixedSize is not null ? 0 : MkfsCommand.ParseSize(sizeText[1..]);
        long size;
        Action<DiskImage.IO.BlockDevice> build;
        if (type == "xfs")
        {
            var x = new XfsCliSettings();
            foreach ((int option, string value) in pending)
            {
                x.Apply(option, value);
            }

            var xfs = new XfsBuildOptions { Format = x.Build() };
            size = fixedSize ?? XfsFileSystem.ComputeBuildSize(tree, new XfsBuildOptions { Format = xfs.Format, ExtraPercent = extraPercent, ExtraBytes = extraBytes });
            build = device => XfsFileSystem.Build(device, tree, xfs, cancellationToken);
        }
        else
        {
            foreach ((int option, string value) in pending)
            {
                if (option is 'd' or 'l')
                {
                    throw new CliException($"option -{(char)option} is only for xfs");
                }

                settings.Apply(option, value);
            }

            var ext4 = new Ext4BuildOptions { Format = settings.Build() };
            size = fixedSize ?? Ext4FileSystem.ComputeBuildSize(tree, new Ext4BuildOptions { Format = ext4.Format, ExtraPercent = extraPercent, ExtraBytes = extraBytes });
            build = device => Ext4FileSystem.Build(device, tree, ext4, cancellationToken);
        }

        bool done = false;
        try
        {
            using (DiskImageFile image = MkfsCommand.CreateImage(output, format, size))
            {
                try
                {
                    build(image.Content);
                }
                catch (Exception e) when (e is ArgumentException or NotSupportedException)
                {
                    throw new CliException($"{output}: {ImageOpener.Describe(e)}");
                }

                image.Flush();
            }

            // An interrupt that came after the last check still means "no image".
            cancellationToken.ThrowIfCancellationRequested();
            done = true;
        }
        finally
        {
            if (!done)
            {
                // Like a failed or interrupted convert: no half-built image is left behind.
                TryDelete(output);
            }
        }

        return 0;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
