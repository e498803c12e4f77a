using DiskImage.FileSystems;

namespace DiskImage.Guests;

/// <summary>
/// Finds the operating systems of a guest like libguestfs' inspection: every mountable file system is tested
/// for a Linux root by its files (<c>/etc</c> a directory; <c>/bin</c> a directory or a link to <c>usr/bin</c>;
/// <c>/etc/fstab</c> or <c>/etc/hosts</c> a file; a file system with <c>/grub/grub.conf</c>, <c>/grub/menu.lst</c>
/// or <c>/grub2/grub.cfg</c> is a /boot), then each root's fstab is resolved and the facts are read through
/// the mounted view (so a separate <c>/usr</c> is seen as the guest sees it).
/// </summary>
internal static class GuestInspector
{
    public static IReadOnlyList<GuestOperatingSystem> Inspect(Guest guest)
    {
        var found = new List<GuestOperatingSystem>();
        foreach (GuestVolume volume in guest.Volumes)
        {
            if (!volume.IsMountable)
            {
                continue;
            }

            IFileSystem fs;
            try
            {
                fs = guest.OpenFileSystem(volume);
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
            {
                // A file system that cannot be read is no root (libguestfs skips what it cannot mount).
                continue;
            }

            if (IsLinuxRoot(fs))
            {
                found.Add(InspectRoot(guest, volume, fs));
            }
        }

        return found;
    }

    /// <summary>libguestfs' Linux-root test on one file system.</summary>
    internal static bool IsLinuxRoot(IFileSystem fs)
    {
        if (IsType(fs, "/grub/menu.lst", UnixFileType.RegularFile) || IsType(fs, "/grub/grub.conf", UnixFileType.RegularFile) || IsType(fs, "/grub2/grub.cfg", UnixFileType.RegularFile))
        {
            return false;
        }

        if (!IsType(fs, "/etc", UnixFileType.Directory))
        {
            return false;
        }

        bool bin = IsType(fs, "/bin", UnixFileType.Directory) || LinkTarget(fs, "/bin") == "usr/bin";
        return bin && (GuestReleaseFacts.IsFile(fs, "/etc/fstab") || GuestReleaseFacts.IsFile(fs, "/etc/hosts"));
    }

    private static GuestOperatingSystem InspectRoot(Guest guest, GuestVolume root, IFileSystem rootFs)
    {
        var warnings = new List<string>();
        var mounts = new List<GuestMount> { new(root.Name, "/") };
        string? fstab = GuestReleaseFacts.ReadText(rootFs, "/etc/fstab");
        if (fstab is not null)
        {
            List<FstabEntry> entries;
            try
            {
                entries = FstabEntry.Parse(fstab);
            }
            catch (InvalidDataException e)
            {
                warnings.Add(e.Message);
                entries = [];
            }

            foreach (FstabEntry entry in entries)
            {
                if (ResolveEntry(guest, root, entry, warnings) is { } mount)
                {
                    mounts.Add(mount);
                }
            }
        }

        // The facts come from the view the guest sees (root plus its mounts): a separate /usr holds os-release and binaries.
        IFileSystem view = guest.Mount(new GuestOperatingSystem(root.Name, mounts, []), warnings);
        GuestReleaseFacts.Facts facts = GuestReleaseFacts.Read(view);
        string distro = facts.Distro ?? "unknown";
        int major = facts.Major ?? 0;
        (string? format, string? management) = Packages(view, distro, major);
        return new GuestOperatingSystem(root.Name, mounts, warnings)
        {
            Distro = distro,
            MajorVersion = major,
            MinorVersion = facts.Minor,
            ProductName = facts.ProductName,
            Hostname = Hostname(view),
            Architecture = ElfArchitecture.Find(view),
            PackageFormat = format,
            PackageManagement = management,
        };
    }

    private static GuestMount? ResolveEntry(Guest guest, GuestVolume root, FstabEntry entry, List<string> warnings)
    {
        if (GuestDeviceResolver.IsRemovable(entry.Spec) || entry.MountPoint.Length == 0 || entry.MountPoint[0] != '/')
        {
            return null; // floppies, CDs, swap ("none"/"swap")
        }

        string mp = GuestPaths.Canonical(entry.MountPoint);
        if (IsIgnoredMountPoint(mp) || entry.Type is "swap" or "proc" or "sysfs" or "tmpfs" or "devpts" or "devtmpfs" or "nfs" or "nfs4" or "cifs" or "none")
        {
            return null;
        }

        string? device = GuestDeviceResolver.Resolve(guest, entry.Spec, root.Name);
        if (device is null)
        {
            if (entry.Spec.Contains('=', StringComparison.Ordinal) || entry.Spec.StartsWith("/dev/", StringComparison.Ordinal))
            {
                warnings.Add($"fstab: {entry.Spec} (mounted on {mp}) matches no device of the guest; left out");
            }

            return null;
        }

        if (mp == "/")
        {
            if (device != root.Name)
            {
                warnings.Add($"fstab: / is {entry.Spec} ({device}), not the inspected root {root.Name}; the root is kept");
            }

            return null;
        }

        return new GuestMount(device, mp);
    }

    private static bool IsIgnoredMountPoint(string mp) =>
        mp is "/dev" or "/proc" or "/selinux" or "/sys" ||
        mp.StartsWith("/dev/", StringComparison.Ordinal) || mp.StartsWith("/media/", StringComparison.Ordinal) ||
        mp.StartsWith("/proc/", StringComparison.Ordinal) || mp.StartsWith("/selinux/", StringComparison.Ordinal) ||
        mp.StartsWith("/sys/", StringComparison.Ordinal);

    private static string? Hostname(IFileSystem fs)
    {
        foreach (string path in new[] { "/etc/HOSTNAME", "/etc/hostname" })
        {
            if (GuestReleaseFacts.ReadText(fs, path) is { } text && FirstMeaningfulLine(text) is { } name)
            {
                return name;
            }
        }

        if (GuestReleaseFacts.ReadText(fs, "/etc/sysconfig/network") is { } network &&
            ShellAssignments.Parse(network).TryGetValue("HOSTNAME", out string? host) && host.Length > 0)
        {
            return host;
        }

        return null;
    }

    private static string? FirstMeaningfulLine(string text)
    {
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length > 0 && line[0] != '#')
            {
                return line;
            }
        }

