using DiskImage.Customization;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>customize [-a] IMAGE [-f fmt] [-n] [-q] [-v] [-x] [virt-customize options]</c>: applies virt-customize's
/// operations to the file system in an image, in-process. The options keep virt-customize's names and
/// syntax (including <c>--commands-from-file</c>); the whole list is checked before anything is written.
/// </summary>
internal static class CustomizeCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        string? image = null;
        string? format = null;
        bool dryRun = false, quiet = false, trace = false;
        var script = new CustomizeScript();
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string a = args[i];
                string? inline = null;
                if (a.StartsWith("--", StringComparison.Ordinal) && a.IndexOf('=', StringComparison.Ordinal) is int eq and > 2)
                {
                    inline = a[(eq + 1)..];
                    a = a[..eq];
                }

                string Value() => inline ?? (++i < args.Length ? args[i] : throw CliException.Usage($"option '{a}' requires an argument"));
                switch (a)
                {
                    case "-h" or "--help": return Cli.PrintHelp(stdout);
                    case "-a" or "--add": image = image is null ? Value() : throw new CliException("customize takes one image (-a given twice)"); break;
                    case "-f" or "--format": format = Value(); break;
                    case "-n" or "--dry-run": dryRun = true; break;
                    case "-q" or "--quiet": quiet = true; break;
                    case "-v" or "--verbose": break;
                    case "-x": trace = true; break;
                    case "-m" or "-c" or "-d": _ = Value(); break;
                    default:
                        if (!CustomizeArguments.TryTake(args, ref i, script))
                        {
                            image = !a.StartsWith('-') && image is null ? a
                                : throw CliException.Usage(a.StartsWith('-') ? $"unrecognized option '{a}'" : $"unexpected argument '{a}' (one image only)");
                        }

                        break;
                }
            }
        }
        catch (CustomizationException e)
        {
            throw new CliException(e.Message);
        }
        catch (NotSupportedException e)
        {
            throw new CliException(e.Message);
        }

        if (image is null)
        {
            throw CliException.Usage("Expecting an image (-a IMAGE)");
        }

        using FileSystemImage opened = FileSystemImage.Open(image, format, writable: !dryRun);
        var options = new CustomizeOptions { DryRun = dryRun };
        DateTime start = DateTime.UtcNow;
        CustomizationResult result;
        try
        {
            result = Customizer.Apply(opened.FileSystem, script, options, log: quiet ? null : op =>
            {
                stdout.Write($"[{(DateTime.UtcNow - start).TotalSeconds,6:0.0}] {op}\n");
            });
        }
        catch (CustomizationException e)
        {
            throw new CliException(e.Message);
        }
        catch (NotSupportedException e)
        {
            throw new CliException(e.Message);
        }
        finally
        {
            if (!dryRun)
            {
                opened.Flush();
            }
        }

        foreach (KeyValuePair<string, string> p in result.GeneratedPasswords)
        {
            stdout.Write($"Setting random password of {p.Key} to {p.Value}\n");
        }

        foreach (string note in result.Notes)
        {
            stderr.Write($"{Cli.ProgramName}: note: {note}\n");
        }

        if (trace || dryRun)
        {
            foreach (CustomizationChange c in result.Changes)
            {
                string verb = c.Kind switch
                {
                    CustomizationChangeKind.Created => dryRun ? "would create" : "created",
                    CustomizationChangeKind.Replaced => dryRun ? "would replace" : "replaced",
                    CustomizationChangeKind.Modified => dryRun ? "would modify" : "modified",
                    CustomizationChangeKind.AttributesChanged => dryRun ? "would change attributes of" : "changed attributes of",
                    _ => dryRun ? "would delete" : "deleted",
                };
                stdout.Write($"{verb} {c.Path}\n");
            }
        }

        return 0;
    }
}
