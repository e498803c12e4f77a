namespace DiskImage.Customization;

/// <summary><c>--truncate FILE</c>: empties an existing file (in place).</summary>
internal sealed class TruncateOperation : CustomizeOperation
{
    public TruncateOperation(string argument)
        : base("truncate", argument)
    {
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        t.Truncate(t.Resolve(Argument!));
    }
}
