using DiskImage.Formats;
using DiskImage.Formats.Qcow2;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b source_file [-F source_fmt]] [-g granularity] [-f fmt] filename bitmap</c>:
/// persistent dirty bitmaps of a qcow2 image, changed in the order given, as qemu-img does (the
/// changes before a failing one are kept).
/// </summary>
internal static class BitmapCommand
{
    private const int OptHelp = 1000;
    private const int OptAdd = 1001;
    private const int OptRemove = 1002;
    private const int OptClear = 1003;
    private const int OptEnable = 1004;
    private const int OptDisable = 1005;
    private const int OptMerge = 1006;
    private const int OptObject = 1007;
    private const int OptImageOpts = 1008;

    public static int Run(string[] args, TextWriter stdout)
    {
        var actions = new List<(int Action, string? Source)>();
        string? format = null;
        string? sourceFile = null;
        string? sourceFormat = null;
        long granularity = 0;
        bool add = false;
        bool merge = false;
        var getopt = new GetOpt(
            args,
            "b:f:F:g:h",
            new LongOption("help", false, OptHelp),
            new LongOption("add", false, OptAdd),
            new LongOption("remove", false, OptRemove),
            new LongOption("clear", false, OptClear),
            new LongOption("enable", false, OptEnable),
            new LongOption("disable", false, OptDisable),
            new LongOption("merge", true, OptMerge),
            new LongOption("object", true, OptObject),
            new LongOption("image-opts", false, OptImageOpts));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
                case 'b': sourceFile = value; break;
                case 'f': format = value; break;
                case 'F': sourceFormat = value; break;
                case 'g':
                    if (!QemuSize.TryParse(value!, out granularity) || granularity < 0)
                    {
                        throw new CliException("Invalid granularity specified." + QemuSize.SuffixHint);
                    }

                    break;
                case OptAdd: actions.Add((OptAdd, null)); add = true; break;
                case OptRemove or OptClear or OptEnable or OptDisable: actions.Add((option, null)); break;
                case OptMerge: actions.Add((OptMerge, value)); merge = true; break;
                case OptObject: throw new CliException("--object is not supported by diskimage");
                case OptImageOpts: throw new CliException("--image-opts is not supported by diskimage");
            }
        }

        if (actions.Count == 0)
        {
            throw new CliException("Need at least one of --add, --remove, --clear, --enable, --disable, or --merge");
        }

        if (granularity != 0 && !add)
        {
            throw new CliException("granularity only supported with --add");
        }

        if (sourceFormat is not null && sourceFile is null)
        {
            throw new CliException("-F only supported with -b");
        }

        if (sourceFile is not null && !merge)
        {
            throw new CliException("Merge bitmap source file only supported with --merge");
        }

        if (getopt.Operands.Count != 2)
        {
            throw new CliException("Expecting filename and bitmap name");
        }

        string fileName = getopt.Operands[0];
        string bitmap = getopt.Operands[1];
        ImageOpener.RequireWriteLock(fileName, format);
        using DiskImageFile image = ImageOpener.Open(fileName, format, writable: true, followBacking: true);
        using DiskImageFile? sourceImage = sourceFile is null ? null : ImageOpener.Open(sourceFile, sourceFormat, writable: false, followBacking: true);
        var qcow2 = image as Qcow2Image;
        foreach ((int action, string? source) in actions)
        {
            string op = action switch
            {
                OptAdd => "add",
                OptRemove => "remove",
                OptClear => "clear",
                OptEnable => "enable",
                OptDisable => "disable",
                _ => "merge",
            };
            try
            {
                Apply(qcow2, fileName, bitmap, action, source, granularity, sourceImage);
            }
            catch (Exception e) when (e is InvalidOperationException or NotSupportedException)
            {
                throw new CliException($"Operation {op} on bitmap {bitmap} failed: {e.Message}");
            }
        }

        return 0;
    }

    private static void Apply(Qcow2Image? image, string fileName, string bitmap, int action, string? source, long granularity, DiskImageFile? sourceImage)
    {
        if (image is null)
        {
            // Raw (and every other format diskimage writes) keeps no persistent bitmaps.
            throw action == OptAdd
                ? new NotSupportedException($"Can't store persistent bitmaps to {fileName}: Operation not supported")
                : new InvalidOperationException($"Dirty bitmap '{bitmap}' not found");
        }

        switch (action)
        {
            case OptAdd:
                image.AddBitmap(bitmap, granularity);
                break;
            case OptRemove:
                image.RemoveBitmap(bitmap);
                break;
            case OptClear:
                image.ClearBitmap(bitmap);
                break;
            case OptEnable or OptDisable:
                image.SetBitmapEnabled(bitmap, action == OptEnable);
                break;
            default:
                Qcow2Image? from = sourceImage is null ? image : sourceImage as Qcow2Image;
                if (from is null)
                {
                    // A source of a format without bitmaps: the target is looked up first, as in QEMU.
                    throw new InvalidOperationException($"Dirty bitmap '{(FindName(image, bitmap) ? source : bitmap)}' not found");
                }

                image.MergeBitmap(bitmap, from, source!);
                break;
        }
    }

    private static bool FindName(Qcow2Image image, string name)
    {
        foreach (Qcow2Bitmap b in image.Bitmaps)
        {
            if (b.Name == name)
            {
                return true;
            }
        }

        return false;
    }
}
