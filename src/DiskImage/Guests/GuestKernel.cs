using DiskImage.FileSystems;

namespace DiskImage.Guests;

/// <summary>
/// The kernel and initrd a guest boots by default, found as <c>virt-get-kernel</c> finds them but paired by
/// version: the newest <c>/boot/vmlinuz-V</c> (else <c>vmlinux-V</c>) that has a matching
/// <c>initramfs-V.img</c> (RHEL), <c>initrd.img-V</c> (Debian, Ubuntu) or <c>initrd-V</c> (SUSE), rescue and
/// debug kernels last. Without any pair, the newest kernel and the newest initrd are taken independently, as
/// virt-get-kernel does (the initrd may then be missing).
/// </summary>
public sealed class GuestKernel
{
    private GuestKernel(string kernelPath, string? initrdPath, string version, string? versionString)
    {
        KernelPath = kernelPath;
        InitrdPath = initrdPath;
        Version = version;
        VersionString = versionString;
    }

    /// <summary>The kernel's path in the guest (<c>/boot/vmlinuz-6.1.0-57-amd64</c>).</summary>
    public string KernelPath { get; }

    /// <summary>The initrd's path in the guest, or null when there is none.</summary>
    public string? InitrdPath { get; }

    /// <summary>
    /// The kernel release (<c>uname -r</c>): the first word of the bzImage version string, or the file-name suffix
    /// when the kernel is not an x86 bzImage.
    /// </summary>
    public string Version { get; }

    /// <summary>The whole version string of the bzImage header, or null when the kernel is not a bzImage.</summary>
    public string? VersionString { get; }

    /// <summary>Finds the default kernel of the guest whose root (with <c>/boot</c> mounted) is <paramref name="fileSystem"/>.</summary>
    /// <exception cref="FileNotFoundException">There is no <c>/boot/vmlinuz-*</c> or <c>/boot/vmlinux-*</c>.</exception>
    public static GuestKernel Find(IFileSystem fileSystem) =>
        TryFind(fileSystem) ?? throw new FileNotFoundException("No kernel found: /boot holds no vmlinuz-* or vmlinux-* file.", "/boot");

    /// <summary>Finds the default kernel, or returns null when there is none; see <see cref="Find"/>.</summary>
    public static GuestKernel? TryFind(IFileSystem fileSystem)
    {
        ArgumentNullException.ThrowIfNull(fileSystem);
        var names = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            foreach (UnixFileInfo e in fileSystem.EnumerateDirectory("/boot"))
            {
                if (!e.Name.EndsWith(".hmac", StringComparison.Ordinal) && IsFile(fileSystem, "/boot/" + e.Name))
                {
                    names.Add(e.Name);
                }
            }
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        List<string> kernels = WithPrefix(names, "vmlinuz-");
        string prefix = "vmlinuz-";
        if (kernels.Count == 0)
        {
            kernels = WithPrefix(names, "vmlinux-");
            prefix = "vmlinux-";
        }

        if (kernels.Count == 0)
        {
            return null;
        }

        // Newest first; rescue and debug kernels only when nothing else is there.
        kernels.Sort((a, b) => GuestVersionComparer.Instance.Compare(b, a));
        kernels = [.. kernels.Where(k => !IsFallback(k)), .. kernels.Where(IsFallback)];
        foreach (string kernel in kernels)
        {
            string v = kernel[prefix.Length..];
            foreach (string initrd in new[] { $"initramfs-{v}.img", $"initrd.img-{v}", $"initrd-{v}", $"initrd-{v}.img" })
            {
                if (names.Contains(initrd))
                {
                    return Create(fileSystem, "/boot/" + kernel, "/boot/" + initrd, v);
                }
            }
        }

        // No pair: virt-get-kernel's independent picks.
        string? newestInitrd = null;
        foreach (string initrdPrefix in new[] { "initramfs-", "initrd-", "initrd.img-" })
        {
            List<string> initrds = WithPrefix(names, initrdPrefix);
            if (initrds.Count > 0)
            {
                initrds.Sort(GuestVersionComparer.Instance);
                newestInitrd = "/boot/" + initrds[^1];
                break;
            }
        }

        return Create(fileSystem, "/boot/" + kernels[0], newestInitrd, kernels[0][prefix.Length..]);
    }

    private static bool IsFallback(string name) =>
        name.Contains("rescue", StringComparison.Ordinal) || name.Contains("debug", StringComparison.Ordinal);

    private static GuestKernel Create(IFileSystem fs, string kernel, string? initrd, string nameVersion)
    {
        string? versionString;
        using (Stream s = fs.OpenFile(kernel, FileMode.Open, FileAccess.Read))
        {
            versionString = BzImageHeader.ReadVersion(s);
        }

        string version = versionString is null ? nameVersion : versionString.Split(' ', 2)[0];
        return new GuestKernel(kernel, initrd, version, versionString);
    }

    private static List<string> WithPrefix(HashSet<string> names, string prefix)
    {
        var list = new List<string>();
        foreach (string n in names)
        {
            if (n.Length > prefix.Length && n.StartsWith(prefix, StringComparison.Ordinal))
            {
                list.Add(n);
            }
        }

        return list;
    }

    private static bool IsFile(IFileSystem fs, string path)
    {
        try
        {
            UnixFileInfo e = fs.GetEntry(path);
            if (e.Type == UnixFileType.SymbolicLink)
            {
                using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
                return true;
            }

            return e.Type == UnixFileType.RegularFile;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return false;
        }
    }
}
