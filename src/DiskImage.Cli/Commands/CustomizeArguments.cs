using DiskImage.Customization;

namespace DiskImage.Cli.Commands;

/// <summary>
/// virt-customize's options on a command line, shared by <c>customize</c> and <c>sysprep</c> (virt-sysprep accepts
/// the same options for its <c>customize</c> operation): <c>--write /etc/x:y</c> or <c>--write=/etc/x:y</c>, every
/// option of <see cref="CustomizeScript"/>, plus the appliance options that have no meaning without an appliance
/// (accepted and ignored).
/// </summary>
internal static class CustomizeArguments
{
    /// <summary>
    /// Takes <c>args[i]</c> (and its argument, advancing <paramref name="i"/>) when it is a customization option or an
    /// ignored appliance option.
    /// </summary>
    /// <param name="args">The command line after the verb.</param>
    /// <param name="i">The index of the option; left on its last argument when taken.</param>
    /// <param name="script">Receives the customization operation.</param>
    /// <returns>True when the option was taken; false when it is not one of these options.</returns>
    /// <exception cref="CliException">A missing or malformed argument.</exception>
    public static bool TryTake(string[] args, ref int i, CustomizeScript script)
    {
        string a = args[i];
        if (!a.StartsWith("--", StringComparison.Ordinal))
        {
            return false;
        }

        string? inline = null;
        if (a.IndexOf('=', StringComparison.Ordinal) is int eq and > 2)
        {
            inline = a[(eq + 1)..];
            a = a[..eq];
        }

        string name = a[2..];
        bool takes;
        bool ignored = false;
        switch (name)
        {
            case "no-selinux-relabel" or "network" or "no-network":
                takes = false;
                ignored = true;
                break;
            case "memsize" or "smp" or "attach" or "attach-format" or "connect" or "domain":
                takes = true;
                ignored = true;
                break;
            default:
                if (!CustomizeScript.IsOption(name, out takes))
                {
                    return false;
                }

                break;
        }

        string? value = null;
        if (takes)
        {
            value = inline ?? (i + 1 < args.Length ? args[++i] : throw CliException.Usage($"option '{a}' requires an argument"));
        }
        else if (inline is not null)
        {
            throw CliException.Usage($"option '{a}' doesn't allow an argument");
        }

        if (ignored)
        {
            return true;
        }

        try
        {
            script.Add(name, value);
        }
        catch (CustomizationException e)
        {
            throw new CliException(e.Message);
        }
        catch (NotSupportedException e)
        {
            throw new CliException(e.Message);
        }

        return true;
    }
}
