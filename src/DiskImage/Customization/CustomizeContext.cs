namespace DiskImage.Customization;

/// <summary>What the operations of one run share: the tree, the guest's identity, notes and state.</summary>
internal sealed class CustomizeContext
{
    public CustomizeContext(GuestTree tree, CustomizeOptions options)
    {
        Tree = tree;
        Options = options;
    }

    public GuestTree Tree { get; }

    public CustomizeOptions Options { get; }

    public List<string> Notes { get; } = [];

    public Dictionary<string, string> GeneratedPasswords { get; } = new(StringComparer.Ordinal);

    /// <summary>Running counter of first-boot scripts (part of their file names).</summary>
    public int FirstbootCounter { get; set; }

    private GuestOs? _os;

    /// <summary>The guest's distribution from <c>/etc/os-release</c>, read once.</summary>
    public GuestOs Os => _os ??= GuestOs.Read(Tree);
}
