using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Tests.Sysprep;

/// <summary>The distribution layouts the planted trees imitate.</summary>
public enum PlantedLayout
{
    /// <summary>Debian 12 (os-release ID=debian).</summary>
    Debian,

    /// <summary>RHEL 9 (ID=rhel, ID_LIKE=fedora): ifcfg files, /var/account, dnf cache, rpm database.</summary>
    Rhel,

    /// <summary>Rocky Linux 9 (ID=rocky, ID_LIKE="rhel centos fedora"): the RHEL layout under another ID.</summary>
    Rocky,
}

/// <summary>
/// Plants the per-machine identifiers a clone must not share (MAC addresses in network configuration, machine-id,
/// SSH host keys, DHCP leases, logs, mail, history, cloud-init state, random seed...) into a file system, as a
/// booted Debian or RHEL-family guest would have them, next to files that must survive.
/// </summary>
internal static class SysprepPlantedTree
{
    public const string MachineId = "0123456789abcdef0123456789abcdef\n";

    /// <summary>Paths every layout's sysprep (default operations) must keep.</summary>
    public static readonly string[] MustSurvive =
    [
        "/etc/ssh/sshd_config", "/var/lib/cloud/seed/nocloud/meta-data", "/var/cache/apt/archives/partial",
        "/etc/NetworkManager/NetworkManager.conf", "/var/lib/rpm/Packages", "/var/spool/cron/atjobs/.SEQ",
    ];

