using System.Text;

namespace DiskImage.Customization;

/// <summary>
/// An ordered list of customization operations written with virt-customize's option names and argument
/// syntax (<c>--write /etc/motd:hello</c>, <c>--root-password password:x</c>, ...), from a command line, a
/// <c>--commands-from-file</c> script, or <see cref="Add"/>. Arguments are checked when added.
/// </summary>
/// <remarks>
/// Operations: append-line, chmod, chown, copy, copy-in, delete, edit, firstboot, firstboot-command,
/// firstboot-install, hostname, install, link, mkdir, move, password, root-password, run, run-command, scrub,
/// ssh-inject, timezone, touch, truncate, truncate-recursive, uninstall, update, upload, write; plus
/// password-crypto, selinux-relabel and no-logfile. <c>run</c>, <c>run-command</c>, <c>install</c>,
/// <c>uninstall</c> and <c>update</c> are deferred to the guest's first boot. tar-in and the removed sm-* options
/// are refused with <see cref="NotSupportedException"/>.
/// </remarks>
public sealed class CustomizeScript
{
    private static readonly HashSet<string> WithArgument = new(StringComparer.Ordinal)
    {
        "append-line", "chmod", "chown", "copy", "copy-in", "delete", "edit", "firstboot", "firstboot-command",
        "firstboot-install", "hostname", "install", "link", "mkdir", "move", "password", "root-password", "run",
        "run-command", "scrub", "ssh-inject", "timezone", "touch", "truncate", "truncate-recursive", "uninstall",
        "upload", "write", "password-crypto", "commands-from-file", "tar-in",
    };

    private static readonly HashSet<string> WithoutArgument = new(StringComparer.Ordinal)
    {
        "update", "selinux-relabel", "no-logfile", "sm-register", "sm-unregister", "sm-remove",
    };

    private readonly List<CustomizeOperation> _operations = [];

    /// <summary>The operations, as written (<c>--write /etc/x:y</c>), in order.</summary>
    public IReadOnlyList<string> Operations => _operations.ConvertAll(o => o.ToString());

    /// <summary>The number of operations.</summary>
    public int Count => _operations.Count;

    /// <summary>The <c>--password-crypto</c> given in the script, or null.</summary>
    public string? PasswordCrypto { get; private set; }

    internal IReadOnlyList<CustomizeOperation> Items => _operations;

    /// <summary>Whether <paramref name="option"/> (without dashes) is a customization option, and whether it takes an argument.</summary>
    /// <param name="option">The option name, for example "write".</param>
    /// <param name="takesArgument">Whether it needs an argument.</param>
    /// <returns>True for a known option.</returns>
    public static bool IsOption(string option, out bool takesArgument)
    {
        ArgumentNullException.ThrowIfNull(option);
        takesArgument = WithArgument.Contains(option);
        return takesArgument || WithoutArgument.Contains(option) || option.StartsWith("sm-", StringComparison.Ordinal);
    }

    /// <summary>Parses a virt-customize style command line (<c>--write</c>, <c>/etc/x:y</c>, <c>--update</c>, or <c>--opt=value</c>).</summary>
    /// <param name="arguments">The options and their arguments.</param>
    /// <returns>The script.</returns>
    /// <exception cref="CustomizationException">An unknown option, a missing or malformed argument.</exception>
    public static CustomizeScript Parse(IReadOnlyList<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var script = new CustomizeScript();
        for (int i = 0; i < arguments.Count; i++)
        {
            string a = arguments[i];
            if (!a.StartsWith("--", StringComparison.Ordinal))
            {
                throw new CustomizationException($"'{a}' is not an option (expected --write, --upload, ...)");
            }

            string name = a[2..];
            string? value = null;
            int eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }

            if (!IsOption(name, out bool takes))
            {
                throw new CustomizationException($"--{name}: unknown customization option");
            }

            if (takes && value is null)
            {
                if (++i >= arguments.Count)
                {
                    throw new CustomizationException($"--{name}: the option needs an argument");
                }

                value = arguments[i];
            }

            script.Add(name, value);
        }

