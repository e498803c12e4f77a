using System.Text.RegularExpressions;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Host;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;
using DiskImage.Security;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Security;

/// <summary>
/// Labels judged by libselinux itself: <c>matchpathcon -N -n -f FILE_CONTEXTS -m TYPE</c> (selinux-utils 3.4) on the
/// file contexts Debian's selinux-policy-default builds (policy "default"), plus a <c>.local</c> and a <c>.subs</c>
/// written here; and <c>debugfs ea_get</c> (e2fsprogs) reading the labels back from an ext4 image.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SelinuxOracleTests
{
    private const string HostPolicy = "/etc/selinux/default/contexts/files";
    private const string GuestPolicy = "/etc/selinux/default/contexts/files";

    private const string Local = """
        # local customisations (semanage fcontext -a)
        /srv/special(/.*)?                   system_u:object_r:httpd_sys_content_t:s0
        /srv/special/private(/.*)?           <<none>>
        /etc/hostname                  --    system_u:object_r:tmp_t:s0
        /opt/weird\.dir/[^/]+\.(so|a)  --    system_u:object_r:lib_t:s0
        /opt/[[:digit:]]+                    system_u:object_r:usr_t:s0
        """;

    private const string Subs = """
        /aliased /srv/special
        /web /var/www
        /srv/lib64 /lib64
        """;

    private static readonly (string Path, UnixFileType Type)[] Corpus =
    [
        ("/", UnixFileType.Directory),
        ("/home/user/.ssh/authorized_keys", UnixFileType.RegularFile),
        ("/home/user/.ssh", UnixFileType.Directory),
        ("/home/user", UnixFileType.Directory),
        ("/home/user/.bashrc", UnixFileType.RegularFile),
        ("/home/user/public_html/index.html", UnixFileType.RegularFile),
        ("/root/.ssh/authorized_keys", UnixFileType.RegularFile),
        ("/root/.bash_history", UnixFileType.RegularFile),
        ("/var/lib/dpkg/status", UnixFileType.RegularFile),
        ("/var/lib/mysql/ibdata1", UnixFileType.RegularFile),
        ("/var/lib/private/x", UnixFileType.RegularFile),
        ("/var/lib/dhcp/dhclient.leases", UnixFileType.RegularFile),
        ("/var/lib/NetworkManager/internal.lease", UnixFileType.RegularFile),
        ("/var/run/utmp", UnixFileType.RegularFile),
        ("/var/run", UnixFileType.SymbolicLink),
        ("/var/log/journal", UnixFileType.Directory),
        ("/var/log/wtmp", UnixFileType.RegularFile),
        ("/var/tmp/x", UnixFileType.RegularFile),
        ("/tmp", UnixFileType.Directory),
        ("/tmp/", UnixFileType.Directory),
        ("/tmp/.X11-unix/X0", UnixFileType.Socket),
        ("//etc//passwd", UnixFileType.RegularFile),
        ("/etc/passwd/", UnixFileType.RegularFile),
        ("/etc/shadow", UnixFileType.RegularFile),
        ("/etc/machine-id", UnixFileType.RegularFile),
        ("/etc/hostname", UnixFileType.RegularFile),
        ("/etc/hostname", UnixFileType.Directory),
        ("/etc/localtime", UnixFileType.SymbolicLink),
        ("/etc/ssh/ssh_host_ed25519_key", UnixFileType.RegularFile),
        ("/etc/NetworkManager/system-connections/eth0.nmconnection", UnixFileType.RegularFile),
        ("/etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service", UnixFileType.SymbolicLink),
        ("/etc/systemd/system/foo.service", UnixFileType.RegularFile),
        ("/etc/init.d/guestfs-firstboot", UnixFileType.RegularFile),
        ("/etc/rc2.d/S99guestfs-firstboot", UnixFileType.SymbolicLink),
        ("/lib/systemd/systemd", UnixFileType.RegularFile),
        ("/lib/systemd/system/guestfs-firstboot.service", UnixFileType.RegularFile),
        ("/usr/lib/systemd/system/guestfs-firstboot.service", UnixFileType.RegularFile),
        ("/usr/lib/virt-sysprep/firstboot.sh", UnixFileType.RegularFile),
        ("/lib64/ld-linux-x86-64.so.2", UnixFileType.RegularFile),
        ("/usr/lib64/libc.so.6", UnixFileType.RegularFile),
        ("/usr/local/lib64/libx.so", UnixFileType.RegularFile),
        ("/usr/local/bin/tool", UnixFileType.RegularFile),
        ("/bin/bash", UnixFileType.RegularFile),
        ("/sbin/init", UnixFileType.SymbolicLink),
        ("/dev/sda", UnixFileType.BlockDevice),
        ("/dev/sda1", UnixFileType.BlockDevice),
        ("/dev/tty0", UnixFileType.CharacterDevice),
        ("/dev/null", UnixFileType.CharacterDevice),
        ("/dev/log", UnixFileType.Socket),
        ("/dev/pts", UnixFileType.Directory),
        ("/run/initctl", UnixFileType.Fifo),
        ("/run/systemd/journal/socket", UnixFileType.Socket),
        ("/run/lock/x", UnixFileType.RegularFile),
        ("/proc/1/status", UnixFileType.RegularFile),
        ("/lost+found", UnixFileType.Directory),
        ("/lost+found/#12", UnixFileType.RegularFile),
        ("/boot/vmlinuz-6.1.0-13-amd64", UnixFileType.RegularFile),
        ("/boot/grub/grub.cfg", UnixFileType.RegularFile),
        ("/vmlinuz", UnixFileType.SymbolicLink),
        ("/initrd.img.old", UnixFileType.SymbolicLink),
        ("/srv/special", UnixFileType.Directory),
        ("/srv/special/a/b.html", UnixFileType.RegularFile),
        ("/srv/special/private/key", UnixFileType.RegularFile),
        ("/srv/lib64/x.so", UnixFileType.RegularFile),
        ("/aliased/index.html", UnixFileType.RegularFile),
        ("/aliased", UnixFileType.Directory),
        ("/web/cgi-bin/x.cgi", UnixFileType.RegularFile),
        ("/opt/weird.dir/libq.so", UnixFileType.RegularFile),
        ("/opt/weirdxdir/libq.so", UnixFileType.RegularFile),
        ("/opt/weird.dir/libq.so.1", UnixFileType.RegularFile),
        ("/opt/2024", UnixFileType.Directory),
        ("/usr/lib/a+b(c)[d]{e}.so", UnixFileType.RegularFile),
        ("/usr/share/doc/x^y$z|w", UnixFileType.RegularFile),
        ("/etc/a?quota.user", UnixFileType.RegularFile),
        ("/aquota.user", UnixFileType.RegularFile),
        ("/quota.group", UnixFileType.RegularFile),
        ("/var/www/html/ünïcödé.html", UnixFileType.RegularFile),
        ("/home/ünïcödé/.ssh/authorized_keys", UnixFileType.RegularFile),
        ("/nonexistent-top", UnixFileType.RegularFile),
        ("/media/usb0", UnixFileType.Directory),
        ("/mnt/x/y", UnixFileType.RegularFile),
    ];

    [SkippableFact]
    public void TryGetLabel_DebootstrapTreeAndCorpus_EqualsMatchpathcon()
    {
        Oracle.Require("matchpathcon");
        string tree = Fixtures.RequireDebootstrapTree();
        using var temp = new TempDirectory();
        string fileContexts = PreparePolicy(temp);
        using InMemoryFileSystem guest = PolicyGuest(temp);
        SelinuxPolicy policy = SelinuxPolicy.TryLoad(guest)!;
        Assert.Equal("default", policy.PolicyType);
        Assert.True(policy.SpecCount > 4000, $"only {policy.SpecCount} specs");

        var cases = new List<(string Path, UnixFileType Type)>(Corpus);
        using (var host = new HostDirectoryFileSystem(tree))
        {
            var pending = new Stack<string>();
            pending.Push("/");
            cases.Add(("/", UnixFileType.Directory));
            while (pending.Count > 0)
            {
                string dir = pending.Pop();
                foreach (UnixFileInfo e in host.EnumerateDirectory(dir))
                {
                    string path = dir == "/" ? "/" + e.Name : dir + "/" + e.Name;
                    if (!IsPassableArgument(path))
                    {
                        continue;
                    }

                    cases.Add((path, e.Type));
                    if (e.Type == UnixFileType.Directory)
                    {
                        pending.Push(path);
                    }
                }
            }
        }

        Assert.True(cases.Count > 5000, $"only {cases.Count} paths");
        Dictionary<(string, UnixFileType), string> expected = Matchpathcon(fileContexts, cases);
        var mismatches = new List<string>();
        foreach ((string path, UnixFileType type) in cases)
        {
            string ours = policy.TryGetLabel(path, type, out string context) ? context : SelinuxPolicy.NoneContext;
            string theirs = expected[(path, type)];
            if (ours != theirs)
            {
                mismatches.Add($"{path} ({type}): matchpathcon {theirs}, ours {ours}");
            }
        }

        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {cases.Count} differ:\n" + string.Join('\n', mismatches.Take(30)));
    }

    [SkippableFact]
    public void Label_Ext4ImageOfDebootstrapTree_DebugfsReadsMatchpathconLabels()
    {
        Oracle.Require("matchpathcon");
        Oracle.Require("debugfs");
        Oracle.Require("e2fsck");
        string tree = Fixtures.RequireDebootstrapTree();
        using var temp = new TempDirectory();
        string fileContexts = PreparePolicy(temp);
        string image = temp.File("guest.img");
        using (var source = new HostDirectoryFileSystem(tree))
        {
            var options = new Ext4BuildOptions { ExtraBytes = 16L << 20 };
            using var device = FileBlockDevice.Create(image, Ext4FileSystem.ComputeBuildSize(source, options));
            Ext4FileSystem.Build(device, source, options);
        }

        // New entries, some through symbolic-link directories (/lib and /var/run in a merged-/usr Debian).
        (string Path, UnixFileType Type, string Real)[] created =
        [
            ("/root/.ssh", UnixFileType.Directory, "/root/.ssh"),
            ("/root/.ssh/authorized_keys", UnixFileType.RegularFile, "/root/.ssh/authorized_keys"),
            ("/home/user", UnixFileType.Directory, "/home/user"),
            ("/home/user/.ssh", UnixFileType.Directory, "/home/user/.ssh"),
            ("/home/user/.ssh/authorized_keys", UnixFileType.RegularFile, "/home/user/.ssh/authorized_keys"),
            ("/etc/hostname", UnixFileType.RegularFile, "/etc/hostname"),
            ("/etc/localtime", UnixFileType.SymbolicLink, "/etc/localtime"),
            ("/usr/lib/virt-sysprep", UnixFileType.Directory, "/usr/lib/virt-sysprep"),
            ("/usr/lib/virt-sysprep/firstboot.sh", UnixFileType.RegularFile, "/usr/lib/virt-sysprep/firstboot.sh"),
            ("/usr/lib/systemd/system/guestfs-firstboot.service", UnixFileType.RegularFile, "/usr/lib/systemd/system/guestfs-firstboot.service"),
            ("/etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service", UnixFileType.SymbolicLink, "/etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service"),
            ("/lib/x86_64-linux-gnu/libdemo.so.1", UnixFileType.RegularFile, "/usr/lib/x86_64-linux-gnu/libdemo.so.1"),
            ("/var/lib/demo.fifo", UnixFileType.Fifo, "/var/lib/demo.fifo"),
            ("/var/lib/demo.sock", UnixFileType.Socket, "/var/lib/demo.sock"),
            ("/dev/demo-tty", UnixFileType.CharacterDevice, "/dev/demo-tty"),
            ("/dev/demo-disk", UnixFileType.BlockDevice, "/dev/demo-disk"),
            ("/srv/special", UnixFileType.Directory, "/srv/special"),
            ("/srv/special/index.html", UnixFileType.RegularFile, "/srv/special/index.html"),
        ];

        using (var device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
        {
            Assert.True(fs.Exists("/lib") && fs.GetEntry("/lib").Type == UnixFileType.SymbolicLink, "the tree is expected to have merged /usr");
            CopyPolicy(temp, fs);
            foreach ((string path, UnixFileType type, _) in created)
            {
                switch (type)
                {
                    case UnixFileType.Directory:
                        SelinuxPolicyTests.MakeDirectories(fs, path);
                        break;
                    case UnixFileType.RegularFile:
                        SelinuxPolicyTests.MakeDirectories(fs, path[..path.LastIndexOf('/')]);
                        SelinuxPolicyTests.Write(fs, path, "content of " + path + "\n");
                        break;
                    case UnixFileType.SymbolicLink:
                        SelinuxPolicyTests.MakeDirectories(fs, path[..path.LastIndexOf('/')]);
                        if (fs.Exists(path))
                        {
                            fs.Delete(path);
                        }

                        fs.CreateSymbolicLink(path, "/usr/share/zoneinfo/UTC");
                        break;
                    case UnixFileType.Fifo:
                        fs.CreateFifo(path);
                        break;
                    case UnixFileType.Socket:
                        fs.CreateSocket(path);
                        break;
                    default:
                        fs.CreateDevice(path, type, type == UnixFileType.BlockDevice ? 8 : 4, 1);
                        break;
                }
            }

            // Under /run everything is <<none>> in this policy (a tmpfs at boot): that file keeps no label.
            SelinuxPolicyTests.Write(fs, "/var/run/demo.pid", "1\n");
            int written = SelinuxLabeler.Label(fs, created.Select(c => c.Path).Append("/var/run/demo.pid"));
            Assert.False(fs.GetXattrs("/run/demo.pid").ContainsKey(SelinuxLabeler.XattrName));
            string[] unlabeled = created.Where(c => !fs.GetXattrs(c.Path).ContainsKey(SelinuxLabeler.XattrName)).Select(c => c.Path).ToArray();
            Assert.True(written == created.Length, $"{written} labels written; unlabeled: {string.Join(", ", unlabeled)}");
            Assert.Equal(0, SelinuxLabeler.Label(fs, created.Select(c => c.Path))); // already right: nothing rewritten
            fs.Flush();
        }

        ToolResult fsck = Oracle.Run("e2fsck", ["-fn", image], TimeSpan.FromMinutes(5));
        Assert.True(fsck.ExitCode == 0, fsck.ToString());

        Dictionary<(string, UnixFileType), string> expected = Matchpathcon(fileContexts, created.Select(c => (c.Real, c.Type)).ToList());
        string commands = temp.File("debugfs.cmd");
        File.WriteAllText(commands, string.Concat(created.Select(c => $"ea_get {c.Real} security.selinux\n")));
        ToolResult dump = Oracle.Run("debugfs", ["-f", commands, image], TimeSpan.FromMinutes(2));
        Assert.True(dump.ExitCode == 0, dump.ToString());
        MatchCollection values = Regex.Matches(dump.StandardOutput, "^security\\.selinux \\((\\d+)\\) = \"(.*)\"$", RegexOptions.Multiline);
        Assert.True(values.Count == created.Length, dump.ToString());
        for (int i = 0; i < created.Length; i++)
        {
            string want = expected[(created[i].Real, created[i].Type)];
            Assert.NotEqual(SelinuxPolicy.NoneContext, want);
            Assert.Equal(want + "\\000", values[i].Groups[2].Value);
            Assert.Equal(want.Length + 1, int.Parse(values[i].Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Copies the host's built policy files into <paramref name="temp"/> with our .local and .subs; returns the file_contexts path.</summary>
    private static string PreparePolicy(TempDirectory temp)
    {
        Skip.IfNot(File.Exists(Path.Combine(HostPolicy, "file_contexts")), $"{HostPolicy}/file_contexts is missing: install selinux-policy-default (its postinst builds the policy).");
        string dir = temp.File("policy");
        Directory.CreateDirectory(dir);
        foreach (string name in (string[])["file_contexts", "file_contexts.homedirs", "file_contexts.subs_dist"])
        {
            string from = Path.Combine(HostPolicy, name);
            if (File.Exists(from))
            {
                File.Copy(from, Path.Combine(dir, name));
            }
        }

        File.WriteAllText(Path.Combine(dir, "file_contexts.local"), Local + "\n");
        File.WriteAllText(Path.Combine(dir, "file_contexts.subs"), Subs + "\n");
        return Path.Combine(dir, "file_contexts");
    }

    private static InMemoryFileSystem PolicyGuest(TempDirectory temp)
    {
        var guest = new InMemoryFileSystem();
        CopyPolicy(temp, guest);
        return guest;
    }

    private static void CopyPolicy(TempDirectory temp, IFileSystem guest)
    {
        SelinuxPolicyTests.MakeDirectories(guest, GuestPolicy);
        foreach (string file in Directory.GetFiles(temp.File("policy")))
        {
            using Stream s = guest.OpenFile(GuestPolicy + "/" + Path.GetFileName(file), FileMode.Create, FileAccess.Write);
            s.Write(File.ReadAllBytes(file));
        }

        SelinuxPolicyTests.Write(guest, "/etc/selinux/config", "SELINUX=permissive\nSELINUXTYPE=default\n");
    }

    /// <summary>Runs matchpathcon once per file type over many paths at a time.</summary>
    private static Dictionary<(string, UnixFileType), string> Matchpathcon(string fileContexts, List<(string Path, UnixFileType Type)> cases)
    {
        var result = new Dictionary<(string, UnixFileType), string>();
        foreach (IGrouping<UnixFileType, (string Path, UnixFileType Type)> group in cases.GroupBy(c => c.Type))
        {
            string mode = group.Key switch
            {
                UnixFileType.RegularFile => "f",
                UnixFileType.Directory => "d",
                UnixFileType.SymbolicLink => "l",
                UnixFileType.CharacterDevice => "c",
                UnixFileType.BlockDevice => "b",
                UnixFileType.Fifo => "p",
                _ => "s",
            };
            foreach ((string Path, UnixFileType Type)[] chunk in group.Distinct().Chunk(2000))
            {
                var args = new List<string> { "-N", "-n", "-m", mode, "-f", fileContexts };
                args.AddRange(chunk.Select(c => c.Path));
                ToolResult r = Oracle.Run("matchpathcon", args, TimeSpan.FromMinutes(2));
                string[] lines = r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.True(r.ExitCode == 0 && lines.Length == chunk.Length, $"matchpathcon: {lines.Length} lines for {chunk.Length} paths\n{r.StandardError}");
                for (int i = 0; i < chunk.Length; i++)
                {
                    result[(chunk[i].Path, group.Key)] = lines[i];
                }
            }
        }

        return result;
    }

    /// <summary>Paths that survive as a command-line argument and one output line.</summary>
    private static bool IsPassableArgument(string path)
    {
        foreach (char c in path)
        {
            if (char.IsSurrogate(c) || c == '\n')
            {
                return false;
            }
        }

        return true;
    }
}
