using DiskImage.FileSystems;

namespace DiskImage.Sysprep.Operations;

/// <summary><c>blkid-tab</c>: removes the blkid caches (<c>blkid.tab</c> and <c>.old</c> in /var/run, /etc/blkid, /etc, /dev), never a symbolic link.</summary>
internal sealed class BlkidTabOperation : SysprepOperation
{
    private static readonly string[] Paths =
    [
        "/var/run/blkid.tab", "/var/run/blkid.tab.old", "/etc/blkid/blkid.tab", "/etc/blkid/blkid.tab.old",
        "/etc/blkid.tab", "/etc/blkid.tab.old", "/dev/.blkid.tab", "/dev/.blkid.tab.old",
    ];

    public BlkidTabOperation()
        : base("blkid-tab", "Remove the blkid cache (blkid.tab)", enabledByDefault: true, isExtra: false)
    {
    }

    internal override void Apply(SysprepContext context)
    {
        foreach (string path in Paths)
        {
            if (context.Lookup(path) is { } entry && entry.Type != UnixFileType.SymbolicLink)
            {
                context.RemoveFile(path);
            }
        }
    }
}
