namespace DiskImage.Guests;

/// <summary>
/// An operating system found by <see cref="Guest.Inspect"/>: what <c>virt-inspector</c> reports for it (root
/// device, distribution, version, product name, hostname, architecture, package format) and its mounts from
/// <c>/etc/fstab</c>.
/// </summary>
public sealed class GuestOperatingSystem
{
    internal GuestOperatingSystem(string root, IReadOnlyList<GuestMount> mounts, IReadOnlyList<string> warnings)
    {
        Root = root;
        Mounts = mounts;
        Warnings = warnings;
    }

    /// <summary>The device of the root file system (<c>/dev/sda1</c>, <c>/dev/VG/root</c>).</summary>
    public string Root { get; }

    /// <summary>The operating-system type: <c>linux</c>.</summary>
    public string Type { get; internal init; } = "linux";

    /// <summary>
    /// The distribution as libguestfs names it (<c>debian</c>, <c>ubuntu</c>, <c>fedora</c>, <c>rhel</c>,
    /// <c>centos</c>, <c>rocky</c>, <c>redhat-based</c>, <c>archlinux</c>...), or <c>unknown</c>.
    /// </summary>
    public string Distro { get; internal init; } = "unknown";

    /// <summary>The major version (0 when unknown).</summary>
    public int MajorVersion { get; internal init; }

    /// <summary>The minor version (0 when unknown).</summary>
    public int MinorVersion { get; internal init; }

    /// <summary>The product name (<c>PRETTY_NAME</c>, or the first line of the release file that gave the version), or null.</summary>
    public string? ProductName { get; internal init; }

    /// <summary>The hostname (<c>/etc/hostname</c>, <c>/etc/HOSTNAME</c> or <c>/etc/sysconfig/network</c>), or null.</summary>
    public string? Hostname { get; internal init; }

    /// <summary>The architecture of the guest's binaries (<c>x86_64</c>, <c>aarch64</c>, <c>i386</c>...), or null when unknown.</summary>
    public string? Architecture { get; internal init; }

    /// <summary>The package format (<c>deb</c>, <c>rpm</c>, <c>pacman</c>, <c>apk</c>...), or null.</summary>
    public string? PackageFormat { get; internal init; }

    /// <summary>The package manager (<c>apt</c>, <c>dnf</c>, <c>yum</c>, <c>zypper</c>...), or null.</summary>
    public string? PackageManagement { get; internal init; }

    /// <summary>
    /// The mounts from <c>/etc/fstab</c> that resolve to a volume of the guest, in fstab order, the root first
    /// (<c>UUID=</c>, <c>LABEL=</c>, <c>PARTUUID=</c>, <c>PARTLABEL=</c>, <c>/dev/mapper/VG-LV</c>, <c>/dev/VG/LV</c>,
    /// <c>/dev/sdXN</c>, <c>/dev/vdXN</c>, <c>/dev/xvdXN</c>, <c>/dev/nvmeCnNSpN</c>). Swap, pseudo file systems and
    /// <c>/dev</c>, <c>/proc</c>, <c>/sys</c>, <c>/media</c> mounts are left out.
    /// </summary>
    public IReadOnlyList<GuestMount> Mounts { get; }

    /// <summary>
    /// What inspection had to leave out, in words: fstab entries that point nowhere, mount points that do not
    /// exist, file systems that could not be read.
    /// </summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Root}: {Distro} {MajorVersion}.{MinorVersion}";
}
