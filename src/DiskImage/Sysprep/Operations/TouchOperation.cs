namespace DiskImage.Sysprep.Operations;

/// <summary><c>flag-reconfiguration</c> (not a default): creates an empty <c>/.unconfigured</c> (0644, root).</summary>
internal sealed class TouchOperation : SysprepOperation
{
    private readonly string _path;

    public TouchOperation(string name, string description, string path)
        : base(name, description, enabledByDefault: false, isExtra: false)
    {
        _path = path;
    }

    internal override void Apply(SysprepContext context) => context.Touch(_path);
}
