namespace DiskImage.Customization;

/// <summary><c>--link TARGET:LINK[:LINK...]</c>: makes each LINK a symbolic link to TARGET (stored verbatim), replacing what is there (<c>ln -sf</c>).</summary>
internal sealed class LinkOperation : CustomizeOperation
{
    private readonly string _target;
    private readonly string[] _links;

    public LinkOperation(string argument)
        : base("link", argument)
    {
        string[] parts = argument.Split(':');
        if (parts.Length < 2 || parts[0].Length == 0 || Array.Exists(parts, p => p.Length == 0))
        {
            throw new CustomizationException(ToString(), "expected TARGET:LINK[:LINK...]");
        }

        _target = parts[0];
        _links = parts[1..];
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        foreach (string link in _links)
        {
            string path = t.Resolve(link, followFinal: false);
            if (t.Stat(path) is { IsDirectory: true })
            {
                // ln -sf TARGET DIR puts the link inside the directory.
                path = GuestTree.Combine(path, GuestTree.BaseName(_target.TrimEnd('/')));
            }

            t.CreateSymbolicLink(path, _target);
        }
    }
}
