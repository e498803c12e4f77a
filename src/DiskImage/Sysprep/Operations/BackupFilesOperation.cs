using DiskImage.FileSystems;

namespace DiskImage.Sysprep.Operations;

/// <summary>
/// <c>backup-files</c>: removes regular files named <c>*.bak</c> or <c>*~</c> anywhere below /etc, /root, /srv,
/// /tmp and /var (those directories themselves must not be symbolic links; links below are not followed).
/// </summary>
internal sealed class BackupFilesOperation : SysprepOperation
{
    private static readonly string[] Roots = ["/etc", "/root", "/srv", "/tmp", "/var"];

    public BackupFilesOperation()
        : base("backup-files", "Remove editor backup files (*.bak, *~) under /etc, /root, /srv, /tmp and /var", enabledByDefault: true, isExtra: false)
    {
    }

    internal override void Apply(SysprepContext context)
    {
        foreach (string root in Roots)
        {
            context.RemoveRegularFilesUnder(root, keep: path => !IsBackupName(path[(path.LastIndexOf('/') + 1)..]));
        }
    }

    /// <summary>fnmatch with FNM_NOESCAPE and no FNM_PERIOD: a dotfile ending in '~' is a backup too.</summary>
    private static bool IsBackupName(string name) =>
        Fnmatch.IsMatch("*.bak", name, period: false, noEscape: true) || Fnmatch.IsMatch("*~", name, period: false, noEscape: true);
}
