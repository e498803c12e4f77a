using DiskImage.FileSystems;

namespace DiskImage.Customization;

/// <summary><c>--copy-in LOCALPATH:REMOTEDIR</c>: copies a host file or directory recursively into an existing guest directory (like <c>virt-copy-in</c>).</summary>
internal sealed class CopyInOperation : CustomizeOperation
{
    private readonly string _hostPath;
    private readonly string _directory;

    public CopyInOperation(string argument)
        : base("copy-in", argument) => (_hostPath, _directory) = SplitPair("LOCALPATH:REMOTEDIR");

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string host = HostPath.Full(t, _hostPath);
        UnixFileInfo info = HostPath.Stat(t, host, followFinal: false);
        string dir = t.Resolve(_directory);
        if (t.Stat(dir) is not { IsDirectory: true })
        {
            throw t.Error($"'{_directory}' is not an existing directory in the image");
        }

        t.CopyFromHost(info.Path, dir);
    }
}
