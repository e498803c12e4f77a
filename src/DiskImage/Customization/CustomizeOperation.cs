namespace DiskImage.Customization;

/// <summary>One parsed customization operation (a virt-customize option and its argument).</summary>
internal abstract class CustomizeOperation
{
    protected CustomizeOperation(string option, string? argument)
    {
        Option = option;
        Argument = argument;
    }

    /// <summary>The option name without dashes ("write").</summary>
    public string Option { get; }

    /// <summary>The argument as written, or null for an option without one.</summary>
    public string? Argument { get; }

    /// <summary>Whether virt-customize applies this after every other operation (passwords).</summary>
    public virtual bool RunsLast => false;

    /// <summary>Applies the operation (to the overlay in a dry run).</summary>
    public abstract void Apply(CustomizeContext context);

    /// <inheritdoc />
    public override string ToString() => Argument is null ? "--" + Option : $"--{Option} {Argument}";

    /// <summary>Splits "A:B" at the first colon, or throws naming the expected form.</summary>
    protected (string First, string Second) SplitPair(string form, bool allowEmptySecond = false)
    {
        string a = Argument ?? string.Empty;
        int colon = a.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == a.Length - 1 && !allowEmptySecond)
        {
            throw new CustomizationException(ToString(), $"expected {form}");
        }

        return (a[..colon], a[(colon + 1)..]);
    }
}
