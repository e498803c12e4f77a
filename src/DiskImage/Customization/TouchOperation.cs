namespace DiskImage.Customization;

/// <summary><c>--touch FILE</c>: creates an empty file (0644), or sets an existing one's times to now.</summary>
internal sealed class TouchOperation : CustomizeOperation
{
    public TouchOperation(string argument)
        : base("touch", argument)
    {
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string path = t.Resolve(Argument!);
        if (t.Stat(path) is null)
        {
            t.WriteFile(path, []);
        }
        else
        {
            t.TouchTimes(path);
        }
    }
}
