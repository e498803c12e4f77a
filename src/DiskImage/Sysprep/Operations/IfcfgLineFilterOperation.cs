namespace DiskImage.Sysprep.Operations;

/// <summary>
/// <c>net-hwaddr</c> and <c>net-hostname</c>: on RHEL-family guests, drops the lines of every
/// <c>/etc/sysconfig/network-scripts/ifcfg-*</c> that start with one of the given keys and rewrites the file in
/// place (lines joined with '\n' and one final '\n', as virt-sysprep writes them).
/// </summary>
internal sealed class IfcfgLineFilterOperation : SysprepOperation
{
    private readonly string[] _prefixes;

    public IfcfgLineFilterOperation(string name, string description, params string[] prefixes)
        : base(name, description, enabledByDefault: true, isExtra: false)
    {
        _prefixes = prefixes;
    }

    internal override void Apply(SysprepContext context)
    {
        if (!context.Guest.IsRedHatFamily)
        {
            return;
        }

        foreach (string path in context.Glob("/etc/sysconfig/network-scripts/ifcfg-*"))
        {
            byte[]? content = context.ReadFile(path);
            if (content is null)
            {
                continue;
            }

            List<string> lines = ConfigLines.Split(content);
            lines.RemoveAll(StartsWithKey);
            context.Rewrite(path, ConfigLines.Join(lines));
        }
    }

    private bool StartsWithKey(string line)
    {
        foreach (string prefix in _prefixes)
        {
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
