namespace DiskImage.Sysprep.Operations;

/// <summary>
/// <c>net-nm-keyfiles</c> (extra): in every NetworkManager keyfile in /etc/NetworkManager/system-connections
/// (any name, any distribution), drops the <c>mac-address=</c> lines that bind a profile to one network card;
/// the profile then applies to the clone's card. Files are rewritten in place (mode 0600 and label kept).
/// </summary>
internal sealed class KeyfileLineFilterOperation : SysprepOperation
{
    public KeyfileLineFilterOperation()
        : base("net-nm-keyfiles", "Remove mac-address= from NetworkManager keyfiles (all distributions)", enabledByDefault: false, isExtra: true)
    {
    }

    internal override void Apply(SysprepContext context)
    {
        foreach (string path in context.Glob("/etc/NetworkManager/system-connections/*"))
        {
            byte[]? content = context.ReadFile(path);
            if (content is null)
            {
                continue;
            }

            List<string> lines = ConfigLines.Split(content);
            if (lines.RemoveAll(l => l.TrimStart().StartsWith("mac-address=", StringComparison.Ordinal)) > 0)
            {
                context.Rewrite(path, ConfigLines.Join(lines));
            }
        }
    }
}