        return null;
    }

    private static (string? Format, string? Management) Packages(IFileSystem fs, string distro, int major) => distro switch
    {
        "debian" or "ubuntu" or "linuxmint" or "kalilinux" => ("deb", "apt"),
        "fedora" => ("rpm", major >= 22 && GuestReleaseFacts.IsFile(fs, "/usr/bin/dnf") ? "dnf" : "yum"),
        "rhel" or "centos" or "rocky" or "oraclelinux" or "scientificlinux" or "redhat-based" or "circle" =>
            ("rpm", major >= 8 ? "dnf" : major >= 5 ? "yum" : major >= 2 ? "up2date" : null),
        "opensuse" or "sles" or "suse-based" => ("rpm", "zypper"),
        "mageia" => ("rpm", "urpmi"),
        "openmandriva" or "openeuler" or "opencloudos" or "tencentos" or "kylin" or "neokylin" => ("rpm", "dnf"),
        "altlinux" => ("rpm", "apt"),
        "archlinux" => ("pacman", "pacman"),
        "gentoo" => ("ebuild", "portage"),
        "alpinelinux" => ("apk", "apk"),
        "voidlinux" => ("xbps", "xbps"),
        _ => (null, null),
    };

    private static bool IsType(IFileSystem fs, string path, UnixFileType type)
    {
        try
        {
            return fs.GetEntry(path).Type == type;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or NotSupportedException)
        {
            return false;
        }
    }

    private static string? LinkTarget(IFileSystem fs, string path)
    {
        try
        {
            UnixFileInfo e = fs.GetEntry(path);
            return e.Type == UnixFileType.SymbolicLink ? e.LinkTarget : null;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or NotSupportedException)
        {
            return null;
        }
    }
}
