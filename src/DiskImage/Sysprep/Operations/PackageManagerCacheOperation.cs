namespace DiskImage.Sysprep.Operations;

/// <summary>
/// <c>package-manager-cache</c>: removes the regular files (not directories, not links) of the package manager's
/// cache: /var/cache/apt/archives (apt), /var/cache/dnf (dnf), /var/cache/yum (yum), /var/cache/zypp* (zypper).
/// </summary>
internal sealed class PackageManagerCacheOperation : SysprepOperation
{
    public PackageManagerCacheOperation()
        : base("package-manager-cache", "Remove the package manager's cached files (apt, dnf, yum, zypper)", enabledByDefault: true, isExtra: false)
    {
    }

    internal override void Apply(SysprepContext context)
    {
        switch (context.Guest.PackageManager)
        {
            case "apt": context.RemoveRegularFilesUnder("/var/cache/apt/archives"); break;
            case "dnf": context.RemoveRegularFilesUnder("/var/cache/dnf"); break;
            case "yum": context.RemoveRegularFilesUnder("/var/cache/yum"); break;
            case "zypper":
                foreach (string path in context.Glob("/var/cache/zypp*"))
                {
                    context.RemoveRegularFilesUnder(path);
                }

                break;
        }
    }
}
