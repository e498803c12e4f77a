namespace DiskImage.Cli;

/// <summary>A long option: its name (without dashes), whether it takes an argument, and the id <see cref="GetOpt.Next"/> returns.</summary>
internal readonly record struct LongOption(string Name, bool HasArgument, int Id);

/// <summary>
/// getopt_long-style parsing as qemu-img uses it: combined short flags (<c>-cp</c>), attached or
/// separate arguments (<c>-fqcow2</c>, <c>-f qcow2</c>), long options with <c>=</c> or a separate
/// argument (<c>--output=json</c>, <c>--output json</c>), unique prefixes of long options,
/// options and operands in any order, and <c>--</c> ending the options.
/// </summary>
internal sealed class GetOpt
{
    private readonly string[] _args;
    private readonly string _shortSpec;
    private readonly LongOption[] _longOptions;
    private readonly List<string> _operands = [];
    private int _index;
    private int _charIndex;
    private bool _onlyOperands;

    /// <param name="args">The arguments after the verb.</param>
    /// <param name="shortSpec">Short option letters; a letter followed by ':' takes an argument.</param>
    /// <param name="longOptions">Long options.</param>
    public GetOpt(string[] args, string shortSpec, params LongOption[] longOptions)
    {
        _args = args;
        _shortSpec = shortSpec;
        _longOptions = longOptions;
    }

    /// <summary>Operands (non-option arguments) seen so far; complete once <see cref="Next"/> returned false.</summary>
    public IReadOnlyList<string> Operands => _operands;

    /// <summary>
    /// Returns the next option: a short option's character code or a long option's id, and its
    /// argument. Returns false when the arguments are exhausted.
    /// </summary>
    /// <exception cref="CliException">An unknown option or a missing argument (usage error).</exception>
    public bool Next(out int option, out string? argument)
    {
        option = 0;
        argument = null;
        while (true)
        {
            if (_charIndex > 0)
            {
                return NextShort(out option, out argument);
            }

            if (_index >= _args.Length)
            {
                return false;
            }

            string arg = _args[_index];
            if (_onlyOperands || arg.Length < 2 || arg[0] != '-')
            {
                _operands.Add(arg);
                _index++;
                continue;
            }

            if (arg == "--")
            {
                _onlyOperands = true;
                _index++;
                continue;
            }

            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                _index++;
                return NextLong(arg, out option, out argument);
            }

            _charIndex = 1;
        }
    }

    private bool NextShort(out int option, out string? argument)
    {
        string arg = _args[_index];
        char c = arg[_charIndex++];
        int spec = c == ':' ? -1 : _shortSpec.IndexOf(c, StringComparison.Ordinal);
        if (spec < 0)
        {
            throw CliException.Usage($"unrecognized option '{arg}'");
        }

        option = c;
        argument = null;
        bool takesArgument = spec + 1 < _shortSpec.Length && _shortSpec[spec + 1] == ':';
        if (takesArgument)
        {
            if (_charIndex < arg.Length)
            {
                argument = arg[_charIndex..];
            }
            else if (_index + 1 < _args.Length)
            {
                argument = _args[++_index];
            }
            else
            {
                throw CliException.Usage($"missing argument for option '-{c}'");
            }

            _index++;
            _charIndex = 0;
            return true;
        }

        if (_charIndex >= arg.Length)
        {
            _index++;
            _charIndex = 0;
        }

        return true;
    }

    private bool NextLong(string arg, out int option, out string? argument)
    {
        int eq = arg.IndexOf('=', StringComparison.Ordinal);
        string name = eq < 0 ? arg[2..] : arg[2..eq];
        LongOption? match = null;
        foreach (LongOption candidate in _longOptions)
        {
            if (candidate.Name == name)
            {
                match = candidate;
                break;
            }

            if (candidate.Name.StartsWith(name, StringComparison.Ordinal) && name.Length > 0)
            {
                if (match is not null)
                {
                    throw CliException.Usage($"option '{arg}' is ambiguous");
                }

                match = candidate;
            }
        }

        if (match is not { } found)
        {
            throw CliException.Usage($"unrecognized option '{arg}'");
        }

        option = found.Id;
        argument = null;
        if (found.HasArgument)
        {
            if (eq >= 0)
            {
                argument = arg[(eq + 1)..];
            }
            else if (_index < _args.Length)
            {
                argument = _args[_index++];
            }
            else
            {
                throw CliException.Usage($"missing argument for option '--{found.Name}'");
            }
        }
        else if (eq >= 0)
        {
            throw CliException.Usage($"option '--{found.Name}' doesn't allow an argument");
        }

        return true;
    }
}
