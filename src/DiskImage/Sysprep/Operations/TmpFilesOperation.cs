namespace DiskImage.Sysprep.Operations;

/// <summary><c>tmp-files</c>: removes everything in /tmp and /var/tmp, dotfiles included (the directories stay).</summary>
internal sealed class TmpFilesOperation : SysprepOperation
{
    public TmpFilesOperation()
        : base("tmp-files", "Remove everything in /tmp and /var/tmp", enabledByDefault: true, isExtra: false)
    {
    }

    internal override void Apply(SysprepContext context)
    {
        foreach (string directory in (string[])["/tmp", "/var/tmp"])
        {
            // "*" does not match dotfiles; ".[!.]*" and "..?*" do (everything but "." and "..").
            foreach (string glob in (string[])["/*", "/.[!.]*", "/..?*"])
            {
                foreach (string path in context.Glob(directory + glob))
                {
                    context.RemoveTree(path);
                }
            }
        }
    }
}
