namespace DiskImage.Customization;

/// <summary><c>--delete PATH</c>: expands PATH as a glob, then removes each match recursively (<c>rm -rf</c>); no match is not an error.</summary>
internal sealed class DeleteOperation : CustomizeOperation
{
    public DeleteOperation(string argument)
        : base("delete", argument)
    {
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        foreach (string match in GuestGlob.Expand(t, Argument!))
        {
            t.DeleteTree(t.Resolve(match, followFinal: false));
        }
    }
}