    public static void Plant(IFileSystem fs, PlantedLayout layout)
    {
        bool rh = layout != PlantedLayout.Debian;
        switch (layout)
        {
            case PlantedLayout.Debian:
                if (!fs.Exists("/etc/os-release"))
                {
                    Write(fs, "/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
                }

                break;
            case PlantedLayout.Rhel:
                Replace(fs, "/etc/os-release", "NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.4\"\n");
                break;
            case PlantedLayout.Rocky:
                Replace(fs, "/etc/os-release", "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n");
                break;
        }

        if (rh)
        {
            // libguestfs' inspection believes /etc/debian_version over os-release.
            if (fs.Exists("/etc/debian_version"))
            {
                fs.Delete("/etc/debian_version");
            }

            Write(fs, "/etc/redhat-release", "Red Hat Enterprise Linux release 9.4 (Plow)\n");
        }

        // Identity.
        Write(fs, "/etc/machine-id", MachineId, 0x124);
        if (rh)
        {
            Write(fs, "/var/lib/dbus/machine-id", "fedcba9876543210fedcba9876543210\n");
        }
        else
        {
            Dir(fs, "/var/lib/dbus");
            fs.CreateSymbolicLink("/var/lib/dbus/machine-id", "/etc/machine-id");
        }

        Write(fs, "/etc/ssh/sshd_config", "PermitRootLogin prohibit-password\n");
        Write(fs, "/etc/ssh/ssh_host_rsa_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nrsa\n", 0x180);
        Write(fs, "/etc/ssh/ssh_host_rsa_key.pub", "ssh-rsa AAAA root@clone\n");
        Write(fs, "/etc/ssh/ssh_host_ed25519_key", "-----BEGIN OPENSSH PRIVATE KEY-----\ned\n", 0x180);
        Write(fs, "/etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAA root@clone\n");
        Write(fs, "/etc/krb5.keytab", "keytab", 0x180);
        Write(fs, "/etc/lvm/devices/system.devices", "IDTYPE=sys_wwid IDNAME=naa.600 DEVNAME=/dev/sda2 PVID=abc\n");
        Write(fs, "/var/lib/systemd/random-seed", new string('r', 512), 0x180);
        Write(fs, "/var/lib/systemd/credential.secret", new string('c', 32), 0x100);

        // Network identity: udev, NetworkManager, netplan, leases.
        Write(fs, "/etc/udev/rules.d/70-persistent-net.rules", "SUBSYSTEM==\"net\", ATTR{address}==\"52:54:00:12:34:56\", NAME=\"eth0\"\n");
        Write(fs, "/etc/NetworkManager/NetworkManager.conf", "[main]\nplugins=keyfile\n");
        Write(fs, "/etc/NetworkManager/system-connections/Wired.nmconnection",
            "[connection]\nid=Wired\nuuid=5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03\ntype=ethernet\n\n[ethernet]\nmac-address=52:54:00:12:34:56\n\n[ipv4]\nmethod=auto\n", 0x180);
        Write(fs, "/etc/NetworkManager/system-connections/eth1", "[connection]\nid=eth1\ntype=ethernet\n[ethernet]\nmac-address=52:54:00:AB:CD:EF\n", 0x180);
        Write(fs, "/var/lib/NetworkManager/secret_key", "secret", 0x180);
        Write(fs, "/var/lib/NetworkManager/timestamps", "[timestamps]\n5fb06bd0=1700000000\n");
        Write(fs, "/var/lib/NetworkManager/internal-5fb06bd0-eth0.lease", "ADDRESS=192.168.122.10\n");
        Write(fs, "/etc/netplan/50-cloud-init.yaml",
            "network:\n    ethernets:\n        ens3:\n            dhcp4: true\n            match:\n                macaddress: 52:54:00:12:34:56\n            set-name: ens3\n    version: 2\n", 0x180);
        Write(fs, "/etc/netplan/60-bond.yaml",
            "network:\n  ethernets:\n    lan:\n      match:\n        driver: virtio_net\n        macaddress: \"52:54:00:00:00:01\"\n      dhcp4: true\n    wan: {match: {macaddress: \"52:54:00:00:00:02\"}, set-name: wan, dhcp4: true}\n", 0x180);
        if (rh)
        {
            Write(fs, "/etc/sysconfig/network-scripts/ifcfg-eth0",
                "DEVICE=eth0\nHWADDR=52:54:00:12:34:56\nUUID=5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03\nHOSTNAME=clone.example.com\nDHCP_HOSTNAME=clone\nBOOTPROTO=dhcp\nONBOOT=yes\n");
            Write(fs, "/etc/sysconfig/network-scripts/ifcfg-lo", "DEVICE=lo\r\nIPADDR=127.0.0.1\r\n");
            Write(fs, "/var/lib/dhclient/dhclient--eth0.lease", "lease { fixed-address 192.168.122.10; }\n");
        }
        else
        {
            Write(fs, "/var/lib/dhcp/dhclient.eth0.leases", "lease { fixed-address 192.168.122.10; }\n");
        }

        // cloud-init.
        Dir(fs, "/var/lib/cloud/instances/i-0123");
        Write(fs, "/var/lib/cloud/instances/i-0123/obj.pkl", "pickle");
        fs.CreateSymbolicLink("/var/lib/cloud/instance", "/var/lib/cloud/instances/i-0123");
        Write(fs, "/var/lib/cloud/data/instance-id", "i-0123\n");
        Write(fs, "/var/lib/cloud/seed/nocloud/meta-data", "instance-id: i-0123\n");

        // Logs, mail, history, temporary files, backups.
        Write(fs, "/var/log/messages", "Jan 1 clone kernel: eth0 52:54:00:12:34:56\n");
        Write(fs, "/var/log/syslog.1", "old\n");
        Write(fs, "/var/log/cloud-init.log", "cloud-init ran\n");
        Write(fs, "/var/log/audit/audit.log", "type=DAEMON_START\n", 0x180);
        Write(fs, "/var/log/journal/0123456789abcdef0123456789abcdef/system.journal", "LPKSHHRH");
        Write(fs, "/var/mail/alice", "From root\n", 0x1B0);
        Write(fs, "/root/.bash_history", "ls\n", 0x180);
        Write(fs, "/root/.ssh/authorized_keys", "ssh-ed25519 AAAA admin\n", 0x180);
        Write(fs, "/home/alice/.bash_history", "sudo -i\n", 0x180);
        Write(fs, "/home/alice/.ssh/id_ed25519", "key", 0x180);
        Write(fs, "/home/alice/notes.txt", "keep me\n");
        Write(fs, "/tmp/build.tmp", "x");
        Write(fs, "/tmp/.X0-lock", "x");
        Write(fs, "/tmp/dir/inner", "x");
        Write(fs, "/var/tmp/systemd-private-1/tmp/x", "x");
        Write(fs, "/etc/hosts~", "old hosts\n");
        Write(fs, "/etc/fstab.bak", "old fstab\n");
        Write(fs, "/root/.profile~", "old\n");
        Write(fs, "/var/lib/misc/state.bak", "x");
        Write(fs, "/etc/shadow-", "root:*:19000:0:99999:7:::\n", 0x180);

        // Spools, caches and service data.
        Write(fs, "/var/spool/cron/crontabs/alice", "* * * * * true\n", 0x180);
        Write(fs, "/var/spool/cron/atjobs/.SEQ", "00012\n", 0x1B0);
        Write(fs, "/var/spool/cron/atjobs/a0000101", "#!/bin/sh\n", 0x1C0);
        Write(fs, "/var/crash/202401011200/vmcore", "core");
        Write(fs, "/var/spool/abrt/ccpp-1/coredump", "core");
        Write(fs, "/var/lib/dovecot/instances", "x");
        Write(fs, "/var/lib/sss/db/cache_example.ldb", "x", 0x180);
        Write(fs, "/var/log/sssd/sssd.log", "x");
        Write(fs, "/var/log/samba/log.smbd", "x");
        Write(fs, "/var/lib/samba/private/secrets.tdb", "x", 0x180);
        Write(fs, "/var/log/puppet/puppet.log", "x");
        Write(fs, "/etc/ipa/default.conf", "[global]\nrealm = EXAMPLE.COM\n");
        Write(fs, "/run/utmp", "utmp", 0x1B4);
        if (rh)
        {
            Write(fs, "/var/account/pacct", "acct", 0x180);
            Write(fs, "/var/account/pacct-20240101", "acct", 0x180);
            Write(fs, "/var/cache/dnf/baseos-1/packages/bash-5.1.rpm", "rpm");
            Write(fs, "/var/lib/rpm/__db.001", "db");
            Write(fs, "/var/lib/rpm/Packages", "rpmdb");
            Write(fs, "/etc/pki/consumer/cert.pem", "cert");
            Write(fs, "/etc/pki/entitlement/123.pem", "cert");
            Write(fs, "/etc/sysconfig/rhn/systemid", "id");
        }
        else
        {
            Write(fs, "/var/log/account/pacct", "acct", 0x180);
            Write(fs, "/var/log/account/pacct.0", "acct", 0x180);
            Write(fs, "/var/cache/apt/archives/bash_5.2_amd64.deb", "deb");
            Dir(fs, "/var/cache/apt/archives/partial");
            Write(fs, "/var/lib/rpm/Packages", "not used on Debian");
        }
    }

    /// <summary>Creates the directory and its missing parents (0755, root).</summary>
    public static void Dir(IFileSystem fs, string path)
    {
        string current = string.Empty;
        foreach (string part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            current += "/" + part;
            if (!fs.Exists(current))
            {
                fs.CreateDirectory(current);
            }
        }
    }

    /// <summary>Writes a file (creating parents), mode as octal bits (default 0644).</summary>
    public static void Write(IFileSystem fs, string path, string content, int mode = 0x1A4)
    {
        Dir(fs, path[..path.LastIndexOf('/')]);
        using (Stream s = fs.OpenFile(path, FileMode.Create, FileAccess.Write))
        {
            s.Write(Encoding.UTF8.GetBytes(content));
        }

        fs.SetMode(path, (UnixFileMode)mode);
    }

    private static void Replace(IFileSystem fs, string path, string content)
    {
        if (fs.Exists(path))
        {
            fs.Delete(path);
        }

        Write(fs, path, content);
    }

    public static string Read(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        using var reader = new StreamReader(s, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
