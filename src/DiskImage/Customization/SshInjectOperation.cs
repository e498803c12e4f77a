using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Customization;

/// <summary>
/// <c>--ssh-inject USER[:file:KEYFILE|:string:KEY]</c>: appends a public key to the user's
/// <c>~/.ssh/authorized_keys</c>. Home, uid and gid come from the guest's <c>/etc/passwd</c>; a missing
/// <c>.ssh</c> is created 0700 and a missing <c>authorized_keys</c> 0600, both owned by the user; existing ones
/// keep their modes. Without a selector the newest <c>~/.ssh/id*.pub</c> of the invoking user is used.
/// </summary>
internal sealed class SshInjectOperation : CustomizeOperation
{
    private readonly string _user;
    private readonly string? _selector;

    public SshInjectOperation(string argument)
        : base("ssh-inject", argument)
    {
        int colon = argument.IndexOf(':', StringComparison.Ordinal);
        _user = colon < 0 ? argument : argument[..colon];
        _selector = colon < 0 ? null : argument[(colon + 1)..];
        if (_user.Length == 0 || _selector is not null && !_selector.StartsWith("file:", StringComparison.Ordinal) && !_selector.StartsWith("string:", StringComparison.Ordinal))
        {
            throw new CustomizationException(ToString(), "expected USER[:file:KEYFILE|:string:KEY]");
        }
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string key = Key(t, context.Options);
        if (!key.EndsWith('\n'))
        {
            key += "\n";
        }

        GuestAccount account = GuestAccounts.Find(t, _user);
        string home = t.Resolve(account.Home.Length == 0 ? "/" : account.Home);
        if (t.Stat(home) is not { IsDirectory: true })
        {
            throw t.Error($"the home directory '{account.Home}' of '{_user}' does not exist");
        }

        string ssh = t.Resolve(GuestTree.Combine(home, ".ssh"));
        if (t.Stat(ssh) is null)
        {
            t.CreateDirectory(ssh, (UnixFileMode)0x1C0); // 0700
            t.SetOwner(ssh, account.UserId, account.GroupId);
        }

        string keys = t.Resolve(GuestTree.Combine(ssh, "authorized_keys"));
        byte[] old = [];
        if (t.Stat(keys) is null)
        {
            t.WriteFile(keys, [], (UnixFileMode)0x180); // 0600
            t.SetOwner(keys, account.UserId, account.GroupId);
        }
        else
        {
            old = t.ReadAllBytes(keys);
        }

        byte[] add = Encoding.UTF8.GetBytes(key);
        byte[] all = new byte[old.Length + add.Length];
        old.CopyTo(all, 0);
        add.CopyTo(all, old.Length);
        t.WriteFile(keys, all);
    }

    private string Key(GuestTree t, CustomizeOptions options)
    {
        if (_selector is not null && _selector.StartsWith("string:", StringComparison.Ordinal))
        {
            return _selector[7..];
        }

        if (_selector is not null)
        {
            return Encoding.UTF8.GetString(HostPath.ReadAllBytes(t, HostPath.Full(t, _selector[5..])));
        }

        string home = options.HostHomeDirectory ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string dir = Path.Combine(home, ".ssh");
        FileInfo? newest = null;
        if (Directory.Exists(dir))
        {
            foreach (FileInfo f in new DirectoryInfo(dir).EnumerateFiles("id*.pub"))
            {
                if (!f.Name.EndsWith("-cert.pub", StringComparison.Ordinal) && (newest is null || f.LastWriteTimeUtc > newest.LastWriteTimeUtc))
                {
                    newest = f;
                }
            }
        }

        return newest is null
            ? throw t.Error($"no public key (id*.pub) in {dir}; give one with {_user}:file:KEYFILE or {_user}:string:KEY")
            : Encoding.UTF8.GetString(HostPath.ReadAllBytes(t, newest.FullName));
    }
}
