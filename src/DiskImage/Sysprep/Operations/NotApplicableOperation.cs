namespace DiskImage.Sysprep.Operations;

/// <summary>
/// A virt-sysprep operation that is not a file operation (<c>customize</c>, <c>script</c>, <c>lvm-uuids</c>,
/// <c>fs-uuids</c>): known by name so <c>--operations defaults,-customize</c> keeps working, listed with the reason.
/// When it is selected, it adds a note (a default) or is refused with <see cref="NotSupportedException"/> (not a default).
/// </summary>
internal sealed class NotApplicableOperation : SysprepOperation
{
    private readonly string _reason;

    private readonly bool _silent;

    public NotApplicableOperation(string name, string description, bool enabledByDefault, string reason, bool silent = false)
        : base(name, description, enabledByDefault, isExtra: false)
    {
        _reason = reason;
        _silent = silent;
    }

    /// <summary>Why the operation does nothing here.</summary>
    public string Reason => _reason;

    internal override void Apply(SysprepContext context)
    {
        if (!_silent)
        {
            context.Note("not applied: " + _reason);
        }
    }
}
