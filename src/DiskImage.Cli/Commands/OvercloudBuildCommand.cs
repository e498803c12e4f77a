using System.Globalization;
using System.Text.Json;
using DiskImage.OpenStack.Build;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>overcloud build [--all | NAME...] [--base IMG] [--recipe FILE] [-o DIR]</c>: builds the images of a recipe (the
/// embedded default: the lab's overcloud set) from a base guest, as <c>openstack overcloud image build</c> did. Without
/// <c>--base</c> the command makes its base guest itself (<see cref="OvercloudBaseGuest"/>): from <c>--base-tree DIR</c>
/// or <c>DISKIMAGE_DEBOOTSTRAP_TREE</c> when given, otherwise a minimal generated tree; it lives in a scratch directory
/// and is deleted after the build unless <c>--save-base FILE</c> keeps it.
/// </summary>
internal static class OvercloudBuildCommand
{
    /// <summary>Exit code when every selected file that could be built is written or current, but some were skipped.</summary>
    public const int ExitSkipped = 3;

    private const int OptHelp = 1000;
    private const int OptOutput = 1001;
    private const int OptAll = 1002;
    private const int OptBase = 1003;
    private const int OptRecipe = 1004;
    private const int OptForce = 1005;
    private const int OptPrintRecipe = 1006;
    private const int OptTmpDir = 1007;
    private const int OptBaseTree = 1008;
    private const int OptSaveBase = 1009;

    /// <summary>The variable naming a guest root tree (made by debootstrap) a generated base guest is made from.</summary>
    public const string TreeVariable = "DISKIMAGE_DEBOOTSTRAP_TREE";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var getopt = new GetOpt(
            args,
            "o:hq",
            new LongOption("help", false, OptHelp),
            new LongOption("output", true, OptOutput),
            new LongOption("all", false, OptAll),
            new LongOption("base", true, OptBase),
            new LongOption("recipe", true, OptRecipe),
            new LongOption("force", false, OptForce),
            new LongOption("print-default-recipe", false, OptPrintRecipe),
            new LongOption("tmpdir", true, OptTmpDir),
            new LongOption("base-tree", true, OptBaseTree),
            new LongOption("save-base", true, OptSaveBase));
        string? baseImage = null, recipePath = null, tmpDir = null, baseTree = null, saveBase = null;
        string outDir = ".";
        bool all = false, json = false, quiet = false, force = false;
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
                case 'q': quiet = true; break;
                case 'o': outDir = value!; break;
                case OptOutput: json = Cli.ParseOutputFormat(value!); break;
                case OptAll: all = true; break;
                case OptBase: baseImage = value; break;
                case OptRecipe: recipePath = value; break;
                case OptForce: force = true; break;
                case OptTmpDir: tmpDir = value; break;
                case OptBaseTree: baseTree = value; break;
                case OptSaveBase: saveBase = value; break;
                case OptPrintRecipe:
                    stdout.Write(OvercloudRecipe.DefaultText);
                    return 0;
            }
        }

        IReadOnlyList<string> names = getopt.Operands;
        if (all == (names.Count > 0))
        {
            throw CliException.Usage(all ? "overcloud build: give --all or image names, not both" : "overcloud build: give --all or the names of the images to build");
        }

        if (baseImage is not null && (baseTree is not null || saveBase is not null))
        {
            throw CliException.Usage("overcloud build: --base-tree and --save-base make a base guest; they do not go with --base");
        }

        long? epoch = null;
        if (Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH") is { Length: > 0 } sde)
        {
            epoch = long.TryParse(sde, NumberStyles.None, CultureInfo.InvariantCulture, out long e) && e <= 253402300799
                ? e
                : throw new CliException($"SOURCE_DATE_EPOCH '{sde}' is not a number of seconds since 1970");
        }

        OvercloudRecipe recipe = recipePath is null ? OvercloudRecipe.Default : OvercloudRecipe.Load(recipePath);
        var log = new LineProgress(quiet || json ? null : stderr);
        OvercloudBaseGuestResult? generated = null;
        ScratchDirectory? scratch = null;
        try
        {
            if (baseImage is null)
            {
                (generated, scratch) = MakeBaseGuest(recipe, baseTree, saveBase, tmpDir, epoch, log, cancellationToken);
                baseImage = generated.Path;
            }

            return Build(recipe, baseImage, generated, outDir, all ? [] : names, epoch, force, tmpDir, json, quiet, log, stdout, cancellationToken);
        }
        finally
        {
            scratch?.Dispose();
        }
    }

    private static (OvercloudBaseGuestResult, ScratchDirectory?) MakeBaseGuest(OvercloudRecipe recipe, string? baseTree, string? saveBase, string? tmpDir,
        long? epoch, LineProgress log, CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new CliException("overcloud build: making a base guest needs Linux; give --base IMG");
        }

        string? tree = baseTree;
        if (tree is null && Environment.GetEnvironmentVariable(TreeVariable) is { Length: > 0 } fromEnvironment && Directory.Exists(fromEnvironment))
        {
            tree = fromEnvironment;
        }

        if (tree is not null && !Directory.Exists(tree))
        {
            throw new CliException($"{tree}: the base tree does not exist");
        }

        ScratchDirectory? scratch = saveBase is null ? ScratchDirectory.Create(tmpDir, OvercloudBuilder.ScratchPrefix) : null;
        try
        {
            string path = saveBase ?? Path.Combine(scratch!.Path, "base-guest.qcow2");
            log.Report(new OvercloudBuildProgress { Message = "making the base guest from " + (tree ?? "a minimal generated tree") });
            OvercloudBaseGuestResult result = OvercloudBaseGuest.CreateAsync(path, new OvercloudBaseGuestOptions { SourceTree = tree, Recipe = recipe, SourceDateEpoch = epoch }, cancellationToken)
                .GetAwaiter().GetResult();
            log.Report(new OvercloudBuildProgress { Message = $"base guest: kernel {result.KernelVersion}" + (saveBase is null ? string.Empty : ", kept at " + result.Path) });
            foreach (string note in result.Notes)
            {
                log.Report(new OvercloudBuildProgress { Message = "base guest: added " + note });
            }

            foreach (string placeholder in result.Placeholders)
            {
                log.Report(new OvercloudBuildProgress { Message = $"base guest: PLACEHOLDER {placeholder} (see {OvercloudBaseGuest.MarkerPath} in the images)" });
            }

            return (result, scratch);
        }
        catch
        {
            scratch?.Dispose();
            throw;
        }
    }

    private static int Build(OvercloudRecipe recipe, string baseImage, OvercloudBaseGuestResult? generated, string outDir, IReadOnlyList<string> names,
        long? epoch, bool force, string? tmpDir, bool json, bool quiet, LineProgress log, TextWriter stdout, CancellationToken cancellationToken)
    {
        var options = new OvercloudBuildOptions
        {
            BaseImage = baseImage,
            OutputDirectory = outDir,
            Images = names,
            SourceDateEpoch = epoch,
            Force = force,
            TemporaryDirectory = tmpDir,
        };
        OvercloudBuildResult result;
        try
        {
            result = OvercloudBuilder.BuildAsync(recipe, options, log, cancellationToken).GetAwaiter().GetResult();
        }
        catch (FileNotFoundException e) when (!File.Exists(baseImage))
        {
            throw new CliException(e.Message);
        }

        if (json)
        {
            stdout.Write(Json(result, generated));
        }
        else if (!quiet)
        {
            foreach (OvercloudBuildOutput o in result.Outputs)
            {
                stdout.WriteLine(o.Action == OvercloudBuildAction.Skipped
                    ? $"{o.File,-36} skipped  {o.Message}"
                    : $"{o.File,-36} {Action(o.Action),-8} {o.Size,12} {o.Sha256}");
            }
        }

        return result.AnySkipped ? ExitSkipped : 0;
    }

    private static string Action(OvercloudBuildAction action) => action switch
    {
        OvercloudBuildAction.Built => "built",
        OvercloudBuildAction.Current => "current",
        _ => "skipped",
    };

    private static string Json(OvercloudBuildResult result, OvercloudBaseGuestResult? generated)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("manifest", result.ManifestPath);
            w.WriteString("input-hash", result.InputHash);
            if (generated is not null)
            {
                w.WriteStartObject("base-guest");
                w.WriteString("source", generated.Source);
                w.WriteString("kernel-version", generated.KernelVersion);
                w.WriteStartArray("added");
                foreach (string note in generated.Notes)
                {
                    w.WriteStringValue(note);
                }

                w.WriteEndArray();
                w.WriteStartArray("placeholders");
                foreach (string placeholder in generated.Placeholders)
                {
                    w.WriteStringValue(placeholder);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteStartArray("outputs");
            foreach (OvercloudBuildOutput o in result.Outputs)
            {
                w.WriteStartObject();
                w.WriteString("image", o.Image);
                w.WriteString("file", o.File);
                w.WriteString("path", o.Path);
                w.WriteString("format", o.Format);
                w.WriteString("action", Action(o.Action));
                w.WriteNumber("size", o.Size);
                if (o.Sha256 is not null)
                {
                    w.WriteString("sha256", o.Sha256);
                }

                if (o.Message is not null)
                {
                    w.WriteString("message", o.Message);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>Writes each progress step as a line, synchronously (so messages keep their order).</summary>
    private sealed class LineProgress(TextWriter? writer) : IProgress<OvercloudBuildProgress>
    {
        public void Report(OvercloudBuildProgress value) => writer?.WriteLine(value.ToString());
    }
}
