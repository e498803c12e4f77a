using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;
using DiskImage.Sysprep;

namespace DiskImage.Tests.Sysprep;

public sealed class SysprepRunnerTests
{
    private static InMemoryFileSystem Planted(PlantedLayout layout)
    {
        var fs = new InMemoryFileSystem();
        SysprepPlantedTree.Dir(fs, "/var/spool");
        SysprepPlantedTree.Dir(fs, "/var/mail");
        fs.CreateSymbolicLink("/var/spool/mail", "../mail");
        SysprepPlantedTree.Dir(fs, "/run");
        fs.CreateSymbolicLink("/var/run", "/run");
        SysprepPlantedTree.Write(fs, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n");
        SysprepPlantedTree.Write(fs, "/etc/shadow", "root:*:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\n", 0x180);
        SysprepPlantedTree.Write(fs, "/etc/group", "root:x:0:\nusers:x:100:alice\nalice:x:1000:\n");
        SysprepPlantedTree.Write(fs, "/etc/login.defs", "UID_MIN\t\t\t 1000\nUID_MAX\t\t\t60000\n");
        SysprepPlantedTree.Plant(fs, layout);
        return fs;
    }

    private static SysprepOptions Ops(string operations, MachineIdPolicy machineId = MachineIdPolicy.Empty, bool dryRun = false) =>
        new() { Operations = SysprepSelection.ParseOperations(operations), MachineId = machineId, DryRun = dryRun };

    [Fact]
    public void Run_DefaultsOnDebian_RemovesIdentifiersAndKeepsTheRest()
    {
        InMemoryFileSystem fs = Planted(PlantedLayout.Debian);
        SysprepResult result = SysprepRunner.Run(fs);

        Assert.Equal("debian", result.Guest.Id);
        foreach (string gone in (string[])[
            "/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ed25519_key.pub", "/etc/udev/rules.d/70-persistent-net.rules",
            "/var/lib/dhcp/dhclient.eth0.leases", "/var/log/messages", "/var/log/syslog.1", "/var/log/cloud-init.log",
            "/var/log/audit/audit.log", "/var/log/journal/0123456789abcdef0123456789abcdef", "/var/mail/alice", "/root/.bash_history",
            "/root/.ssh", "/home/alice/.bash_history", "/home/alice/.ssh", "/tmp/build.tmp", "/tmp/.X0-lock", "/tmp/dir",
            "/var/tmp/systemd-private-1", "/etc/hosts~", "/etc/fstab.bak", "/root/.profile~", "/var/lib/misc/state.bak", "/etc/shadow-",
            "/etc/krb5.keytab", "/etc/lvm/devices/system.devices", "/var/spool/cron/crontabs/alice", "/var/spool/cron/atjobs/a0000101",
            "/var/crash/202401011200", "/var/spool/abrt/ccpp-1", "/var/lib/dovecot/instances", "/var/lib/sss/db/cache_example.ldb",
            "/var/log/sssd/sssd.log", "/var/log/samba/log.smbd", "/var/lib/samba/private/secrets.tdb", "/var/log/puppet/puppet.log",
            "/etc/ipa/default.conf", "/run/utmp", "/var/log/account/pacct.0", "/var/cache/apt/archives/bash_5.2_amd64.deb"])
        {
            Assert.False(fs.Exists(gone), gone + " should be removed");
        }

        foreach (string kept in SysprepPlantedTree.MustSurvive)
        {
            Assert.True(fs.Exists(kept), kept + " should be kept");
        }

        // Debian: net-nmconn is RHEL-only, extras are not defaults.
        Assert.True(fs.Exists("/etc/NetworkManager/system-connections/Wired.nmconnection"));
        Assert.True(fs.Exists("/var/lib/systemd/random-seed"));
        Assert.True(fs.Exists("/var/lib/cloud/instances/i-0123/obj.pkl"));
        Assert.Contains("macaddress", SysprepPlantedTree.Read(fs, "/etc/netplan/50-cloud-init.yaml"), StringComparison.Ordinal);

        // machine-id truncated in place (mode kept), the D-Bus symlink left alone; at counter reset; pacct recreated.
        Assert.Equal(0, fs.GetEntry("/etc/machine-id").Size);
        Assert.Equal((UnixFileMode)0x124, fs.GetEntry("/etc/machine-id").Mode);
        Assert.Equal(UnixFileType.SymbolicLink, fs.GetEntry("/var/lib/dbus/machine-id").Type);
        Assert.Equal("00000\n", SysprepPlantedTree.Read(fs, "/var/spool/cron/atjobs/.SEQ"));
        Assert.Equal(0, fs.GetEntry("/var/log/account/pacct").Size);
        Assert.Equal("machine-id", result.Operations[^1]);

        // Reached twice through /var/spool/mail -> ../mail, deleted and recorded once.
        Assert.Single(result.Changes, c => c.Path.EndsWith("/alice", StringComparison.Ordinal) && c.Operation == "mail-spool");
        Assert.Contains(result.Changes, c => c is { Operation: "pacct-log", Kind: SysprepChangeKind.Created, Path: "/var/log/account/pacct" });
        Assert.Contains("/var/log/account/pacct", result.WrittenPaths);
        Assert.Contains("/etc/machine-id", result.RewrittenPaths);
        Assert.Contains(result.Notes, n => n.StartsWith("lvm-uuids:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(PlantedLayout.Rhel)]
    [InlineData(PlantedLayout.Rocky)]
    public void Run_DefaultsOnRhelFamily_CleansIfcfgKeyfilesAndRpmState(PlantedLayout layout)
    {
        InMemoryFileSystem fs = Planted(layout);
        SysprepResult result = SysprepRunner.Run(fs);

        Assert.True(result.Guest.IsRedHatFamily);
        Assert.Equal("DEVICE=eth0\nUUID=5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03\nBOOTPROTO=dhcp\nONBOOT=yes\n", SysprepPlantedTree.Read(fs, "/etc/sysconfig/network-scripts/ifcfg-eth0"));

        // read_lines + join: CRLF line ends come back as LF, as virt-sysprep writes them.
        Assert.Equal("DEVICE=lo\nIPADDR=127.0.0.1\n", SysprepPlantedTree.Read(fs, "/etc/sysconfig/network-scripts/ifcfg-lo"));
        Assert.False(fs.Exists("/etc/NetworkManager/system-connections/Wired.nmconnection"));
        Assert.True(fs.Exists("/etc/NetworkManager/system-connections/eth1"));
        Assert.False(fs.Exists("/var/lib/dhclient/dhclient--eth0.lease"));
        Assert.False(fs.Exists("/var/account/pacct-20240101"));
        Assert.Equal(0, fs.GetEntry("/var/account/pacct").Size);
        Assert.False(fs.Exists("/var/lib/rpm/__db.001"));
        Assert.True(fs.Exists("/var/lib/rpm/Packages"));
        Assert.False(fs.Exists("/var/cache/dnf/baseos-1/packages/bash-5.1.rpm"));
        Assert.True(fs.Exists("/var/cache/dnf/baseos-1/packages"));
        Assert.False(fs.Exists("/etc/pki/consumer/cert.pem"));
        Assert.False(fs.Exists("/etc/sysconfig/rhn/systemid"));
        Assert.Equal(0, fs.GetEntry("/var/lib/dbus/machine-id").Size);
        Assert.Contains("/etc/sysconfig/network-scripts/ifcfg-eth0", result.RewrittenPaths);
        Assert.Equal("dnf", result.Guest.PackageManager);
    }

    [Fact]
    public void Run_Extras_CleanNetplanKeyfilesCloudInitSeedsAndAddKeyRegeneration()
    {
        InMemoryFileSystem fs = Planted(PlantedLayout.Debian);
        SysprepPlantedTree.Dir(fs, "/etc/systemd/system");
        SysprepResult result = SysprepRunner.Run(fs, Ops("extras"));

        Assert.False(fs.Exists("/etc/netplan/50-cloud-init.yaml"));
        Assert.Equal(
            "network:\n  ethernets:\n    lan:\n      match:\n        driver: virtio_net\n      dhcp4: true\n    wan: {dhcp4: true}\n",
            SysprepPlantedTree.Read(fs, "/etc/netplan/60-bond.yaml"));
        Assert.Equal((UnixFileMode)0x180, fs.GetEntry("/etc/netplan/60-bond.yaml").Mode);
        Assert.DoesNotContain("mac-address", SysprepPlantedTree.Read(fs, "/etc/NetworkManager/system-connections/Wired.nmconnection"), StringComparison.Ordinal);
        Assert.Contains("uuid=5fb06bd0", SysprepPlantedTree.Read(fs, "/etc/NetworkManager/system-connections/Wired.nmconnection"), StringComparison.Ordinal);
        Assert.DoesNotContain("mac-address", SysprepPlantedTree.Read(fs, "/etc/NetworkManager/system-connections/eth1"), StringComparison.Ordinal);
        Assert.False(fs.Exists("/var/lib/NetworkManager/secret_key"));
        Assert.False(fs.Exists("/var/lib/NetworkManager/timestamps"));
        Assert.False(fs.Exists("/var/lib/NetworkManager/internal-5fb06bd0-eth0.lease"));
        Assert.False(fs.Exists("/var/lib/cloud/instance"));
        Assert.False(fs.Exists("/var/lib/cloud/instances"));
        Assert.True(fs.Exists("/var/lib/cloud/seed/nocloud/meta-data"));
        Assert.False(fs.Exists("/var/lib/systemd/random-seed"));
        Assert.False(fs.Exists("/var/lib/systemd/credential.secret"));

        Assert.Contains("ssh-keygen -A", SysprepPlantedTree.Read(fs, "/etc/systemd/system/regenerate-ssh-host-keys.service"), StringComparison.Ordinal);
        Assert.Equal("/etc/systemd/system/regenerate-ssh-host-keys.service", fs.GetEntry("/etc/systemd/system/ssh.service.wants/regenerate-ssh-host-keys.service").LinkTarget);
        Assert.Equal(
            ["/etc/systemd/system/regenerate-ssh-host-keys.service", "/etc/systemd/system/ssh.service.wants", "/etc/systemd/system/ssh.service.wants/regenerate-ssh-host-keys.service"],
            result.CreatedPaths);

        // Extras never touch what the defaults do.
        Assert.True(fs.Exists("/etc/ssh/ssh_host_rsa_key"));
    }

    [Fact]
    public void NetplanEdit_BlockAndFlowMatches_MacRemovedEmptyMatchAndSetNameDropped()
    {
        List<string> lines = [.. "network:\n    ethernets:\n        ens3:\n            dhcp4: true\n            match:\n                macaddress: 52:54:00:12:34:56\n            set-name: ens3\n    version: 2".Split('\n')];
        Assert.True(DiskImage.Sysprep.Operations.NetplanMacAddressOperation.Edit(lines));
        Assert.Equal("network:\n    ethernets:\n        ens3:\n            dhcp4: true\n    version: 2", string.Join('\n', lines));

        lines = [.. "    wan: {match: {macaddress: \"52:54:00:00:00:02\", driver: e1000}, set-name: wan}".Split('\n')];
        Assert.True(DiskImage.Sysprep.Operations.NetplanMacAddressOperation.Edit(lines));
        Assert.Equal("    wan: {match: {driver: e1000}, set-name: wan}", lines[0]);

        // A macaddress that sets the MAC (not under match) stays.
        lines = [.. "    eth0:\n      macaddress: 52:54:00:00:00:03\n      dhcp4: true".Split('\n')];
        Assert.False(DiskImage.Sysprep.Operations.NetplanMacAddressOperation.Edit(lines));
    }

    [Theory]
    [InlineData(MachineIdPolicy.Empty, "")]
    [InlineData(MachineIdPolicy.Uninitialized, "uninitialized\n")]
    [InlineData(MachineIdPolicy.Keep, SysprepPlantedTree.MachineId)]
    public void Run_MachineIdPolicy_AppliedLastInPlace(MachineIdPolicy policy, string expected)
    {
        InMemoryFileSystem fs = Planted(PlantedLayout.Rhel);
        long inode = fs.GetEntry("/etc/machine-id").Inode;
        SysprepResult result = SysprepRunner.Run(fs, Ops("defaults", policy));

        Assert.Equal(expected, SysprepPlantedTree.Read(fs, "/etc/machine-id"));
        Assert.Equal(inode, fs.GetEntry("/etc/machine-id").Inode);
        Assert.Equal((UnixFileMode)0x124, fs.GetEntry("/etc/machine-id").Mode);
        Assert.Equal(policy == MachineIdPolicy.Keep ? 33 : 0, fs.GetEntry("/var/lib/dbus/machine-id").Size);
        Assert.Equal(policy != MachineIdPolicy.Keep, result.Changes[^1].Operation == "machine-id");
    }

    [Theory]
    [InlineData(PlantedLayout.Debian, "defaults")]
    [InlineData(PlantedLayout.Rhel, "all,-fs-uuids")]
    public void Run_DryRun_ListsExactlyTheRealChangesAndWritesNothing(PlantedLayout layout, string operations)
    {
        InMemoryFileSystem dry = Planted(layout);
        SysprepPlantedTree.Dir(dry, "/etc/systemd/system");
        var before = SysprepTreeSnapshot.Take(dry);
        SysprepResult planned = SysprepRunner.Run(dry, Ops(operations, dryRun: true));
        Assert.True(planned.DryRun);
        Assert.Empty(SysprepTreeSnapshot.Diff(before, SysprepTreeSnapshot.Take(dry)));

        InMemoryFileSystem real = Planted(layout);
        SysprepPlantedTree.Dir(real, "/etc/systemd/system");
        SysprepResult done = SysprepRunner.Run(real, Ops(operations));
        Assert.Equal(done.Changes.Select(c => c.ToString()), planned.Changes.Select(c => c.ToString()));
        Assert.True(done.Changes.Count > 40, done.Changes.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));

        // Every deleted path is gone and every written one exists.
        Assert.All(done.DeletedPaths.Except(done.WrittenPaths), p => Assert.False(real.Exists(p), p));
        Assert.All(done.WrittenPaths, p => Assert.True(real.Exists(p), p));
    }

    [Fact]
    public void Run_UserAccount_RemovesAccountHomeMailAndOwnGroupOnly()
    {
        InMemoryFileSystem fs = Planted(PlantedLayout.Debian);
        SysprepRunner.Run(fs, Ops("user-account"));

        Assert.Equal("root:x:0:0:root:/root:/bin/bash\n", SysprepPlantedTree.Read(fs, "/etc/passwd"));
        Assert.Equal("root:*:19000:0:99999:7:::\n", SysprepPlantedTree.Read(fs, "/etc/shadow"));
        Assert.Equal("root:x:0:\nusers:x:100:alice\n", SysprepPlantedTree.Read(fs, "/etc/group"));
        Assert.False(fs.Exists("/home/alice"));
        Assert.False(fs.Exists("/var/mail/alice"));
        Assert.True(fs.Exists("/root/.bash_history"));
    }

    [Fact]
    public void Run_UserAccountKeep_KeepsListedUser()
    {
        InMemoryFileSystem fs = Planted(PlantedLayout.Debian);
        SysprepRunner.Run(fs, new SysprepOptions { Operations = SysprepSelection.Enable("user-account"), KeepUserAccounts = ["alice"] });
        Assert.True(fs.Exists("/home/alice/notes.txt"));
    }

    [Fact]
    public void Run_MalformedPasswd_InvalidDataNamingOperationAndNothingChanged()
    {
        InMemoryFileSystem fs = Planted(PlantedLayout.Debian);
        SysprepPlantedTree.Write(fs, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nbroken-line\n");
        var before = SysprepTreeSnapshot.Take(fs);

        var e = Assert.Throws<InvalidDataException>(() => SysprepRunner.Run(fs, Ops("defaults,user-account")));
        Assert.Contains("user-account", e.Message, StringComparison.Ordinal);
        Assert.Contains("line 2", e.Message, StringComparison.Ordinal);
        Assert.Empty(SysprepTreeSnapshot.Diff(before, SysprepTreeSnapshot.Take(fs)));
    }

    [Fact]
    public void Run_ReadOnlyFileSystem_RefusedUnlessDryRun()
    {
        InMemoryFileSystem fs = Planted(PlantedLayout.Debian);
        fs.MakeReadOnly();
        Assert.Throws<NotSupportedException>(() => SysprepRunner.Run(fs));
        Assert.NotEmpty(SysprepRunner.Run(fs, new SysprepOptions { DryRun = true }).Changes);
    }

    [Fact]
    public void Run_FsUuidsSelected_RefusedWithReason()
    {
        var e = Assert.Throws<NotSupportedException>(() => SysprepRunner.Run(new InMemoryFileSystem(), Ops("fs-uuids")));
        Assert.Contains("fs-uuids", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_SymlinkedMachineIdAndBackupLinks_NotFollowed()
    {
        var fs = new InMemoryFileSystem();
        SysprepPlantedTree.Write(fs, "/srv/id", "keep\n");
        SysprepPlantedTree.Dir(fs, "/etc");
        fs.CreateSymbolicLink("/etc/machine-id", "/srv/id");
        fs.CreateSymbolicLink("/etc/link.bak", "/srv/id");
        SysprepPlantedTree.Write(fs, "/srv/real.bak", "x");
        SysprepRunner.Run(fs, Ops("machine-id,backup-files"));
        Assert.Equal("keep\n", SysprepPlantedTree.Read(fs, "/srv/id"));
        Assert.True(fs.Exists("/etc/link.bak"));
        Assert.False(fs.Exists("/srv/real.bak"));
    }

    [Fact]
    public void Guest_RockyAlmaCentosOracle_AreRedHatFamily()
    {
        Assert.True(SysprepGuest.FromOsRelease("rocky", "rhel centos fedora", "9.4").IsRedHatFamily);
        Assert.True(SysprepGuest.FromOsRelease("almalinux", "rhel centos fedora", "9.4").IsRedHatFamily);
        Assert.True(SysprepGuest.FromOsRelease("centos", "rhel fedora", "9").IsRedHatFamily);
        Assert.True(SysprepGuest.FromOsRelease("ol", "fedora", "8.9").IsRedHatFamily);
        Assert.Equal("yum", SysprepGuest.FromOsRelease("centos", "rhel fedora", "7").PackageManager);
        Assert.True(SysprepGuest.FromOsRelease("ubuntu", "debian").IsDebianFamily);
        Assert.False(SysprepGuest.FromOsRelease("arch").IsRedHatFamily);
    }
}
