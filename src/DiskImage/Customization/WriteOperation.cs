using System.Text;

namespace DiskImage.Customization;

/// <summary><c>--write FILE:CONTENT</c>: creates or overwrites (in place) a file with exactly CONTENT.</summary>
internal sealed class WriteOperation : CustomizeOperation
{
    private readonly string _path;
    private readonly string _content;

    public WriteOperation(string argument)
        : base("write", argument) => (_path, _content) = SplitPair("FILE:CONTENT", allowEmptySecond: true);

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        t.WriteFile(t.Resolve(_path), Encoding.UTF8.GetBytes(_content));
    }
}
