using System.Text;
using DiskImage.Conversion;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Host;
using DiskImage.FileSystems.InMemory;
using DiskImage.FileSystems.Xfs;
using DiskImage.Formats;
using DiskImage.Guests;
using DiskImage.IO;
using DiskImage.Partitions;
using DiskImage.Partitions.Mbr;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// Makes a base guest for <see cref="OvercloudBuilder"/> when none is given: an MBR disk with one XFS root partition
/// as qcow2, holding a source tree (e.g. a <c>debootstrap</c> one) or a minimal generated tree (the <c>/etc</c> files
/// inspection, customize and sysprep use, an fstab, a merged <c>/usr</c> layout). What the recipe needs and the tree
/// lacks is added: the host's kernel and initrd in <c>/boot</c>, the recipe's kernel modules (with their
/// dependencies) from the host's <c>/lib/modules</c>, the recipe's ramdisk programs as applets of the host's static
/// busybox. What the host cannot provide either becomes a placeholder file that says so in its content and name
/// (<see cref="PlaceholderKernelVersion"/>), listed in <see cref="OvercloudBaseGuestResult.Placeholders"/> and in the
/// guest's <see cref="MarkerPath"/>, which the built images carry. The same inputs give the same bytes.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public static class OvercloudBaseGuest
{
    /// <summary>The guest file describing how the base guest was made (what came from where, which files are placeholders).</summary>
    public const string MarkerPath = "/etc/diskimage-base-guest";

    /// <summary>The kernel version of the placeholder kernel and initrd written when the host's cannot be read.</summary>
    public const string PlaceholderKernelVersion = "0.0.0-diskimage-placeholder";

    /// <summary>The root file system's UUID (fixed, so the image is reproducible; fstab names it).</summary>
    public static readonly Guid RootUuid = Guid.Parse("0d5c1f7e-3a2b-4c8d-9e1f-2a3b4c5d6e7f");

    private const string AddedBinDirectory = "/usr/bin";

    /// <summary>Applets of Debian's busybox-static used for the recipe programs a tree lacks.</summary>
    private static readonly HashSet<string> BusyboxApplets = new(StringComparer.Ordinal)
    {
        "sh", "ash", "mount", "umount", "dd", "sync", "ip", "modprobe", "insmod", "rmmod", "lsmod", "cat", "ls", "echo",
        "sleep", "mkdir", "mknod", "switch_root", "poweroff", "reboot", "halt", "blockdev", "fdisk", "hostname",
        "ifconfig", "route", "udhcpc", "wget", "tar", "gzip", "gunzip", "cpio", "sed", "grep", "awk", "find", "xargs",
        "chroot", "losetup", "uname", "dmesg", "ln", "cp", "mv", "rm", "chmod", "ps", "kill", "sha256sum", "md5sum",
    };

    private static readonly string[] ModuleIndexFiles =
    [
        "modules.dep", "modules.dep.bin", "modules.alias", "modules.alias.bin", "modules.softdep", "modules.symbols",
        "modules.symbols.bin", "modules.builtin", "modules.builtin.bin", "modules.builtin.alias.bin",
        "modules.builtin.modinfo", "modules.order", "modules.devname",
    ];

    /// <summary>Writes a base guest to <paramref name="path"/> (qcow2; atomically: temporary name, then rename).</summary>
    /// <param name="path">The qcow2 file to write (replaced when it exists).</param>
    /// <param name="options">Source tree, host root, recipe, time; null for <see cref="OvercloudBaseGuestOptions.Default"/>.</param>
    /// <param name="cancellationToken">Stops the work; no file is left under <paramref name="path"/>.</param>
    /// <returns>What the guest is made of.</returns>
    /// <exception cref="DirectoryNotFoundException">The source tree does not exist.</exception>
    public static Task<OvercloudBaseGuestResult> CreateAsync(string path, OvercloudBaseGuestOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= OvercloudBaseGuestOptions.Default;
        if (options.SourceTree is { } tree && !Directory.Exists(tree))
        {
            throw new DirectoryNotFoundException($"{tree}: the base guest's source tree does not exist.");
        }

        return Task.Run(() => Create(path, options, cancellationToken), cancellationToken);
    }

    private static OvercloudBaseGuestResult Create(string path, OvercloudBaseGuestOptions options, CancellationToken ct)
    {
        OvercloudRecipe recipe = options.Recipe ?? OvercloudRecipe.Default;
        var time = new UnixTime(options.SourceDateEpoch ?? 0, 0);
        using var upper = new InMemoryFileSystem();
        using HostDirectoryFileSystem? lower = options.SourceTree is null ? null : new HostDirectoryFileSystem(options.SourceTree);
        using HostDirectoryFileSystem? host = options.HostRoot is { } hr && Directory.Exists(hr) ? new HostDirectoryFileSystem(hr) : null;
        var context = new Context(upper, lower is null ? upper : new OverlayTreeFileSystem(lower, upper), host, time);
        if (lower is null)
        {
            GenerateTree(context);
        }

        ct.ThrowIfCancellationRequested();
        string kernelVersion = EnsureKernel(context);
        var modules = new List<string>();
        var binaries = new List<string> { "sh" };
        foreach (OvercloudImageRecipe image in recipe.Images)
        {
            if (image.Ramdisk is { } ramdisk)
            {
                modules.AddRange(ramdisk.Modules);
                binaries.AddRange(ramdisk.Binaries);
            }
        }

        if (modules.Count > 0)
        {
            EnsureModules(context, kernelVersion, modules);
        }

        foreach (string binary in binaries.Distinct(StringComparer.Ordinal))
        {
            if (!binary.Contains('/', StringComparison.Ordinal))
            {
                EnsureBinary(context, binary);
            }
        }

        ct.ThrowIfCancellationRequested();
        var marker = new StringBuilder();
        marker.Append("# A base guest made by DiskImage for `diskimage overcloud build` (no --base was given).\n");
        marker.Append("source: ").Append(options.SourceTree ?? "generated minimal tree").Append('\n');
        marker.Append("kernel: ").Append(kernelVersion).Append('\n');
        foreach (string note in context.Notes)
        {
            marker.Append("added: ").Append(note).Append('\n');
        }

        foreach (string placeholder in context.Placeholders)
        {
            marker.Append("placeholder: ").Append(placeholder).Append('\n');
        }

        WriteFile(context, MarkerPath, Encoding.UTF8.GetBytes(marker.ToString()), 0x1a4);
        // Clamped: the change and birth times of the generated files are the clock's, and the image must not vary.
        WriteImage(new ClampedTimeFileSystem(context.View, time), path, options.SourceDateEpoch ?? 0, ct);
        return new OvercloudBaseGuestResult
        {
            Path = Path.GetFullPath(path),
            Source = options.SourceTree ?? "generated",
            KernelVersion = kernelVersion,
            Notes = context.Notes,
            Placeholders = context.Placeholders,
        };
    }

    private sealed record Context(InMemoryFileSystem Upper, IFileSystem View, HostDirectoryFileSystem? Host, UnixTime Time)
    {
        public List<string> Notes { get; } = [];

        public List<string> Placeholders { get; } = [];
    }

    private static void GenerateTree(Context c)
    {
        foreach (string d in new[] { "/usr", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/local", "/usr/local/bin", "/usr/local/sbin", "/etc", "/boot", "/dev", "/proc", "/sys", "/run", "/home", "/var", "/var/lib", "/var/log", "/var/cache", "/var/lib/systemd" })
        {
            EnsureDirectory(c, d);
        }

        EnsureDirectory(c, "/root", 0x1c0);
        EnsureDirectory(c, "/tmp", 0x3ff);
        EnsureDirectory(c, "/var/tmp", 0x3ff);
        foreach ((string link, string target) in new[] { ("/bin", "usr/bin"), ("/sbin", "usr/sbin"), ("/lib", "usr/lib") })
        {
            c.Upper.CreateSymbolicLink(link, target);
        }

        WriteText(c, "/etc/os-release", "PRETTY_NAME=\"DiskImage generated minimal guest\"\nNAME=\"DiskImage generated minimal guest\"\nID=debian\nVERSION_ID=\"12\"\nHOME_URL=\"https://example.invalid/diskimage-generated-guest\"\n");
        WriteText(c, "/etc/debian_version", "12.0\n");
        WriteText(c, "/etc/hostname", "base-guest\n");
        WriteText(c, "/etc/hosts", "127.0.0.1 localhost\n127.0.1.1 base-guest\n");
        WriteText(c, "/etc/fstab", $"# generated base guest\nUUID={RootUuid:D} / xfs defaults 0 1\n");
        WriteText(c, "/etc/machine-id", "4f1d2c3b5a6978e0f1d2c3b4a5968778\n");
        WriteText(c, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        WriteText(c, "/etc/group", "root:x:0:\n");
        WriteFile(c, "/etc/shadow", "root:*:19000:0:99999:7:::\n"u8.ToArray(), 0x1a0);
        WriteText(c, "/etc/resolv.conf", "nameserver 127.0.0.53\n");
        WriteFile(c, "/var/lib/systemd/random-seed", new byte[512], 0x180);
        WriteText(c, "/var/log/base-guest.log", "a log sysprep removes\n");
    }

    /// <summary>The guest's kernel version; adds the host's kernel and initrd (or placeholders) when /boot has none.</summary>
    private static string EnsureKernel(Context c)
    {
        if (GuestKernel.TryFind(c.View) is { } own)
        {
            return own.Version;
        }

        EnsureDirectory(c, "/boot");
        GuestKernel? hostKernel = null;
        try
        {
            hostKernel = c.Host is null ? null : GuestKernel.TryFind(c.Host);
            if (hostKernel is { InitrdPath: { } hostInitrd })
            {
                string kernelName = "/boot/" + Path.GetFileName(hostKernel.KernelPath);
                string initrdName = "/boot/" + Path.GetFileName(hostInitrd);
                CopyHostFile(c, hostKernel.KernelPath, kernelName);
                CopyHostFile(c, hostInitrd, initrdName);
                c.Notes.Add($"{kernelName}, {initrdName}: the host's kernel and initrd");
                return hostKernel.Version;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not readable (not root on a host that keeps /boot private): placeholders below.
        }

        foreach (string f in new[] { "/boot/vmlinuz-" + PlaceholderKernelVersion, "/boot/initrd.img-" + PlaceholderKernelVersion })
        {
            if (c.Upper.Exists(f))
            {
                c.Upper.Delete(f);
            }

            WritePlaceholder(c, f, "a kernel and initrd (the host's /boot/vmlinuz-* with its initrd is not readable)", 0x1a4);
        }

        return PlaceholderKernelVersion;
    }

    /// <summary>Makes <paramref name="modules"/> (with dependencies) resolvable under the guest's /lib/modules/VERSION.</summary>
    private static void EnsureModules(Context c, string version, List<string> modules)
    {
        string guestDir = Canonical(c.View, "/lib/modules/" + version);
        if (c.View.Exists(guestDir + "/modules.dep"))
        {
            return;
        }

        string? hostDir = c.Host is null || version == PlaceholderKernelVersion ? null : Canonical(c.Host, "/lib/modules/" + version);
        string? depText = hostDir is null ? null : ReadHostText(c.Host!, hostDir + "/modules.dep");
        if (depText is null)
        {
            var dep = new StringBuilder();
            foreach (string m in modules.Distinct(StringComparer.Ordinal))
            {
                dep.Append("kernel/diskimage-placeholder/").Append(m).Append(".ko:\n");
                WritePlaceholder(c, $"{guestDir}/kernel/diskimage-placeholder/{m}.ko", $"the kernel module {m} (the host has no /lib/modules/{version})", 0x1a4);
            }

            WriteText(c, guestDir + "/modules.dep", dep.ToString());
            WriteText(c, guestDir + "/modules.builtin", string.Empty);
            return;
        }

        var byName = new Dictionary<string, (string Path, string[] Deps)>(StringComparer.Ordinal);
        foreach (string line in depText.Split('\n'))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                string file = line[..colon].Trim();
                byName.TryAdd(ModuleName(file), (file, line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries)));
            }
        }

        // Soft dependencies and aliases as the ramdisk's module resolver follows them, so every module it asks for is there.
        var soft = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (string line in (ReadHostText(c.Host!, hostDir + "/modules.softdep") ?? string.Empty).Split('\n'))
        {
            string[] words = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length > 2 && words[0] == "softdep")
            {
                List<string> list = soft.TryGetValue(ModuleName(words[1]), out List<string>? l) ? l : soft[ModuleName(words[1])] = [];
                list.AddRange(words.Skip(2).Where(w => !w.EndsWith(':')).Select(ModuleName));
            }
        }

        var aliases = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (string line in (ReadHostText(c.Host!, hostDir + "/modules.alias") ?? string.Empty).Split('\n'))
        {
            string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 3 && words[0] == "alias")
            {
                string alias = words[1].Replace('-', '_');
                (aliases.TryGetValue(alias, out List<string>? targets) ? targets : aliases[alias] = []).Add(ModuleName(words[2]));
            }
        }

        var wanted = new SortedSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>(modules.Select(m => m.Replace('-', '_')));
        while (pending.Count > 0)
        {
            string name = pending.Pop();
            if (!byName.ContainsKey(name) && aliases.TryGetValue(name, out List<string>? targets))
            {
                foreach (string t in targets)
                {
                    pending.Push(t);
                }

                continue;
            }

            if (byName.TryGetValue(name, out (string Path, string[] Deps) e) && wanted.Add(e.Path))
            {
                foreach (string d in e.Deps)
                {
                    pending.Push(ModuleName(d));
                }

                foreach (string d in soft.GetValueOrDefault(name) ?? [])
                {
                    pending.Push(d);
                }
            }
        }

        foreach (string index in ModuleIndexFiles)
        {
            if (c.Host!.Exists(hostDir + "/" + index))
            {
                CopyHostFile(c, hostDir + "/" + index, guestDir + "/" + index);
            }
        }

        foreach (string file in wanted)
        {
            CopyHostFile(c, hostDir + "/" + file, guestDir + "/" + file);
        }

        c.Notes.Add($"{guestDir}: {wanted.Count} kernel modules of the host (the recipe's and their dependencies)");
    }

    /// <summary>Makes the program <paramref name="name"/> findable in the guest's PATH: a busybox applet of the host, or a placeholder.</summary>
    private static void EnsureBinary(Context c, string name)
    {
        foreach (string dir in GuestSearchPath)
        {
            string p = Canonical(c.View, dir + "/" + name);
            if (c.View.Exists(p) && c.View.GetEntry(p).Type == UnixFileType.RegularFile)
            {
                return;
            }
        }

        string target = AddedBinDirectory + "/" + name;
        EnsureDirectory(c, AddedBinDirectory);
        if (BusyboxApplets.Contains(name) && EnsureBusybox(c))
        {
            c.Upper.CreateSymbolicLink(target, "busybox");
            c.Notes.Add($"{target}: the busybox applet");
            return;
        }

        WritePlaceholder(c, target, $"the program {name} (neither the tree nor the host's static busybox provides it)", 0x1ed);
    }

    private static readonly string[] GuestSearchPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    private static bool EnsureBusybox(Context c)
    {
        const string Busybox = AddedBinDirectory + "/busybox";
        if (c.Upper.Exists(Busybox))
        {
            return true;
        }

        if (c.Host is null)
        {
            return false;
        }

        foreach (string candidate in new[] { "/usr/bin/busybox", "/bin/busybox", "/usr/sbin/busybox" })
        {
            try
            {
                string resolved = Canonical(c.Host, candidate);
                if (!c.Host.Exists(resolved) || c.Host.GetEntry(resolved).Type != UnixFileType.RegularFile)
                {
                    continue;
                }

                using (Stream s = c.Host.OpenFile(resolved, FileMode.Open, FileAccess.Read))
                {
                    if (!IsStaticElf(s))
                    {
                        continue;
                    }
                }

                CopyHostFile(c, resolved, Busybox);
                c.Notes.Add($"{Busybox}: the host's static busybox ({candidate})");
                return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
            }
        }

        return false;
    }

    /// <summary>Whether <paramref name="s"/> is a 64-bit little-endian ELF executable without a program interpreter.</summary>
    internal static bool IsStaticElf(Stream s)
    {
        Span<byte> header = stackalloc byte[64];
        if (s.ReadAtLeast(header, 64, throwOnEndOfStream: false) < 64 || !header[..4].SequenceEqual("\u007fELF"u8) || header[4] != 2 || header[5] != 1)
        {
            return false;
        }

        long phoff = BitConverter.ToInt64(header[32..]);
        int phentsize = BitConverter.ToUInt16(header[54..]);
        int phnum = BitConverter.ToUInt16(header[56..]);
        if (phoff <= 0 || phentsize < 4 || phnum == 0 || phnum > 256)
        {
            return false;
        }

        Span<byte> ph = stackalloc byte[4];
        for (int i = 0; i < phnum; i++)
        {
            s.Position = phoff + ((long)i * phentsize);
            if (s.ReadAtLeast(ph, 4, throwOnEndOfStream: false) < 4)
            {
                return false;
            }

            if (BitConverter.ToUInt32(ph) == 3)
            {
                return false; // PT_INTERP: dynamically linked.
            }
        }

        return true;
    }

    private static void WriteImage(IFileSystem tree, string path, long epoch, CancellationToken ct)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var options = new XfsBuildOptions
        {
            ExtraPercent = 20,
            Format = new XfsFormatOptions { Uuid = RootUuid, Label = "base-root", Timestamp = DateTimeOffset.FromUnixTimeSeconds(epoch) },
        };
        long fsSize = XfsFileSystem.ComputeBuildSize(tree, options);
        using var raw = new AtomicOutputFile(dir, Path.GetFileName(full) + ".raw");
        using var output = new AtomicOutputFile(dir, Path.GetFileName(full));
        using (FileBlockDevice disk = FileBlockDevice.Create(raw.TempPath, (1L << 20) + fsSize + (1L << 20)))
        {
            var table = MbrPartitionTable.Create(disk, new MbrCreateOptions { DiskSignature = 0x44495342 });
            table.Add(new PartitionAddOptions { Size = fsSize, Bootable = true });
            using BlockDevice part = table.OpenPartition(1, writable: true);
            XfsFileSystem.Build(part, tree, options, ct);
            disk.Flush();
        }

        using (FileBlockDevice source = FileBlockDevice.Open(raw.TempPath))
        {
            ImageConverter.Convert(source, output.TempPath, new ConvertOptions { TargetFormat = DiskImageFormat.Qcow2 }, null, ct);
        }

        output.Commit();
    }

    /// <summary>Resolves the symbolic links along <paramref name="path"/> inside <paramref name="fs"/> (a merged /usr's /lib is /usr/lib).</summary>
    private static string Canonical(IFileSystem fs, string path)
    {
        var parts = new List<string>(path.Split('/', StringSplitOptions.RemoveEmptyEntries));
        string current = string.Empty;
        for (int i = 0, hops = 0; i < parts.Count; i++)
        {
            string next = current + "/" + parts[i];
            if (hops < 40 && fs.Exists(next) && fs.GetEntry(next) is { Type: UnixFileType.SymbolicLink, LinkTarget: { } target })
            {
                hops++;
                string[] rest = [.. target.Split('/', StringSplitOptions.RemoveEmptyEntries), .. parts.Skip(i + 1)];
                string baseDir = target.StartsWith('/') ? string.Empty : current;
                parts = [.. (baseDir + "/" + string.Join('/', rest)).Split('/', StringSplitOptions.RemoveEmptyEntries)];
                current = string.Empty;
                i = -1;
                parts = Normalize(parts);
                continue;
            }

            current = next;
        }

        return current.Length == 0 ? "/" : current;
    }

    private static List<string> Normalize(List<string> parts)
    {
        var list = new List<string>(parts.Count);
        foreach (string p in parts)
        {
            if (p == "..")
            {
                if (list.Count > 0)
                {
                    list.RemoveAt(list.Count - 1);
                }
            }
            else if (p != ".")
            {
                list.Add(p);
            }
        }

        return list;
    }

    private static string ModuleName(string file)
    {
        string name = file[(file.LastIndexOf('/') + 1)..];
        int ko = name.IndexOf(".ko", StringComparison.Ordinal);
        return (ko >= 0 ? name[..ko] : name).Replace('-', '_');
    }

    private static string? ReadHostText(HostDirectoryFileSystem host, string path)
    {
        try
        {
            if (!host.Exists(path))
            {
                return null;
            }

            using Stream s = host.OpenFile(path, FileMode.Open, FileAccess.Read);
            return new StreamReader(s, Encoding.UTF8).ReadToEnd();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static void EnsureDirectory(Context c, string path, int mode = 0x1ed)
    {
        string current = string.Empty;
        foreach (string part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            current += "/" + part;
            if (!c.Upper.Exists(current))
            {
                UnixFileMode m = c.View.Exists(current) ? c.View.GetEntry(current).Mode & (UnixFileMode)0xfff : (UnixFileMode)mode;
                c.Upper.CreateDirectory(current, m);
                c.Upper.SetMode(current, m);
                c.Upper.SetTimes(current, c.Time, c.Time);
            }
        }
    }

    private static void CopyHostFile(Context c, string hostPath, string guestPath)
    {
        UnixFileInfo info = c.Host!.GetEntry(hostPath);
        EnsureDirectory(c, guestPath[..guestPath.LastIndexOf('/')]);
        using (Stream source = c.Host.OpenFile(hostPath, FileMode.Open, FileAccess.Read))
        using (Stream target = c.Upper.OpenFile(guestPath, FileMode.CreateNew, FileAccess.Write))
        {
            source.CopyTo(target);
        }

        c.Upper.SetMode(guestPath, info.Mode & (UnixFileMode)0xfff);
        c.Upper.SetTimes(guestPath, c.Time, c.Time);
    }

    private static void WritePlaceholder(Context c, string path, string what, int mode)
    {
        string text = $"#!/bin/sh\n# DISKIMAGE PLACEHOLDER: a stand-in for {what}.\n# It was written by DiskImage when making a base guest; it does not work.\necho 'DISKIMAGE PLACEHOLDER: {path} does not work (see {MarkerPath})' >&2\nexit 127\n";
        WriteFile(c, path, Encoding.UTF8.GetBytes(text), mode);
        c.Placeholders.Add(path);
    }

    private static void WriteText(Context c, string path, string text) => WriteFile(c, path, Encoding.UTF8.GetBytes(text), 0x1a4);

    private static void WriteFile(Context c, string path, byte[] data, int mode)
    {
        EnsureDirectory(c, path[..path.LastIndexOf('/')]);
        using (Stream s = c.Upper.OpenFile(path, FileMode.CreateNew, FileAccess.Write))
        {
            s.Write(data);
        }

        c.Upper.SetMode(path, (UnixFileMode)mode);
        c.Upper.SetTimes(path, c.Time, c.Time);
    }
}
