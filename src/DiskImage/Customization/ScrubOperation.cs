using DiskImage.FileSystems;

namespace DiskImage.Customization;

/// <summary><c>--scrub FILE</c>: overwrites a regular file's content with zeros in place, then removes it (a missing file is not an error).</summary>
internal sealed class ScrubOperation : CustomizeOperation
{
    public ScrubOperation(string argument)
        : base("scrub", argument)
    {
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string path = t.Resolve(Argument!);
        UnixFileInfo? e = t.Stat(path);
        if (e is null)
        {
            return;
        }

        if (e.Type != UnixFileType.RegularFile)
        {
            throw t.Error($"'{path}' is not a regular file");
        }

        if (e.Size > 0)
        {
            t.WriteFile(path, new byte[e.Size]);
        }

        t.DeleteTree(path);
    }
}
