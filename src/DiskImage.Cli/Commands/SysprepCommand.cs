using DiskImage.Customization;
using DiskImage.Sysprep;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>sysprep [-a] IMAGE [--operations ...] [--enable ...] [--machine-id empty|uninitialized|keep] [--dry-run]
/// [--list-operations] [-q] [virt-customize options]</c>: virt-sysprep's file operations on the file system in an image,
/// in-process. virt-customize's options (<c>--hostname</c>, <c>--ssh-inject</c>, <c>--write</c>, ...) are the
/// <c>customize</c> operation, as in virt-sysprep: checked before anything is written, applied after every other
/// operation.
/// </summary>
internal static class SysprepCommand
{
    private const int OptHelp = 1000;
    private const int OptOperations = 1001;
    private const int OptEnable = 1002;
    private const int OptDryRun = 1003;
    private const int OptList = 1004;
    private const int OptMachineId = 1005;
    private const int OptRemoveUsers = 1006;
    private const int OptKeepUsers = 1007;
    private const int OptFormat = 1008;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        string? format = null;
        string? image = null;
        SysprepSelection? selection = null;
        bool enableGiven = false;
        bool dryRun = false;
        bool quiet = false;
        MachineIdPolicy machineId = MachineIdPolicy.Empty;
        var removeUsers = new List<string>();
        var keepUsers = new List<string>();
        var script = new CustomizeScript();
        var getopt = new GetOpt(
            TakeCustomizeOptions(args, script),
            "a:f:hnqvx",
            new LongOption("help", false, OptHelp),
            new LongOption("add", true, 'a'),
            new LongOption("format", true, OptFormat),
            new LongOption("operations", true, OptOperations),
            new LongOption("operation", true, OptOperations),
            new LongOption("enable", true, OptEnable),
            new LongOption("dry-run", false, OptDryRun),
            new LongOption("dryrun", false, OptDryRun),
            new LongOption("list-operations", false, OptList),
            new LongOption("machine-id", true, OptMachineId),
            new LongOption("remove-user-accounts", true, OptRemoveUsers),
            new LongOption("keep-user-accounts", true, OptKeepUsers),
            new LongOption("quiet", false, 'q'));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'a': image = image is null ? value : throw new CliException("sysprep: only one image (-a) is supported"); break;
                case 'f' or OptFormat: format = value; break;
                case 'n' or OptDryRun: dryRun = true; break;
                case 'q': quiet = true; break;
                case 'v' or 'x': break;
                case OptOperations: selection = Parse(() => SysprepSelection.ParseOperations(value!, selection)); break;
                case OptEnable:
                    if (enableGiven || selection is not null)
                    {
                        throw new CliException("--enable option can only be given once (and not after --operations)");
                    }

                    enableGiven = true;
                    selection = Parse(() => SysprepSelection.Enable(value!));
                    break;
                case OptMachineId:
                    machineId = value switch
                    {
                        "empty" => MachineIdPolicy.Empty,
                        "uninitialized" => MachineIdPolicy.Uninitialized,
                        "keep" => MachineIdPolicy.Keep,
                        _ => throw new CliException($"--machine-id: '{value}' is not empty, uninitialized or keep"),
                    };
                    break;
                case OptRemoveUsers: removeUsers.AddRange(Users(value!)); break;
                case OptKeepUsers: keepUsers.AddRange(Users(value!)); break;
                case OptList: return ListOperations(stdout);
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        foreach (string operand in getopt.Operands)
        {
            image = image is null ? operand : throw CliException.Usage("sysprep: expecting one image file name");
        }

        if (image is null)
        {
            throw CliException.Usage("sysprep: expecting an image file name (-a IMAGE)");
        }

        selection ??= SysprepSelection.Defaults;
        if ((removeUsers.Count > 0 || keepUsers.Count > 0) && !selection.Contains("user-account"))
        {
            throw new CliException("user-account: --remove-user-accounts/--keep-user-accounts was used, but the \"user-account\" operation is not enabled");
        }

        bool customize = script.Count > 0;
        if (customize)
        {
            if (!selection.Contains("customize"))
            {
                throw new CliException("customize: customization options were given, but the \"customize\" operation is not enabled");
            }

            // Run by this command after the others, in its place (virt-sysprep's order 99), not as a note.
            selection = SysprepSelection.ParseOperations("-customize", selection);
        }

        var options = new SysprepOptions
        {
            Operations = selection,
            DryRun = dryRun,
            MachineId = machineId,
            RemoveUserAccounts = removeUsers,
            KeepUserAccounts = keepUsers,
        };

        using FileSystemImage fs = FileSystemImage.Open(image, format, writable: !dryRun);
        SysprepResult result;
        CustomizationResult? customized = null;
        try
        {
            // The customizations are checked (against the image as it is) before sysprep writes anything.
            if (customize)
            {
                customized = Customize(fs, script, dryRun: true);
            }

            result = SysprepRunner.Run(fs.FileSystem, options, cancellationToken);
            if (customize && !dryRun)
            {
                cancellationToken.ThrowIfCancellationRequested();
                customized = Customize(fs, script, dryRun: false);
            }
        }
        finally
        {
            if (!dryRun)
            {
                fs.Flush();
            }
        }

