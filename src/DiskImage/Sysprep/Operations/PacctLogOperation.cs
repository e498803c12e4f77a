namespace DiskImage.Sysprep.Operations;

/// <summary>
/// <c>pacct-log</c>: removes the process accounting logs (<c>pacct*</c>) in /var/account (RHEL family) or
/// /var/log/account (Debian family) and creates an empty <c>pacct</c> there (0644, root) when the directory exists.
/// </summary>
internal sealed class PacctLogOperation : SysprepOperation
{
    public PacctLogOperation()
        : base("pacct-log", "Remove the process accounting logs (/var/account/pacct*, /var/log/account/pacct*)", enabledByDefault: true, isExtra: false)
    {
    }

    internal override void Apply(SysprepContext context)
    {
        string directory;
        if (context.Guest.IsRedHatFamily)
        {
            directory = "/var/account";
        }
        else if (context.Guest.IsDebianFamily)
        {
            directory = "/var/log/account";
        }
        else
        {
            return;
        }

        foreach (string path in context.Glob(directory + "/pacct*"))
        {
            context.RemoveFile(path);
        }

        context.Touch(directory + "/pacct");
    }
}
