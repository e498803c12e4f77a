using DiskImage.FileSystems;

namespace DiskImage.Customization;

/// <summary>
/// <c>--upload FILE:DEST</c>: copies a host file into the guest (into DEST/basename when DEST is a directory),
/// then sets the host file's permission bits and numeric owner, as virt-customize does.
/// </summary>
internal sealed class UploadOperation : CustomizeOperation
{
    private readonly string _hostFile;
    private readonly string _destination;

    public UploadOperation(string argument)
        : base("upload", argument) => (_hostFile, _destination) = SplitPair("FILE:DEST");

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string host = HostPath.Full(t, _hostFile);
        UnixFileInfo info = HostPath.Stat(t, host, followFinal: true);
        if (info.Type != UnixFileType.RegularFile)
        {
            throw t.Error($"the host file '{_hostFile}' is not a regular file");
        }

        string dest = t.Resolve(_destination);
        if (t.Stat(dest) is { IsDirectory: true })
        {
            dest = t.Resolve(GuestTree.Combine(dest, GuestTree.BaseName(host)));
        }

        t.WriteFileFromHost(dest, info.Path);
        t.SetMode(dest, info.Mode);
        t.SetOwner(dest, info.UserId, info.GroupId);
    }
}
