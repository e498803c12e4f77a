namespace DiskImage.Customization;

/// <summary>The guest package manager's commands, by distribution (as virt-customize runs them).</summary>
internal static class PackageCommands
{
    public static string Install(CustomizeContext context, string packages) => Manager(context) switch
    {
        "apt" => $"export DEBIAN_FRONTEND=noninteractive\napt-get -q -y update\napt-get -q -y -o Dpkg::Options::=--force-confnew install {packages}",
        "dnf" => $"dnf -y install {packages}",
        "zypper" => $"zypper -n in -l {packages}",
        _ => throw context.Tree.Error($"no known package manager for the distribution '{context.Os.Id}'"),
    };

    public static string Uninstall(CustomizeContext context, string packages) => Manager(context) switch
    {
        "apt" => $"export DEBIAN_FRONTEND=noninteractive\napt-get -q -y remove {packages}",
        "dnf" => $"dnf -y remove {packages}",
        "zypper" => $"zypper -n rm {packages}",
        _ => throw context.Tree.Error($"no known package manager for the distribution '{context.Os.Id}'"),
    };

    public static string Update(CustomizeContext context) => Manager(context) switch
    {
        "apt" => "export DEBIAN_FRONTEND=noninteractive\napt-get -q -y update\napt-get -q -y -o Dpkg::Options::=--force-confnew dist-upgrade",
        "dnf" => "dnf -y --best upgrade",
        "zypper" => "zypper -n update -l",
        _ => throw context.Tree.Error($"no known package manager for the distribution '{context.Os.Id}'"),
    };

    private static string Manager(CustomizeContext context)
    {
        GuestOs os = context.Os;
        return os.IsDebianFamily ? "apt" : os.IsRedHatFamily ? "dnf" : os.IsSuseFamily ? "zypper" : string.Empty;
    }
}
