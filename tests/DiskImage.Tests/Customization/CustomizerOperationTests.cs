using System.Text;
using DiskImage.Customization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;
using DiskImage.Security.Crypt;
using static DiskImage.Tests.Customization.GuestFixture;

namespace DiskImage.Tests.Customization;

/// <summary>Each virt-customize operation against <see cref="InMemoryFileSystem"/>, with its changes recorded.</summary>
public sealed class CustomizerOperationTests
{
    private static readonly CustomizeOptions NoSeed = new() { RefreshRandomSeedAndMachineId = false };

    private static CustomizationResult Apply(IFileSystem fs, params string[] args) => Customizer.Apply(fs, CustomizeScript.Parse(args), NoSeed);

    [Fact]
    public void Write_NewAndExisting_CreatesWithMode0644AndRewritesInPlace()
    {
        using InMemoryFileSystem fs = Create();
        fs.SetMode("/etc/issue", (UnixFileMode)0x180);
        long inode = fs.GetEntry("/etc/issue").Inode;
        CustomizationResult r = Apply(fs, "--write", "/opt/new.txt:hello:world", "--write", "/etc/issue:replaced");
        Assert.Equal("hello:world", Read(fs, "/opt/new.txt"));
        Assert.Equal((UnixFileMode)0x1A4, fs.GetEntry("/opt/new.txt").Mode);
        Assert.Equal("replaced", Read(fs, "/etc/issue"));
        Assert.Equal(inode, fs.GetEntry("/etc/issue").Inode);
        Assert.Equal((UnixFileMode)0x180, fs.GetEntry("/etc/issue").Mode);
        Assert.Equal(["/opt/new.txt"], r.ChangedPaths);
        Assert.Contains(r.Changes, c => c.Path == "/etc/issue" && c.Kind == CustomizationChangeKind.Modified);
    }

    [Theory]
    [InlineData("a\nb", "a\nb\nline\n")]
    [InlineData("a\r\nb\r\n", "a\r\nb\r\nline\r\n")]
    [InlineData("a\rb\r", "a\rb\rline\r")]
    [InlineData("", "line\n")]
    public void AppendLine_DetectsLineEndingAndEndsUnterminatedLine(string before, string after)
    {
        using InMemoryFileSystem fs = Create();
        Write(fs, "/opt/f", before);
        Apply(fs, "--append-line", "/opt/f:line");
        Assert.Equal(after, Read(fs, "/opt/f"));
    }

    [Fact]
    public void AppendLine_MissingFile_IsCreated()
    {
        using InMemoryFileSystem fs = Create();
        CustomizationResult r = Apply(fs, "--append-line", "/etc/motd:hello", "--append-line", "/etc/motd:again");
        Assert.Equal("hello\nagain\n", Read(fs, "/etc/motd"));
        Assert.Equal(["/etc/motd"], r.ChangedPaths);
    }

    [Fact]
    public void MkdirTouchTruncate_BehaveLikeTheShellTools()
    {
        using InMemoryFileSystem fs = Create();
        CustomizationResult r = Apply(fs, "--mkdir", "/opt/a/b/c", "--touch", "/opt/a/b/c/empty", "--truncate", "/var/log/dpkg.log", "--truncate-recursive", "/var/log/apt", "--touch", "/etc/hostname");
        Assert.Equal((UnixFileMode)0x1ED, fs.GetEntry("/opt/a/b").Mode);
        Assert.Equal(0, fs.GetEntry("/opt/a/b/c/empty").Size);
        Assert.Equal(0, fs.GetEntry("/var/log/dpkg.log").Size);
        Assert.Equal(0, fs.GetEntry("/var/log/apt/history.log").Size);
        Assert.Equal("oldhost\n", Read(fs, "/etc/hostname"));
        Assert.Equal(["/opt/a", "/opt/a/b", "/opt/a/b/c", "/opt/a/b/c/empty"], r.ChangedPaths);
    }

