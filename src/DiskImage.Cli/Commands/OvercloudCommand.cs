using System.Text.Json;
using DiskImage.OpenStack;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>overcloud upload</c>: puts the overcloud images into Glance as <c>openstack overcloud image upload</c>
/// does, authenticating from the <c>OS_*</c> variables over the clouds.yaml cloud of <c>--os-cloud</c> or <c>OS_CLOUD</c>.
/// </summary>
internal static class OvercloudCommand
{
    private const int OptHelp = 1000;
    private const int OptOutput = 1001;
    private const int OptImagePath = 1002;
    private const int OptOsImageName = 1003;
    private const int OptAgentName = 1004;
    private const int OptHttpBoot = 1005;
    private const int OptUpdateExisting = 1006;
    private const int OptWholeDisk = 1007;
    private const int OptArchitecture = 1008;
    private const int OptPlatform = 1009;
    private const int OptImageType = 1010;
    private const int OptOsCloud = 1011;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (args.Length == 0)
        {
            throw CliException.Usage("Expecting an overcloud command: build or upload");
        }

        string verb = args[0];
        if (verb is "-h" or "--help")
        {
            return Cli.PrintHelp(stdout);
        }

        if (verb == "build")
        {
            return OvercloudBuildCommand.Run(args[1..], stdout, stderr, cancellationToken);
        }

        if (verb != "upload")
        {
            throw CliException.Usage($"Unknown overcloud command '{verb}' (build, upload)");
        }

        var getopt = new GetOpt(
            args[1..],
            "o:hq",
            new LongOption("help", false, OptHelp),
            new LongOption("output", true, OptOutput),
            new LongOption("image-path", true, OptImagePath),
            new LongOption("os-image-name", true, OptOsImageName),
            new LongOption("ironic-python-agent-name", true, OptAgentName),
            new LongOption("http-boot", true, OptHttpBoot),
            new LongOption("update-existing", false, OptUpdateExisting),
            new LongOption("whole-disk", false, OptWholeDisk),
            new LongOption("architecture", true, OptArchitecture),
            new LongOption("platform", true, OptPlatform),
            new LongOption("image-type", true, OptImageType),
            new LongOption("os-cloud", true, OptOsCloud));
        string imagePath = Environment.GetEnvironmentVariable("IMAGE_PATH") is { Length: > 0 } fromEnv ? fromEnv : ".";
        string osImageName = Environment.GetEnvironmentVariable("OS_IMAGE_NAME") is { Length: > 0 } osName ? osName : "overcloud-full.qcow2";
        string agentName = Environment.GetEnvironmentVariable("IRONIC_PYTHON_AGENT_NAME") is { Length: > 0 } agent ? agent : "ironic-python-agent";
        string? httpBoot = null, platform = null, imageType = null, cloud = null;
        string architecture = "x86_64";
        bool updateExisting = false, wholeDisk = false, json = false, quiet = false;
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
                case 'q': quiet = true; break;
                case 'o' or OptImagePath: imagePath = value!; break;
                case OptOutput: json = Cli.ParseOutputFormat(value!); break;
                case OptOsImageName: osImageName = value!; break;
                case OptAgentName: agentName = value!; break;
                case OptHttpBoot: httpBoot = value; break;
                case OptUpdateExisting: updateExisting = true; break;
                case OptWholeDisk: wholeDisk = true; break;
                case OptArchitecture: architecture = value!; break;
                case OptPlatform: platform = value; break;
                case OptOsCloud: cloud = value; break;
                case OptImageType:
                    imageType = value is "os" or "ironic-python-agent" ? value : throw new CliException("--image-type must be os or ironic-python-agent");
                    break;
            }
        }

        if (getopt.Operands.Count > 0)
        {
            throw CliException.Usage($"overcloud upload takes no operands ('{getopt.Operands[0]}')");
        }

        var options = new OvercloudUploadOptions
        {
            ImageDirectory = imagePath,
            OsImageName = osImageName,
            IronicPythonAgentName = agentName,
            HttpBootDirectory = httpBoot,
            UpdateExisting = updateExisting,
            WholeDisk = wholeDisk,
            Architecture = architecture,
            Platform = platform,
            IncludeOsImage = imageType is null or "os",
            IncludeAgent = imageType is null or "ironic-python-agent",
        };
        OpenStackAuthOptions auth;
        try
        {
            auth = OpenStackAuthOptions.FromEnvironment(null, cloud);
            using var client = new GlanceClient(auth);
            var log = new LineProgress(quiet || json ? null : stderr);
            IReadOnlyList<OvercloudUploadEntry> entries = OvercloudImageUploader.UploadAsync(client, options, log, cancellationToken).GetAwaiter().GetResult();
            if (json)
            {
                stdout.Write(Json(entries));
            }
            else if (!quiet)
            {
                foreach (OvercloudUploadEntry e in entries)
                {
                    stdout.WriteLine($"{e.Name,-40} {Action(e.Action),-10} {e.ImageId}");
                }

                int replaced = entries.Count(e => e.Action is OvercloudUploadAction.Replaced or OvercloudUploadAction.Copied);
                if (replaced > 0 && updateExisting)
                {
                    stdout.WriteLine($"{replaced} images have been updated, make sure to rerun openstack overcloud node configure");
                }
            }

            return 0;
        }
        catch (FileNotFoundException e)
        {
            throw new CliException(e.Message);
        }
        catch (ArgumentException e)
        {
            throw new CliException(e.Message);
        }
        catch (OpenStackException e)
        {
            throw new CliException(e.Message);
        }
        catch (HttpRequestException e)
        {
            throw new CliException("The image service could not be reached: " + e.Message);
        }
    }

    private static string Action(OvercloudUploadAction action) => action switch
    {
        OvercloudUploadAction.Uploaded => "uploaded",
        OvercloudUploadAction.UpToDate => "up-to-date",
        OvercloudUploadAction.Replaced => "replaced",
        OvercloudUploadAction.Outdated => "outdated",
        _ => "copied",
    };

    private static string Json(IReadOnlyList<OvercloudUploadEntry> entries)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartArray();
            foreach (OvercloudUploadEntry e in entries)
            {
                w.WriteStartObject();
                w.WriteString("name", e.Name);
                w.WriteString("file", e.File);
                w.WriteString("action", Action(e.Action));
                w.WriteString("id", e.ImageId);
                w.WriteString("md5", e.Md5);
                if (e.RenamedTo is not null)
                {
                    w.WriteString("renamed-to", e.RenamedTo);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>Writes each progress message as a line, synchronously (so messages keep their order).</summary>
    private sealed class LineProgress(TextWriter? writer) : IProgress<string>
    {
        public void Report(string value) => writer?.WriteLine(value);
    }
}
