using System.Text;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Cli.Commands;

/// <summary><c>measure [--output=human|json] [-O fmt] [-o options] [--size N | [-f fmt] [-U] [-l snapshot] filename]</c>.</summary>
internal static class MeasureCommand
{
    private const int OptOutput = 1000;
    private const int OptSize = 1001;
    private const int OptNoBacking = 1002;
    private const int OptForceShare = 1003;
    private const int OptHelp = 1004;

    public static int Run(string[] args, TextWriter stdout)
    {
        string? format = null;
        string targetFormatName = "raw";
        var options = new QemuOptionList();
        bool json = false;
        bool followBacking = true;
        bool forceShare = false;
        long? size = null;
        string? snapshotParameter = null;
        var getopt = new GetOpt(
            args,
            "f:hO:o:l:U",
            new LongOption("output", true, OptOutput),
            new LongOption("size", true, OptSize),
            new LongOption("no-backing", false, OptNoBacking),
            new LongOption("force-share", false, OptForceShare),
            new LongOption("help", false, OptHelp));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case 'O': targetFormatName = value!; break;
                case 'o': options.Add(value!); break;
                case 'l': snapshotParameter = ParseSnapshotParameter(value!); break;
                case 'U' or OptForceShare: forceShare = true; break;
                case OptOutput: json = Cli.ParseOutputFormat(value!); break;
                case OptSize:
                    if (!QemuSize.TryParse(value!, out long parsed))
                    {
                        throw new CliException("Invalid image size specified." + QemuSize.SuffixHint);
                    }

                    size = parsed;
                    break;
                case OptNoBacking: followBacking = false; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        DiskImageFormat targetFormat = ImageOpener.ParseFormat(targetFormatName)!.Value;
        if (size is not null && getopt.Operands.Count > 0)
        {
            throw new CliException("--size N cannot be used together with a filename.");
        }

        if (getopt.Operands.Count == 0 && (format is not null || snapshotParameter is not null))
        {
            throw new CliException("--image-opts, -f, and -l require a filename argument.");
        }

        if (size is null && getopt.Operands.Count != 1)
        {
            throw new CliException("Either --size N or one filename must be specified.");
        }

        CreateOptionsParser.CheckKeys(options, targetFormat, "");
        using DiskImageFile? image = size is null ? ImageOpener.Open(getopt.Operands[0], format, writable: false, followBacking, forceShare: forceShare) : null;
        using BlockDevice? snapshot = image is null || snapshotParameter is null ? null : OpenSnapshot(image, snapshotParameter);
        long virtualSize = size ?? image!.Content.Length;
        long required;
        long fullyAllocated;
        long? bitmaps = null;
        if (targetFormat == DiskImageFormat.Raw)
        {
            required = fullyAllocated = virtualSize;
        }
        else
        {
            Qcow2CreateOptions qcow2 = CreateOptionsParser.ParseQcow2(options, virtualSize, "").Build();
            Qcow2MeasureResult result;
            try
            {
                result = image is null ? Qcow2Image.Measure(virtualSize, qcow2)
                    : snapshot is not null ? MeasureSnapshot(image, snapshot, qcow2)
                    : MeasureImage(image, qcow2, followBacking, getopt.Operands[0]);
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw new CliException(e.Message.Split(" (Parameter", 2)[0]);
            }

            (required, fullyAllocated, bitmaps) = (result.Required, result.FullyAllocated, result.Bitmaps);
        }

        if (json)
        {
            var o = new QemuJsonObject().Add("required", required).Add("fully-allocated", fullyAllocated);
            if (bitmaps is { } b)
            {
                o.Add("bitmaps", b);
            }

            stdout.Write(QemuJson.Format(o) + "\n");
        }
        else
        {
            var sb = new StringBuilder();
            sb.Append("required size: ").Append(required).Append('\n');
            sb.Append("fully allocated size: ").Append(fullyAllocated).Append('\n');
            if (bitmaps is { } b)
            {
                sb.Append("bitmaps size: ").Append(b).Append('\n');
            }

            stdout.Write(sb.ToString());
        }

        return 0;
    }