        if (dryRun || !quiet)
        {
            foreach (SysprepChange change in result.Changes)
            {
                if (dryRun || change.Kind != SysprepChangeKind.Deleted || !quiet)
                {
                    stdout.Write((dryRun ? "would " : string.Empty) + Describe(change) + "\n");
                }
            }
        }

        if (customized is not null)
        {
            if (dryRun || !quiet)
            {
                foreach (CustomizationChange change in customized.Changes)
                {
                    stdout.Write((dryRun ? "would " : string.Empty) + Describe(change) + "\n");
                }
            }

            foreach (KeyValuePair<string, string> p in customized.GeneratedPasswords)
            {
                stdout.Write($"Setting random password of {p.Key} to {p.Value}\n");
            }
        }

        var notes = new List<string>(result.Notes);
        if (customized is not null)
        {
            notes.AddRange(customized.Notes);
        }

        foreach (string note in notes)
        {
            if (!quiet)
            {
                stderr.Write($"{Cli.ProgramName}: note: {note}\n");
            }
        }

        return 0;
    }

    /// <summary>
    /// Moves virt-customize's options (and their arguments) from <paramref name="args"/> into <paramref name="script"/>,
    /// in order, and returns the rest for sysprep's own parser. Arguments of sysprep's options are never taken.
    /// </summary>
    private static string[] TakeCustomizeOptions(string[] args, CustomizeScript script)
    {
        var rest = new List<string>(args.Length);
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--")
            {
                rest.AddRange(args[i..]);
                break;
            }

            if (HasSeparateArgument(a))
            {
                rest.Add(a);
                if (i + 1 < args.Length)
                {
                    rest.Add(args[++i]);
                }
            }
            else if (!CustomizeArguments.TryTake(args, ref i, script))
            {
                rest.Add(a);
            }
        }

        return [.. rest];
    }

    /// <summary>Whether <paramref name="a"/> is a sysprep option whose argument is the next word.</summary>
    private static bool HasSeparateArgument(string a)
    {
        if (a.StartsWith("--", StringComparison.Ordinal))
        {
            return a is "--add" or "--format" or "--operations" or "--operation" or "--enable" or "--machine-id"
                or "--remove-user-accounts" or "--keep-user-accounts";
        }

        // A short option cluster (-qa IMAGE): -a or -f last takes the next word.
        for (int j = 1; j < a.Length && a[0] == '-'; j++)
        {
            if (a[j] is 'a' or 'f')
            {
                return j == a.Length - 1;
            }
        }

        return false;
    }

    private static CustomizationResult Customize(FileSystemImage fs, CustomizeScript script, bool dryRun)
    {
        // The machine-id stays as --machine-id left it: no refill of an emptied /etc/machine-id (RHBZ#1557042), and
        // the random seed is the random-seed operation's business.
        var options = new CustomizeOptions { DryRun = dryRun, RefreshRandomSeedAndMachineId = false };
        try
        {
            return Customizer.Apply(fs.FileSystem, script, options);
        }
        catch (CustomizationException e)
        {
            throw new CliException("customize: " + e.Message);
        }
        catch (NotSupportedException e)
        {
            throw new CliException("customize: " + e.Message);
        }
    }

    private static string Describe(CustomizationChange change) => change.Kind switch
    {
        CustomizationChangeKind.Deleted => $"delete {change.Path} (customize)",
        CustomizationChangeKind.Created => $"create {change.Path} (customize)",
        CustomizationChangeKind.AttributesChanged => $"change attributes of {change.Path} (customize)",
        _ => $"rewrite {change.Path} (customize)",
    };

    private static string Describe(SysprepChange change) => change.Kind switch
    {
        SysprepChangeKind.Deleted => $"delete {change.Path} ({change.Operation})",
        SysprepChangeKind.Created => $"create {change.Path} ({change.Operation})",
        _ => $"rewrite {change.Path} ({change.Operation})",
    };

    private static int ListOperations(TextWriter stdout)
    {
        // virt-sysprep's format: name, '*' for a default, description; extras marked '+'.
        foreach (SysprepOperation op in SysprepOperations.All)
        {
            string mark = op.EnabledByDefault ? "*" : op.IsExtra ? "+" : " ";
            stdout.Write($"{op.Name} {mark} {op.Description}\n");
        }

        return 0;
    }

    private static SysprepSelection Parse(Func<SysprepSelection> parse)
    {
        try
        {
            return parse();
        }
        catch (ArgumentException e)
        {
            throw new CliException(e.Message.Split(" (Parameter", 2)[0]);
        }
    }

    private static string[] Users(string value)
    {
        string[] users = value.Split(',');
        if (Array.IndexOf(users, string.Empty) >= 0)
        {
            throw new CliException("user-accounts: empty user name");
        }

        return users;
    }
}