        return script;
    }

    /// <summary>Parses a <c>--commands-from-file</c> script: one "option argument" a line, '#' comments, '\' at the end continues a line.</summary>
    /// <param name="text">The script.</param>
    /// <returns>The script.</returns>
    /// <exception cref="CustomizationException">An unknown option, a missing or malformed argument (the message names the line).</exception>
    public static CustomizeScript ParseCommandsFile(string text)
    {
        var script = new CustomizeScript();
        script.AddCommandsFile(text);
        return script;
    }

    /// <summary>Appends the operations of a <c>--commands-from-file</c> script.</summary>
    /// <param name="text">The script text.</param>
    /// <exception cref="CustomizationException">An unknown option, a missing or malformed argument (the message names the line).</exception>
    public void AddCommandsFile(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            int first = i + 1;
            var sb = new StringBuilder(lines[i]);
            while (sb.Length > 0 && sb[^1] == '\\' && i + 1 < lines.Length)
            {
                sb.Length--;
                sb.Append('\n').Append(lines[++i]);
            }

            string line = sb.ToString().TrimStart();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            int space = line.IndexOfAny([' ', '\t']);
            string name = space < 0 ? line : line[..space];
            string? argument = space < 0 ? null : line[(space + 1)..];
            if (!IsOption(name, out bool takes))
            {
                throw new CustomizationException($"line {first}: '{name}' is not a customization option");
            }

            if (takes && argument is null)
            {
                throw new CustomizationException($"line {first}: {name} needs an argument");
            }

            try
            {
                Add(name, takes ? argument : null);
            }
            catch (CustomizationException e)
            {
                throw new CustomizationException($"line {first}: {e.Message}", e);
            }
        }
    }

    /// <summary>Appends one operation.</summary>
    /// <param name="option">The option name, with or without the leading "--" ("write").</param>
    /// <param name="argument">Its argument; null for an option without one.</param>
    /// <exception cref="CustomizationException">Unknown option, missing or malformed argument.</exception>
    /// <exception cref="NotSupportedException">An option that cannot work without running the guest (tar-in, sm-*).</exception>
    public void Add(string option, string? argument = null)
    {
        ArgumentNullException.ThrowIfNull(option);
        string name = option.StartsWith("--", StringComparison.Ordinal) ? option[2..] : option;
        if (!IsOption(name, out bool takes))
        {
            throw new CustomizationException($"--{name}: unknown customization option");
        }

        if (takes && string.IsNullOrEmpty(argument) && name != "write")
        {
            throw new CustomizationException($"--{name}: the option needs an argument");
        }

        if (!takes && argument is not null)
        {
            throw new CustomizationException($"--{name}: the option takes no argument");
        }

        string a = argument!;
        switch (name)
        {
            case "commands-from-file":
                string text;
                try
                {
                    text = File.ReadAllText(a);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new CustomizationException($"--commands-from-file {a}", e.Message, e);
                }

                AddCommandsFile(text);
                return;
            case "password-crypto":
                PasswordCrypto = PasswordHashing.Validate(a);
                return;
        }

        _operations.Add(Create(name, argument));
    }

    private static CustomizeOperation Create(string name, string? a) => name switch
    {
        "append-line" => new AppendLineOperation(a!),
        "chmod" => new ChmodOperation(a!),
        "chown" => new ChownOperation(a!),
        "copy" => new CopyOperation(a!),
        "copy-in" => new CopyInOperation(a!),
        "delete" => new DeleteOperation(a!),
        "edit" => new EditOperation(a!),
        "firstboot" or "firstboot-command" or "firstboot-install" => new FirstbootOperation(name, a!),
        "hostname" => new HostnameOperation(a!),
        "link" => new LinkOperation(a!),
        "mkdir" => new MkdirOperation(a!),
        "move" => new MoveOperation(a!),
        "password" or "root-password" => new PasswordOperation(name, a!),
        "run" or "run-command" or "install" or "uninstall" or "update" => new DeferredOperation(name, a),
        "scrub" => new ScrubOperation(a!),
        "ssh-inject" => new SshInjectOperation(a!),
        "timezone" => new TimezoneOperation(a!),
        "touch" => new TouchOperation(a!),
        "truncate" => new TruncateOperation(a!),
        "truncate-recursive" => new TruncateRecursiveOperation(a!),
        "upload" => new UploadOperation(a!),
        "write" => new WriteOperation(a ?? string.Empty),
        "selinux-relabel" => new NoteOperation(name, a, "accepted for compatibility; SELinux labels are written by the labeller for the changed paths"),
        "no-logfile" => new NoteOperation(name, a, "no log file is written into the guest, so there is nothing to scrub"),
        "tar-in" => throw new NotSupportedException("--tar-in is not supported (use --copy-in with the unpacked tree)."),
        _ => throw new NotSupportedException($"--{name} was removed from virt-customize 1.56 and is not supported (run subscription-manager at first boot with --firstboot-command)."),
    };
}
