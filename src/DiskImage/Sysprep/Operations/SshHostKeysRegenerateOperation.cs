using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Sysprep.Operations;

/// <summary>
/// <c>ssh-hostkeys-regenerate</c> (extra): on Debian-family guests with OpenSSH server and systemd, whose sshd does
/// not make missing host keys at boot (Fedora and RHEL do, with sshd-keygen), installs a one-shot unit that runs
/// <c>ssh-keygen -A</c> before <c>ssh.service</c>, enabled through <c>ssh.service.wants</c>. Pair it with ssh-hostkeys.
/// </summary>
internal sealed class SshHostKeysRegenerateOperation : SysprepOperation
{
    public const string UnitPath = "/etc/systemd/system/regenerate-ssh-host-keys.service";
    public const string WantsDirectory = "/etc/systemd/system/ssh.service.wants";

    private static readonly byte[] Unit = Encoding.ASCII.GetBytes(
        "[Unit]\n" +
        "Description=Generate the SSH host keys removed by sysprep\n" +
        "Before=ssh.service\n" +
        "\n" +
        "[Service]\n" +
        "Type=oneshot\n" +
        "ExecStart=/usr/bin/ssh-keygen -A\n" +
        "\n" +
        "[Install]\n" +
        "WantedBy=ssh.service\n");

    public SshHostKeysRegenerateOperation()
        : base("ssh-hostkeys-regenerate", "Debian family: generate missing SSH host keys at boot (ssh-keygen -A before ssh.service)", enabledByDefault: false, isExtra: true)
    {
    }

    internal override void Apply(SysprepContext context)
    {
        if (!context.Guest.IsDebianFamily || context.Lookup("/etc/ssh/sshd_config", followFinal: true) is null
            || context.Lookup("/etc/systemd/system", followFinal: true)?.Type != UnixFileType.Directory)
        {
            return;
        }

        if (context.Lookup(UnitPath) is null)
        {
            context.CreateFile(UnitPath, Unit, UnixFileModeBits.File);
        }

        if (context.Lookup(WantsDirectory, followFinal: true) is null)
        {
            context.CreateDirectory(WantsDirectory, UnixFileModeBits.Directory);
        }

        string link = WantsDirectory + "/regenerate-ssh-host-keys.service";
        if (context.Lookup(link) is null)
        {
            context.CreateSymbolicLink(link, UnitPath);
        }
    }
}