    [Fact]
    public void Delete_Glob_RemovesMatchesRecursivelyButNotDotFiles()
    {
        using InMemoryFileSystem fs = Create();
        fs.CreateDirectory("/tmp/d");
        Write(fs, "/tmp/d/x", "x");
        Write(fs, "/tmp/a.log", "a");
        Write(fs, "/tmp/.hidden", "h");
        CustomizationResult r = Apply(fs, "--delete", "/tmp/*", "--delete", "/no/such/*");
        Assert.Equal([".hidden"], fs.EnumerateDirectory("/tmp").Select(e => e.Name));
        Assert.Empty(r.ChangedPaths);
        Assert.Equal(2, r.Changes.Count(c => c.Kind == CustomizationChangeKind.Deleted));
    }

    [Fact]
    public void MoveCopyLink_FollowCpMvAndLnSf()
    {
        using InMemoryFileSystem fs = Create();
        fs.CreateDirectory("/opt/dir");
        Write(fs, "/opt/dir/f", "content");
        fs.SetOwner("/opt/dir/f", 5, 6);
        CustomizationResult r = Apply(fs,
            "--copy", "/opt/dir:/opt/copy",
            "--copy", "/etc/hostname:/opt",
            "--move", "/opt/copy:/opt/moved",
            "--link", "/opt/dir/f:/opt/l1:/opt/l2",
            "--link", "/elsewhere:/opt/l1");
        Assert.Equal("content", Read(fs, "/opt/moved/f"));
        Assert.Equal(5u, fs.GetEntry("/opt/moved/f").UserId);
        Assert.False(fs.Exists("/opt/copy"));
        Assert.Equal("oldhost\n", Read(fs, "/opt/hostname"));
        Assert.Equal("/elsewhere", fs.GetEntry("/opt/l1").LinkTarget);
        Assert.Equal("/opt/dir/f", fs.GetEntry("/opt/l2").LinkTarget);
        Assert.Contains("/opt/moved/f", r.ChangedPaths);
        Assert.Contains("/opt/l2", r.ChangedPaths);
        Assert.DoesNotContain("/opt/copy", r.ChangedPaths);
    }

    [Fact]
    public void Chmod_OctalOnlyWithLeadingZero_LikeVirtCustomize()
    {
        using InMemoryFileSystem fs = Create();
        Apply(fs, "--chmod", "0600:/etc/hostname", "--chmod", "420:/etc/issue");
        Assert.Equal((UnixFileMode)0x180, fs.GetEntry("/etc/hostname").Mode);
        Assert.Equal((UnixFileMode)420, fs.GetEntry("/etc/issue").Mode); // decimal 420 = 0644
    }

    [Fact]
    public void Chown_BothSpellings_SetNumericOwnerThroughSymlink()
    {
        using InMemoryFileSystem fs = Create();
        fs.CreateSymbolicLink("/opt/link", "/etc/hostname");
        Apply(fs, "--chown", "1000.1001:/opt/link", "--chown", "7:8:/etc/issue");
        Assert.Equal((1000u, 1001u), (fs.GetEntry("/etc/hostname").UserId, fs.GetEntry("/etc/hostname").GroupId));
        Assert.Equal((7u, 8u), (fs.GetEntry("/etc/issue").UserId, fs.GetEntry("/etc/issue").GroupId));
        Assert.Equal(0u, fs.GetEntry("/opt/link").UserId);
    }

    [Fact]
    public void Edit_RegexPerLine_KeepsLineEndingsAndBackReferences()
    {
        using InMemoryFileSystem fs = Create();
        Write(fs, "/opt/c", "a=1\r\nb=2\r\na=3 a=4\n");
        Apply(fs, "--edit", "/opt/c:s/^a=(\\d)/A=\\1!/", "--edit", "/etc/issue:s|Debian|Custom|g");
        Assert.Equal("A=1!\r\nb=2\r\nA=3! a=4\n", Read(fs, "/opt/c"));
        Assert.StartsWith("Custom GNU/Linux 12", Read(fs, "/etc/issue"), StringComparison.Ordinal);
    }

    [Fact]
    public void Hostname_Debian_WritesHostnameAndRenamesInHosts()
    {
        using InMemoryFileSystem fs = Create();
        CustomizationResult r = Apply(fs, "--hostname", "newhost");
        Assert.Equal("newhost\n", Read(fs, "/etc/hostname"));
        Assert.Contains("127.0.1.1\toldhost.example.org\tnewhost", Read(fs, "/etc/hosts"), StringComparison.Ordinal);
        Assert.Empty(r.ChangedPaths);
    }

