namespace DiskImage.Customization;

/// <summary><c>--move SOURCE:DEST</c>: moves an entry; a DEST that is a directory receives it under its own name (like <c>mv</c>).</summary>
internal sealed class MoveOperation : CustomizeOperation
{
    private readonly string _source;
    private readonly string _destination;

    public MoveOperation(string argument)
        : base("move", argument) => (_source, _destination) = SplitPair("SOURCE:DEST");

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string source = t.Resolve(_source, followFinal: false);
        t.Rename(source, CopyOperation.Target(t, source, _destination));
    }
}