    /// <summary>
    /// qemu-img's measure of an image: the clusters its block status reports as data and not zero
    /// (so holes under a metadata-preallocated qcow2 image count as zero), plus the bitmaps line only
    /// when both the source and the target can hold persistent bitmaps (qcow2 version 3).
    /// </summary>
    private static Qcow2MeasureResult MeasureImage(DiskImageFile image, Qcow2CreateOptions options, bool followBacking, string name)
    {
        Qcow2MeasureResult withBitmaps = Qcow2Image.Measure(image, options);
        if (image is not Qcow2Image)
        {
            return withBitmaps;
        }

        List<(DiskImageFile Image, string Name)> chain = followBacking ? ImageOpener.Chain(image, name) : [(image, name)];
        using var status = new BlockStatusReader(chain);
        using var view = new BlockStatusDevice(image.Content, status);
        Qcow2MeasureResult counted = Qcow2Image.Measure(view, options);
        bool sourceHasBitmaps = image.GetInfo().Qcow2?.Version >= 3;
        return counted with { Bitmaps = sourceHasBitmaps ? withBitmaps.Bitmaps : null };
    }

    /// <summary>
    /// <c>-l</c> as qemu-img's measure reads it: a value starting with "snapshot." is an option list
    /// of <c>snapshot.id</c> and <c>snapshot.name</c> (anything else fails here, before the image is
    /// opened); any other value is an ID or a name.
    /// </summary>
    private static string ParseSnapshotParameter(string value)
    {
        if (value.StartsWith("snapshot.", StringComparison.Ordinal))
        {
            var list = new QemuOptionList();
            list.Add(value);
            foreach ((string key, string _) in list.Items)
            {
                if (key is not ("snapshot.id" or "snapshot.name"))
                {
                    throw new CliException($"Invalid parameter '{key}'\ndiskimage: Failed in parsing snapshot param '{value}'");
                }
            }
        }

        return value;
    }

    /// <summary>The snapshot <c>-l</c> names (by <c>snapshot.id</c>/<c>snapshot.name</c>, or by ID, then by name), read-only.</summary>
    private static BlockDevice OpenSnapshot(DiskImageFile image, string parameter)
    {
        if (image is not Qcow2Image qcow2)
        {
            throw new CliException($"Failed to load snapshot: Block format '{ImageOpener.FormatName(image.Format)}' used by device '' does not support temporarily loading internal snapshots");
        }

        string? id = null;
        string? name = null;
        bool options = parameter.StartsWith("snapshot.", StringComparison.Ordinal);
        if (options)
        {
            var list = new QemuOptionList();
            list.Add(parameter);
            id = list.Get("snapshot.id");
            name = list.Get("snapshot.name");
        }

        Qcow2Snapshot? found = null;
        foreach (Qcow2Snapshot s in qcow2.Snapshots)
        {
            bool match = options
                ? (id is not null || name is not null) && (id is null || s.Id == id) && (name is null || s.Name == name)
                : s.Id == parameter;
            if (match)
            {
                found = s;
                break;
            }
        }

        if (found is null && !options)
        {
            foreach (Qcow2Snapshot s in qcow2.Snapshots)
            {
                if (s.Name == parameter)
                {
                    found = s;
                    break;
                }
            }
        }

        return found is null
            ? throw new CliException("Failed to load snapshot: Can't find snapshot")
            : qcow2.OpenSnapshot(found);
    }

    /// <summary>
    /// qemu-img's measure of a snapshot: the snapshot's allocated clusters in an image of the current
    /// virtual size (qemu loads the snapshot's tables into the open image, whose size stays), and the
    /// bitmaps line as for the image.
    /// </summary>
    private static Qcow2MeasureResult MeasureSnapshot(DiskImageFile image, BlockDevice snapshot, Qcow2CreateOptions options)
    {
        long length = image.Content.Length;
        using var view = new ZeroExtendedDevice(snapshot, 0, Math.Min(snapshot.Length, length), length);
        Qcow2MeasureResult counted = Qcow2Image.Measure(view, options);
        bool sourceHasBitmaps = image.GetInfo().Qcow2?.Version >= 3;
        return counted with { Bitmaps = sourceHasBitmaps ? Qcow2Image.Measure(image, options).Bitmaps : null };
    }
}