    [Fact]
    public void Hostname_Rhel_WritesPrettyHostname()
    {
        using InMemoryFileSystem fs = Create();
        Write(fs, "/etc/os-release", "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n");
        Apply(fs, "--hostname", "web1.lab");
        Assert.Equal("web1.lab\n", Read(fs, "/etc/hostname"));
        Assert.Equal("PRETTY_HOSTNAME=web1.lab\n", Read(fs, "/etc/machine-info"));
    }

    [Fact]
    public void Timezone_ReplacesLocaltimeWithAbsoluteLink_MissingZoneFails()
    {
        using InMemoryFileSystem fs = Create();
        CustomizationResult r = Apply(fs, "--timezone", "Europe/Berlin");
        Assert.Equal("/usr/share/zoneinfo/Europe/Berlin", fs.GetEntry("/etc/localtime").LinkTarget);
        Assert.Equal(["/etc/localtime"], r.ChangedPaths);
        CustomizationException e = Assert.Throws<CustomizationException>(() => Apply(fs, "--timezone", "Mars/Olympus"));
        Assert.Contains("--timezone Mars/Olympus", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Passwords_EditOnlyField2_AndRunAfterEverythingElse()
    {
        using InMemoryFileSystem fs = Create();
        long inode = fs.GetEntry("/etc/shadow").Inode;
        CustomizationResult r = Apply(fs, "--root-password", "password:s3cret", "--password", "daemon:locked:disabled", "--password", "alice:random", "--write", "/opt/after:x");
        string[] lines = Read(fs, "/etc/shadow").Split('\n');
        string[] before = Shadow.Split('\n');
        Assert.Equal(before.Length, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            string[] a = before[i].Split(':'), b = lines[i].Split(':');
            Assert.Equal(a.Length, b.Length);
            for (int f = 0; f < a.Length; f++)
            {
                if (f != 1)
                {
                    Assert.Equal(a[f], b[f]);
                }
            }
        }

        string rootHash = lines[0].Split(':')[1];
        Assert.Matches(@"^\$y\$j9T\$[./0-9A-Za-z]{22}\$[./0-9A-Za-z]{43}$", rootHash); // Debian 12: yescrypt
        Assert.True(Yescrypt.Verify("s3cret"u8, rootHash));
        Assert.Equal("!!*", lines[2].Split(':')[1]);
        Assert.True(Yescrypt.Verify(System.Text.Encoding.UTF8.GetBytes(r.GeneratedPasswords["alice"]), lines[1].Split(':')[1]));
        Assert.Equal(16, r.GeneratedPasswords["alice"].Length);
        Assert.Equal(inode, fs.GetEntry("/etc/shadow").Inode);
        Assert.Equal(((UnixFileMode)0x1A0, 42u), (fs.GetEntry("/etc/shadow").Mode, fs.GetEntry("/etc/shadow").GroupId));
        int write = r.Changes.ToList().FindIndex(c => c.Path == "/opt/after");
        int shadow = r.Changes.ToList().FindIndex(c => c.Path == "/etc/shadow");
        Assert.True(write < shadow, "passwords are applied after the other operations");
    }

    [Theory]
    [InlineData("locked:password:pw", "!!$y$")]
    [InlineData("disabled", "*")]
    [InlineData("locked", "!!*")]
    public void Password_Selectors_GiveVirtCustomizeFields(string selector, string prefix)
    {
        using InMemoryFileSystem fs = Create();
        Apply(fs, "--password", "alice:" + selector);
        string field = Read(fs, "/etc/shadow").Split('\n')[1].Split(':')[1];
        Assert.StartsWith(prefix, field, StringComparison.Ordinal);
        if (prefix == "!!$y$")
        {
            Assert.True(Yescrypt.Verify("pw"u8, field[2..]));
        }
        else
        {
            Assert.Equal(prefix, field);
        }
    }

    [Theory]
    [InlineData("ID=debian\nVERSION_ID=\"12\"\n", "yescrypt")]
    [InlineData("ID=debian\nVERSION_ID=\"10\"\n", "sha512")]
    [InlineData("ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"18.04\"\n", "sha512")]
    [InlineData("ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\n", "yescrypt")]
    [InlineData("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n", "yescrypt")]
    [InlineData("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"8.10\"\n", "sha512")]
    [InlineData("ID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"7.9\"\n", "sha512")]
    [InlineData("ID=fedora\nVERSION_ID=40\n", "yescrypt")]
    [InlineData("ID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\nVERSION_ID=\"15.5\"\n", "yescrypt")]
    [InlineData("ID=alpine\nVERSION_ID=3.19.1\n", "sha512")]
    public void DefaultPasswordHash_FollowsTheGuestsLibxcryptDefault(string osRelease, string expected) =>
        Assert.Equal(expected, PasswordHashing.DefaultFor(GuestOs.Parse(osRelease)));

    [Fact]
    public void SshInject_CreatesDirAndFileWithModesAndOwnerFromPasswd()
    {
        using InMemoryFileSystem fs = Create();
        CustomizationResult r = Apply(fs, "--ssh-inject", "alice:string:ssh-ed25519 AAAA alice@host", "--ssh-inject", "alice:string:ssh-rsa BBBB second\n");
        UnixFileInfo dir = fs.GetEntry("/home/alice/.ssh"), keys = fs.GetEntry("/home/alice/.ssh/authorized_keys");
        Assert.Equal(((UnixFileMode)0x1C0, 1000u, 1000u), (dir.Mode, dir.UserId, dir.GroupId));
        Assert.Equal(((UnixFileMode)0x180, 1000u, 1000u), (keys.Mode, keys.UserId, keys.GroupId));
        Assert.Equal("ssh-ed25519 AAAA alice@host\nssh-rsa BBBB second\n", Read(fs, "/home/alice/.ssh/authorized_keys"));
        Assert.Equal(["/home/alice/.ssh", "/home/alice/.ssh/authorized_keys"], r.ChangedPaths);
    }

    [Fact]
    public void Firstboot_SystemdUnitAndSysVFallback_InVirtCustomizeLayout()
    {
        using InMemoryFileSystem fs = Create();
        CustomizationResult r = Apply(fs, "--firstboot-command", "echo hi > /root/x", "--run-command", "useradd bob", "--install", "vim,curl");
        Assert.Equal("/usr/lib/systemd/system/guestfs-firstboot.service", fs.GetEntry("/etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service").LinkTarget);
        string unit = Read(fs, "/usr/lib/systemd/system/guestfs-firstboot.service");
        Assert.Contains("Type=oneshot", unit, StringComparison.Ordinal);
        Assert.Contains("ExecStart=/usr/lib/virt-sysprep/firstboot.sh start", unit, StringComparison.Ordinal);
        Assert.Contains("WantedBy=multi-user.target", unit, StringComparison.Ordinal);
        Assert.Equal((UnixFileMode)0x1ED, fs.GetEntry("/usr/lib/virt-sysprep/firstboot.sh").Mode);
        Assert.Equal("/usr/lib/virt-sysprep/firstboot.sh", fs.GetEntry("/etc/init.d/guestfs-firstboot").LinkTarget);
        Assert.Equal("../init.d/guestfs-firstboot", fs.GetEntry("/etc/rc3.d/S99guestfs-firstboot").LinkTarget);
        Assert.Equal("echo hi > /root/x", Read(fs, "/usr/lib/virt-sysprep/scripts/5000-0001-echo-hi----root-x"));
        Assert.Equal((UnixFileMode)0x1ED, fs.GetEntry("/usr/lib/virt-sysprep/scripts/5000-0001-echo-hi----root-x").Mode);
        Assert.Contains("useradd bob", Read(fs, "/usr/lib/virt-sysprep/scripts/5000-0002-useradd-bob"), StringComparison.Ordinal);
        Assert.Contains("apt-get -q -y -o Dpkg::Options::=--force-confnew install vim curl", Read(fs, "/usr/lib/virt-sysprep/scripts/5000-0003-install-vim-curl"), StringComparison.Ordinal);
        Assert.Equal(2, r.Notes.Count(n => n.Contains("deferred to the guest's first boot", StringComparison.Ordinal)));
        Assert.Contains("/usr/lib/virt-sysprep/scripts/5000-0001-echo-hi----root-x", r.ChangedPaths);
    }

    private static void DeleteTree(InMemoryFileSystem fs, string path)
    {
        if (fs.GetEntry(path).Type == UnixFileType.Directory)
        {
            foreach (UnixFileInfo e in fs.EnumerateDirectory(path).ToList())
            {
                DeleteTree(fs, path + "/" + e.Name);
            }
        }

        fs.Delete(path);
    }

    [Fact]
    public void Firstboot_GuestWithoutSystemd_SysVOnly()
    {
        using InMemoryFileSystem fs = Create();
        DeleteTree(fs, "/etc/systemd");
        CustomizationResult r = Apply(fs, "--firstboot-command", "touch /root/ran");
        Assert.False(fs.Exists("/etc/systemd"));
        Assert.False(fs.Exists("/usr/lib/systemd/system/guestfs-firstboot.service"));
        Assert.Equal("/usr/lib/virt-sysprep/firstboot.sh", fs.GetEntry("/etc/init.d/guestfs-firstboot").LinkTarget);
        Assert.Equal("touch /root/ran", Read(fs, "/usr/lib/virt-sysprep/scripts/5000-0001-touch--root-ran"));
        Assert.Contains("/etc/init.d/guestfs-firstboot", r.ChangedPaths);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void UploadAndCopyIn_FromHost_KeepModes()
    {
        using var tmp = new TempDirectory();
        string file = tmp.File("up.bin");
        File.WriteAllBytes(file, [1, 0, 2]);
        File.SetUnixFileMode(file, (UnixFileMode)0x1E0); // 0740
        Directory.CreateDirectory(tmp.File("tree/sub"));
        File.WriteAllText(tmp.File("tree/sub/a.txt"), "a");
        using InMemoryFileSystem fs = Create();
        CustomizationResult r = Apply(fs, "--upload", file + ":/opt", "--upload", file + ":/opt/renamed", "--copy-in", tmp.File("tree") + ":/opt");
        Assert.Equal(3, fs.GetEntry("/opt/up.bin").Size);
        Assert.Equal((UnixFileMode)0x1E0, fs.GetEntry("/opt/renamed").Mode);
        Assert.Equal("a", Read(fs, "/opt/tree/sub/a.txt"));
        Assert.Equal(["/opt/up.bin", "/opt/renamed", "/opt/tree", "/opt/tree/sub", "/opt/tree/sub/a.txt"], r.ChangedPaths);
    }

    [Fact]
    public void RandomSeedAndMachineId_EmptyMachineIdFilled_SeedRefilledInPlace()
    {
        using InMemoryFileSystem fs = Create();
        Write(fs, "/etc/machine-id", string.Empty);
        fs.CreateDirectory("/var/lib");
        fs.CreateDirectory("/var/lib/systemd");
        WriteBytes(fs, "/var/lib/systemd/random-seed", new byte[100]);
        Customizer.Apply(fs, new CustomizeScript());
        Assert.Matches("^[0-9a-f]{32}\n$", Read(fs, "/etc/machine-id"));
        Assert.Equal(512, fs.GetEntry("/var/lib/systemd/random-seed").Size);
    }

    [Fact]
    public void CommandsFile_CommentsContinuationsAndOrder()
    {
        CustomizeScript s = CustomizeScript.ParseCommandsFile("# comment\n\nwrite /a:b c\nmkdir \\\n/x\n  update\nroot-password password:pw\n");
        Assert.Equal(["--write /a:b c", "--mkdir \n/x", "--update", "--root-password password:pw"], s.Operations);
        CustomizationException e = Assert.Throws<CustomizationException>(() => CustomizeScript.ParseCommandsFile("write /a:b\nfrobnicate x\n"));
        Assert.Contains("line 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DryRun_ReportsChangesAndWritesNothing()
    {
        using InMemoryFileSystem fs = Create();
        string before = Snapshot(fs);
        CustomizationResult r = Customizer.Apply(fs, CustomizeScript.Parse(["--mkdir", "/opt/x", "--write", "/opt/x/f:1", "--move", "/opt/x:/opt/y", "--append-line", "/opt/y/f:2", "--root-password", "password:x"]), new CustomizeOptions { DryRun = true });
        Assert.True(r.DryRun);
        Assert.Equal(before, Snapshot(fs));
        Assert.Equal(["/opt/y", "/opt/y/f"], r.ChangedPaths);
    }
}
