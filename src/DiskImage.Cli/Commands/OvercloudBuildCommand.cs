using System.Globalization;
using System.Text.Json;
using DiskImage.OpenStack.Build;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>overcloud build [--all | NAME...] --base IMG [--recipe FILE] [-o DIR]</c>: builds the images of a recipe (the
/// embedded default: the lab's overcloud set) from a base guest, as <c>openstack overcloud image build</c> did.
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
            new LongOption("tmpdir", true, OptTmpDir));
        string? baseImage = null, recipePath = null, tmpDir = null;
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

        if (baseImage is null)
        {
            throw CliException.Usage("overcloud build: --base IMG (the base guest image) is required");
        }

        long? epoch = null;
        if (Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH") is { Length: > 0 } sde)
        {
            epoch = long.TryParse(sde, NumberStyles.None, CultureInfo.InvariantCulture, out long e) && e <= 253402300799
                ? e
                : throw new CliException($"SOURCE_DATE_EPOCH '{sde}' is not a number of seconds since 1970");
        }

        OvercloudRecipe recipe = recipePath is null ? OvercloudRecipe.Default : OvercloudRecipe.Load(recipePath);
        var options = new OvercloudBuildOptions
        {
            BaseImage = baseImage,
            OutputDirectory = outDir,
            Images = all ? [] : names,
            SourceDateEpoch = epoch,
            Force = force,
            TemporaryDirectory = tmpDir,
        };
        var log = new LineProgress(quiet || json ? null : stderr);
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
            stdout.Write(Json(result));
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

    private static string Json(OvercloudBuildResult result)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("manifest", result.ManifestPath);
            w.WriteString("input-hash", result.InputHash);
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
