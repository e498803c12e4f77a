using DiskImage.Sysprep.Operations;

namespace DiskImage.Sysprep;

/// <summary>
/// The catalogue: every virt-sysprep operation by its name and default (as in guestfs-tools 1.56, which adds
/// lvm-system-devices and zsh-history to 1.48's list), then DiskImage's extra operations, sorted by name.
/// </summary>
public static class SysprepOperations
{
    private const string NoteCaStore = "a CA anchor was removed: refresh the guest's CA store at first boot (update-ca-trust extract, or update-ca-certificates on Debian)";

    private static readonly Lazy<IReadOnlyList<SysprepOperation>> Catalogue = new(Build);

    /// <summary>Every operation, sorted by name.</summary>
    public static IReadOnlyList<SysprepOperation> All => Catalogue.Value;

    /// <summary>The operation called <paramref name="name"/>, or null.</summary>
    public static SysprepOperation? Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (SysprepOperation op in All)
        {
            if (op.Name == name)
            {
                return op;
            }
        }

        return null;
    }

    private static List<SysprepOperation> Build()
    {
        const SysprepRemoveMode Rm = SysprepRemoveMode.File;
        const SysprepRemoveMode RmRf = SysprepRemoveMode.Tree;
        static bool RedHat(SysprepGuest g) => g.IsRedHatFamily;
        static bool Rpm(SysprepGuest g) => g.UsesRpm;
        static bool Yum(SysprepGuest g) => g.PackageManager == "yum";

        var list = new List<SysprepOperation>
        {
            new PathRemovalOperation("abrt-data", "Remove ABRT crash data (/var/spool/abrt/*)", true, RmRf, ["/var/spool/abrt/*"]),
            new BackupFilesOperation(),
            new PathRemovalOperation("bash-history", "Remove the bash history of root and of users in /home", true, Rm, ["/home/*/.bash_history", "/root/.bash_history"]),
            new BlkidTabOperation(),
            new PathRemovalOperation(
                "ca-certificates", "Remove CA certificates and keys in /etc/pki (except ca-bundle.crt, ca-bundle.trust.crt)", false, Rm,
                ["/etc/pki/CA/certs/*.crt", "/etc/pki/CA/crl/*.crt", "/etc/pki/CA/newcerts/*.crt", "/etc/pki/CA/private/*.key", "/etc/pki/tls/private/*.key", "/etc/pki/tls/certs/*.crt"],
                except: ["/etc/pki/tls/certs/ca-bundle.crt", "/etc/pki/tls/certs/ca-bundle.trust.crt"], noteWhenRemoved: NoteCaStore),
            new PathRemovalOperation("crash-data", "Remove kdump crash data (/var/crash/*, /var/log/dump/*)", true, RmRf, ["/var/crash/*", "/var/log/dump/*"]),
            new CronSpoolOperation(),
            new NotApplicableOperation("customize", "virt-customize's engine inside virt-sysprep", true, "customizations are 'diskimage customize' (DiskImage.Customization), run before or after sysprep"),
            new PathRemovalOperation("dhcp-client-state", "Remove DHCP client leases (/var/lib/dhclient/*, /var/lib/dhcp/*)", true, RmRf, ["/var/lib/dhclient/*", "/var/lib/dhcp/*"]),
            new PathRemovalOperation("dhcp-server-state", "Remove DHCP server leases (/var/lib/dhcpd/*)", true, RmRf, ["/var/lib/dhcpd/*"]),
            new PathRemovalOperation("dovecot-data", "Remove Dovecot data (/var/lib/dovecot/*)", true, Rm, ["/var/lib/dovecot/*"]),
            new PathRemovalOperation("firewall-rules", "Remove firewall rules (/etc/sysconfig/iptables, /etc/firewalld/{services,zones}/*)", false, Rm, ["/etc/sysconfig/iptables", "/etc/firewalld/services/*", "/etc/firewalld/zones/*"]),
            new TouchOperation("flag-reconfiguration", "Create /.unconfigured so the first boot asks for settings", "/.unconfigured"),
            new NotApplicableOperation("fs-uuids", "Give every file system a new random UUID", false, "changing a file system UUID is a block-device operation, not a file operation (and without updating fstab and the boot loader it makes guests unbootable)"),
            new PathRemovalOperation(
                "ipa-client", "Remove IPA enrolment files and the IPA CA anchors", true, Rm,
                ["/etc/ipa/ca.crt", "/etc/ipa/default.conf", "/var/lib/ipa-client/sysrestore/*", "/var/lib/ipa-client/pki/*",
                 "/etc/pki/ca-trust/source/anchors/ipa-ca.crt", "/usr/local/share/ca-certificates/ipa-ca.crt", "/etc/pki/ca-trust/source/ipa.p11-kit"],
                noteWhenRemoved: NoteCaStore, notePaths: ["/etc/pki/ca-trust/source/anchors/ipa-ca.crt", "/usr/local/share/ca-certificates/ipa-ca.crt", "/etc/pki/ca-trust/source/ipa.p11-kit"]),
            new PathRemovalOperation("kerberos-data", "Remove Kerberos KDC data (/var/kerberos/krb5kdc/* except kadm5.acl, kdc.conf)", false, Rm, ["/var/kerberos/krb5kdc/*"], except: ["/var/kerberos/krb5kdc/kadm5.acl", "/var/kerberos/krb5kdc/kdc.conf"]),
            new PathRemovalOperation("kerberos-hostkeytab", "Remove the Kerberos host keytab (/etc/krb5.keytab)", true, Rm, ["/etc/krb5.keytab"]),
            new PathRemovalOperation("logfiles", "Remove log files (/var/log/*.log*, journal, audit, apt, installer logs...)", true, RmRf, LogFiles.Globs),
            new PathRemovalOperation("lvm-system-devices", "Remove LVM's device list (/etc/lvm/devices/system.devices)", true, Rm, ["/etc/lvm/devices/system.devices"]),
            new NotApplicableOperation("lvm-uuids", "Give LVM physical volumes and volume groups new UUIDs", true, "LVM PV and VG UUIDs live below the file system; a file-system sysprep cannot change them"),
            new MachineIdOperation(),
            new PathRemovalOperation("mail-spool", "Remove local mail (/var/spool/mail/*, /var/mail/*)", true, RmRf, ["/var/spool/mail/*", "/var/mail/*"]),
            new IfcfgLineFilterOperation("net-hostname", "RHEL family: remove HOSTNAME= and DHCP_HOSTNAME= from ifcfg-* files", "HOSTNAME=", "DHCP_HOSTNAME="),
            new IfcfgLineFilterOperation("net-hwaddr", "RHEL family: remove HWADDR= from ifcfg-* files", "HWADDR="),
            new PathRemovalOperation("net-nmconn", "RHEL family: remove NetworkManager keyfiles (/etc/NetworkManager/system-connections/*.nmconnection)", true, Rm, ["/etc/NetworkManager/system-connections/*.nmconnection"], RedHat),
            new PacctLogOperation(),
            new PackageManagerCacheOperation(),
            new PathRemovalOperation("pam-data", "Remove PAM data (/var/run/console/*, /var/run/faillock/*, /var/run/sepermit/*)", true, Rm, ["/var/run/console/*", "/var/run/faillock/*", "/var/run/sepermit/*"]),
            new PathRemovalOperation("passwd-backups", "Remove /etc/passwd- and the other account file backups", true, Rm, ["/etc/group-", "/etc/gshadow-", "/etc/passwd-", "/etc/shadow-", "/etc/subgid-", "/etc/subuid-"]),
            new PathRemovalOperation("puppet-data-log", "Remove Puppet data and logs", true, Rm, ["/var/log/puppet/*", "/var/lib/puppet/*/*", "/var/lib/puppet/*/*/*"]),
            new PathRemovalOperation("rh-subscription-manager", "RHEL family: remove subscription-manager certificates (/etc/pki/consumer/*, /etc/pki/entitlement/*)", true, RmRf, ["/etc/pki/consumer/*", "/etc/pki/entitlement/*"], RedHat),
            new PathRemovalOperation("rhn-systemid", "RHEL family: remove the RHN system ID", true, Rm, ["/etc/sysconfig/rhn/systemid", "/etc/sysconfig/rhn/osad-auth.conf"], RedHat),
            new PathRemovalOperation("rpm-db", "Remove the host-specific rpm database environment (/var/lib/rpm/__db.*)", true, Rm, ["/var/lib/rpm/__db.*"], Rpm),
            new PathRemovalOperation("samba-db-log", "Remove Samba databases and logs", true, Rm, ["/var/log/samba/old/*", "/var/log/samba/*", "/var/lib/samba/*/*", "/var/lib/samba/*"]),
            new NotApplicableOperation("script", "Run host scripts in the mounted guest (virt-sysprep --script)", true, "host scripts are not run against the guest (virt-sysprep does nothing here without --script either)", silent: true),
            new PathRemovalOperation("smolt-uuid", "Remove the Smolt hardware UUID", true, Rm, ["/etc/sysconfig/hw-uuid", "/etc/smolt/uuid", "/etc/smolt/hw-uuid"]),
            new PathRemovalOperation("ssh-hostkeys", "Remove the SSH host keys (/etc/ssh/*_host_*)", true, Rm, ["/etc/ssh/*_host_*"]),
            new PathRemovalOperation("ssh-userdir", "Remove the .ssh directories of root and of users in /home", true, RmRf, ["/home/*/.ssh", "/root/.ssh"]),
            new PathRemovalOperation("sssd-db-log", "Remove SSSD databases and logs", true, Rm, ["/var/log/sssd/*", "/var/lib/sss/db/*"]),
            new TmpFilesOperation(),
            new PathRemovalOperation("udev-persistent-net", "Remove udev's persistent network rules (/etc/udev/rules.d/70-persistent-net.rules)", true, Rm, ["/etc/udev/rules.d/70-persistent-net.rules"]),
            new UserAccountOperation(),
            new PathRemovalOperation("utmp", "Remove /var/run/utmp", true, Rm, ["/var/run/utmp"]),
            new PathRemovalOperation("yum-uuid", "Remove yum's UUID (/var/lib/yum/uuid)", true, Rm, ["/var/lib/yum/uuid"], Yum),
            new PathRemovalOperation("zsh-history", "Remove the zsh history of root and of users in /home", true, Rm, ["/home/*/.zsh_history", "/root/.zsh_history"]),

            // Extra operations: what virt-sysprep leaves behind (never defaults; select them by name or with "extras").
            new PathRemovalOperation(
                "cloud-init-network", "Remove network configuration generated by cloud-init (as cloud-init clean -c network)", false, Rm,
                ["/etc/netplan/50-cloud-init.yaml", "/etc/NetworkManager/conf.d/99-cloud-init.conf", "/etc/NetworkManager/conf.d/30-cloud-init-ip6-addr-gen-mode.conf",
                 "/etc/NetworkManager/system-connections/cloud-init-*.nmconnection", "/etc/systemd/network/10-cloud-init-*.network", "/etc/network/interfaces.d/50-cloud-init.cfg"],
                isExtra: true),
            new PathRemovalOperation(
                "cloud-init-state", "Remove cloud-init's instance state (/var/lib/cloud/* except seed) and logs", false, RmRf,
                ["/var/lib/cloud/*", "/var/log/cloud-init.log", "/var/log/cloud-init-output.log"], except: ["/var/lib/cloud/seed"], isExtra: true),
            new PathRemovalOperation(
                "credential-secret", "Remove systemd's credential encryption key (/var/lib/systemd/credential.secret)", false, Rm,
                ["/var/lib/systemd/credential.secret"], isExtra: true),
            new PathRemovalOperation(
                "dhcp-leases-extra", "Remove dhcpcd and systemd-networkd leases", false, RmRf,
                ["/var/lib/dhcpcd/*", "/var/lib/dhcpcd5/*", "/var/db/dhcpcd/*", "/var/lib/systemd/network/*", "/run/systemd/netif/leases/*"], isExtra: true),
            new KeyfileLineFilterOperation(),
            new NetplanMacAddressOperation(),
            new PathRemovalOperation(
                "networkmanager-state", "Remove NetworkManager's leases, secret_key, timestamps and seen-bssids (/var/lib/NetworkManager)", false, Rm,
                ["/var/lib/NetworkManager/*.lease", "/var/lib/NetworkManager/*.leases", "/var/lib/NetworkManager/secret_key", "/var/lib/NetworkManager/timestamps", "/var/lib/NetworkManager/seen-bssids"],
                isExtra: true),
            new PathRemovalOperation(
                "random-seed", "Remove the saved random seeds (not refilled: clones must not share one)", false, Rm,
                ["/var/lib/systemd/random-seed", "/var/lib/random-seed", "/var/lib/urandom/random-seed", "/var/lib/misc/random-seed", "/etc/random-seed"], isExtra: true),
            new SshHostKeysRegenerateOperation(),
        };

        list.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return list;
    }
}
