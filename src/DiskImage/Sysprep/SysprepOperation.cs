namespace DiskImage.Sysprep;

/// <summary>
/// One named sysprep operation: virt-sysprep's (same name, same default) or one of DiskImage's extra operations
/// for what virt-sysprep misses. The catalogue is <see cref="SysprepOperations.All"/>; operations are run by
/// <see cref="SysprepRunner.Run"/>.
/// </summary>
public abstract class SysprepOperation
{
    private protected SysprepOperation(string name, string description, bool enabledByDefault, bool isExtra)
    {
        Name = name;
        Description = description;
        EnabledByDefault = enabledByDefault;
        IsExtra = isExtra;
    }

    /// <summary>The operation's name, as <c>--operations</c> and <c>--enable</c> take it (<c>logfiles</c>).</summary>
    public string Name { get; }

    /// <summary>One line saying what the operation removes or changes.</summary>
    public string Description { get; }

    /// <summary>Whether the operation is in the <c>defaults</c> set (virt-sysprep's defaults; never an extra operation).</summary>
    public bool EnabledByDefault { get; }

    /// <summary>Whether this is a DiskImage operation that virt-sysprep does not have (selected with <c>extras</c> or by name).</summary>
    public bool IsExtra { get; }

    /// <summary>Does the operation's work (or records it, in a dry run).</summary>
    internal abstract void Apply(SysprepContext context);

    /// <inheritdoc />
    public override string ToString() => Name;
}
