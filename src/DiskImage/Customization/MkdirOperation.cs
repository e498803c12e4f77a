using DiskImage.FileSystems;

namespace DiskImage.Customization;

/// <summary><c>--mkdir DIR</c>: creates the directory and missing parents (mode 0755, like <c>mkdir -p</c>).</summary>
internal sealed class MkdirOperation : CustomizeOperation
{
    private const UnixFileMode Mode = (UnixFileMode)0x1ED; // 0755

    public MkdirOperation(string argument)
        : base("mkdir", argument)
    {
    }

    public override void Apply(CustomizeContext context) => CreateAll(context.Tree, Argument!);

    /// <summary>Creates <paramref name="path"/> and its missing parents; an existing directory is fine.</summary>
    public static void CreateAll(GuestTree t, string path)
    {
        List<string> parts;
        try
        {
            parts = FileSystemPath.Split(path);
        }
        catch (ArgumentException e)
        {
            throw t.Error(e.Message, e);
        }

        string current = "/";
        foreach (string part in parts)
        {
            string next = t.Resolve(GuestTree.Combine(current, part));
            UnixFileInfo? e = t.Stat(next);
            if (e is null)
            {
                t.CreateDirectory(next, Mode);
            }
            else if (!e.IsDirectory)
            {
                throw t.Error($"'{next}' exists and is not a directory");
            }

            current = next;
        }
    }
}
