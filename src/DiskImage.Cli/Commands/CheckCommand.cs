using System.Globalization;
using System.Text;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Cli.Commands;

/// <summary><c>check [-f fmt] [--output=human|json] [-r leaks|all] [-q] [-U] filename</c>; exit codes 0/1/2/3 as qemu-img, 63 without check support.</summary>
internal static class CheckCommand
{
    /// <summary>qemu-img's exit code for a format that cannot be checked.</summary>
    public const int NotSupportedExitCode = 63;

    private const int OptOutput = 1000;
    private const int OptNoBacking = 1001;
    private const int OptForceShare = 1002;
    private const int OptHelp = 1003;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        string? format = null;
        bool json = false;
        bool quiet = false;
        bool followBacking = true;
        bool forceShare = false;
        Qcow2RepairMode repair = Qcow2RepairMode.None;
        var getopt = new GetOpt(
            args,
            "f:hqr:T:U",
            new LongOption("output", true, OptOutput),
            new LongOption("repair", true, 'r'),
            new LongOption("no-backing", false, OptNoBacking),
            new LongOption("force-share", false, OptForceShare),
            new LongOption("help", false, OptHelp));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case 'q': quiet = true; break;
                case 'T': ImageOpener.CheckCacheMode(value!, "Invalid source cache option"); break;
                case 'U' or OptForceShare: forceShare = true; break;
                case 'r':
                    repair = value switch
                    {
                        "leaks" => Qcow2RepairMode.Leaks,
                        "all" => Qcow2RepairMode.All,
                        _ => throw CliException.Usage($"Unknown option value for -r (expecting 'leaks' or 'all'): {value}"),
                    };
                    break;
                case OptOutput: json = Cli.ParseOutputFormat(value!); break;
                case OptNoBacking: followBacking = false; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 1)
        {
            throw CliException.Usage("Expecting one image file name");
        }

        string fileName = getopt.Operands[0];
        Qcow2CheckResult result = RunCheck(fileName, format, repair, followBacking, forceShare);
        if (result.Failure is { } failure)
        {
            foreach (string message in result.Messages)
            {
                stderr.Write(message + "\n");
            }

            throw new CliException($"Check failed: {failure}");
        }

        foreach (string message in result.Messages)
        {
            // qemu-img prints this step on stdout, as part of the report below.
            if (message != "Double checking the fixed image now...")
            {
                stderr.Write(message + "\n");
            }
        }

        if (!quiet)
        {
            stdout.Write(json ? QemuJson.Format(ToJson(result, fileName, "qcow2")) + "\n" : ToHuman(result));
        }

        return result.ExitCode;
    }

    /// <summary>
    /// Checks <paramref name="fileName"/> the way qemu-img does (it opens with BDRV_O_CHECK): the image is
    /// first opened read-only, which reports missing files, backing files and unsupported features in
    /// qemu-img's words; the check itself then reads the file directly, so a writable repair neither
    /// repairs a dirty image behind the report's back nor refuses an image marked corrupt, and an image
    /// whose tables lie past the end of the file (which a normal open refuses) is still checked.
    /// </summary>
    private static Qcow2CheckResult RunCheck(string fileName, string? format, Qcow2RepairMode repair, bool followBacking, bool forceShare)
    {
        if (forceShare && repair != Qcow2RepairMode.None)
        {
            throw new CliException($"Could not open '{fileName}': force-share=on can only be used with read-only images");
        }

        if (repair != Qcow2RepairMode.None)
        {
            ImageOpener.RequireWriteLock(fileName, format);
        }

        CliException? openError = null;
        try
        {
            using DiskImageFile image = ImageOpener.Open(fileName, format, writable: false, followBacking, forceShare: forceShare);
            if (image is not Qcow2Image)
            {
                throw new CliException("This image format does not support checks", NotSupportedExitCode);
            }
        }
        catch (CliException e) when (e.ExitCode != NotSupportedExitCode && IsCheckableQcow2(fileName, format))
        {
            // Malformed tables: let the checker report what it finds. If even the checker cannot read
            // the header, the open error is the better message.
            openError = e;
        }

        Qcow2CheckResult result;
        try
        {
            result = Qcow2Image.Check(fileName, repair, forceShare ? ImageLocking.ForceShare : ImageLocking.Enabled);
        }
        catch (Exception e) when (ImageOpener.IsOpenFailure(e) || e is InvalidOperationException)
        {
            throw openError ?? new CliException($"Check failed: {e.Message}");
        }

        return result;
    }

    /// <summary>Whether the image's header is sound apart from tables that lie past the end of the file.</summary>
    private static bool IsCheckableQcow2(string fileName, string? format)
    {
        if (format is not (null or "qcow2"))
        {
            return false;
        }

        try
        {
            using FileBlockDevice host = FileBlockDevice.Open(fileName, writable: false);
            return Qcow2Image.IsCheckableHeader(host);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The ImageCheck object of <c>qemu-img check --output=json</c>: counters that are zero are left out, check-errors always present.</summary>
    internal static QemuJsonObject ToJson(Qcow2CheckResult r, string fileName, string format)
    {
        var o = new QemuJsonObject()
            .Add("filename", fileName)
            .Add("format", format)
            .Add("check-errors", r.CheckErrors);
        AddIfNonZero(o, "image-end-offset", r.ImageEndOffset);
        AddIfNonZero(o, "corruptions", r.Corruptions);
        AddIfNonZero(o, "leaks", r.Leaks);
        AddIfNonZero(o, "corruptions-fixed", r.CorruptionsFixed);
        AddIfNonZero(o, "leaks-fixed", r.LeaksFixed);
        AddIfNonZero(o, "total-clusters", r.TotalClusters);
        AddIfNonZero(o, "allocated-clusters", r.AllocatedClusters);
        AddIfNonZero(o, "fragmented-clusters", r.FragmentedClusters);
        AddIfNonZero(o, "compressed-clusters", r.CompressedClusters);
        return o;
    }

    private static void AddIfNonZero(QemuJsonObject o, string key, long value)
    {
        if (value != 0)
        {
            o.Add(key, value);
        }
    }

    /// <summary>The human-readable report of <c>qemu-img check</c>.</summary>
    internal static string ToHuman(Qcow2CheckResult r)
    {
        var sb = new StringBuilder();
        if (r.LeaksFixed != 0 || r.CorruptionsFixed != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"The following inconsistencies were found and repaired:\n\n    {r.LeaksFixed} leaked clusters\n    {r.CorruptionsFixed} corruptions\n\nDouble checking the fixed image now...\n");
        }

        if (r.Corruptions == 0 && r.Leaks == 0 && r.CheckErrors == 0)
        {
            sb.Append("No errors were found on the image.\n");
        }
        else
        {
            if (r.Corruptions != 0)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\n{r.Corruptions} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n");
            }

            if (r.Leaks != 0)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\n{r.Leaks} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n");
            }

            if (r.CheckErrors != 0)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\n{r.CheckErrors} internal errors have occurred during the check.\n");
            }
        }

        if (r.TotalClusters != 0 && r.AllocatedClusters != 0)
        {
            double allocated = r.AllocatedClusters * 100.0 / r.TotalClusters;
            double fragmented = r.FragmentedClusters * 100.0 / r.AllocatedClusters;
            double compressed = r.CompressedClusters * 100.0 / r.AllocatedClusters;
            sb.Append(CultureInfo.InvariantCulture, $"{r.AllocatedClusters}/{r.TotalClusters} = {QemuSize.FormatF2(allocated)}% allocated, {QemuSize.FormatF2(fragmented)}% fragmented, {QemuSize.FormatF2(compressed)}% compressed clusters\n");
        }

        if (r.ImageEndOffset != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"Image end offset: {r.ImageEndOffset}\n");
        }

        return sb.ToString();
    }
}
