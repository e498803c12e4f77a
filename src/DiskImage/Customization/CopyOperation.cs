namespace DiskImage.Customization;

/// <summary>
/// <c>--copy SOURCE:DEST</c>: copies an entry recursively, keeping modes, owners, times and extended
/// attributes (like <c>cp -a</c>); a DEST that is a directory receives it under its own name.
/// </summary>
internal sealed class CopyOperation : CustomizeOperation
{
    private readonly string _source;
    private readonly string _destination;

    public CopyOperation(string argument)
        : base("copy", argument) => (_source, _destination) = SplitPair("SOURCE:DEST");

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string source = t.Resolve(_source, followFinal: false);
        t.CopyEntry(source, Target(t, source, _destination));
    }

    /// <summary>Where <c>cp</c>/<c>mv</c> put SOURCE for DEST: inside DEST when it is a directory, else DEST itself.</summary>
    public static string Target(GuestTree t, string source, string destination)
    {
        string dest = t.Resolve(destination);
        return t.Stat(dest) is { IsDirectory: true } ? GuestTree.Combine(dest, GuestTree.BaseName(source)) : dest;
    }
}
