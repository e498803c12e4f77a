using DiskImage.FileSystems;

namespace DiskImage.Customization;

/// <summary><c>--truncate-recursive PATH</c>: empties every regular file under PATH (symbolic links are not followed).</summary>
internal sealed class TruncateRecursiveOperation : CustomizeOperation
{
    public TruncateRecursiveOperation(string argument)
        : base("truncate-recursive", argument)
    {
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string root = t.Resolve(Argument!);
        if (t.Stat(root) is null)
        {
            throw t.Error($"'{root}' does not exist");
        }

        foreach (string p in t.EnumerateTree(root))
        {
            if (t.Stat(p) is { Type: UnixFileType.RegularFile })
            {
                t.Truncate(p);
            }
        }
    }
}
