using System.Globalization;
using System.Runtime.Versioning;
using System.Text;
using DiskImage.Archives.Cpio;
using DiskImage.FileSystems;
using DiskImage.Tests.Archives;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// The Debian kernel as a judge without loop devices or root: qemu-system-x86_64 (TCG) boots /boot/vmlinuz-* with
/// our ext4 images as read-only virtio disks and a small initramfs (written by our cpio writer) holding a static
/// busybox and the kernel's ext4/virtio modules. Its /init mounts every disk read-only (-t ext4) and prints what
/// the kernel sees: stat lines, sha256 of every file, symlink targets, then the kernel's ext4 messages.
/// </summary>
[SupportedOSPlatform("linux")]
public static class Ext4KernelMountQemu
{
    public const string DoneMarker = "DISKIMAGE-EXT4-QEMU-DONE";

    private static readonly string[] Modules =
    [
        "kernel/lib/crc16.ko", "kernel/crypto/crc32c_generic.ko", "kernel/fs/mbcache.ko", "kernel/fs/jbd2/jbd2.ko", "kernel/fs/ext4/ext4.ko",
        "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
        "kernel/drivers/virtio/virtio_pci_modern_dev.ko", "kernel/drivers/virtio/virtio_pci.ko", "kernel/drivers/block/virtio_blk.ko",
    ];

    /// <summary>Shell lines that print the tree of disk <paramref name="disk"/> (mounted at /mnt/N) as E|, H| and L| lines.</summary>
    public static string TreeScript(int disk) =>
        $"cd /mnt/{disk} && find . -exec stat -c 'E|{disk}|%i|%f|%u|%g|%h|%s|%Y|%t|%T|%n' {{}} +\n" +
        $"cd /mnt/{disk} && find . -type f -exec sha256sum {{}} + | sed 's/^\\([0-9a-f]*\\)  /H|{disk}|\\1|/'\n" +
        $"cd /mnt/{disk} && find . -type l | while IFS= read -r l; do echo \"L|{disk}|$l|$(readlink \"$l\")\"; done\n" +
        "cd /\n";

    /// <summary>
    /// Boots the kernel with <paramref name="images"/> as /dev/vda, /dev/vdb … mounted at /mnt/0, /mnt/1 …, runs
    /// <paramref name="script"/> and returns the console output (CR removed). Skips when qemu, a kernel, its
    /// modules or a static busybox are missing (fails under DISKIMAGE_REQUIRE_ORACLES=1).
    /// </summary>
    public static string Boot(IReadOnlyList<string> images, string script, string workDir, Action<string>? log = null)
    {
        string qemu = Oracle.Require("qemu-system-x86_64");
        string kernel = InitramfsBootTests.RequireFile("/boot", "vmlinuz-*", "a kernel image (apt-get install linux-image-amd64)");
        string release = Path.GetFileName(kernel)["vmlinuz-".Length..];
        string modules = Path.Combine("/lib/modules", release);
        string busybox = Oracle.Find("/bin/busybox") ?? Oracle.Require("busybox");
        foreach (string m in Modules)
        {
            if (!File.Exists(Path.Combine(modules, m)))
            {
                string reason = $"kernel module {m} of {release} is missing (the ext4 boot check loads ext4 and virtio_blk as modules)";
                if (Oracle.Required)
                {
                    Assert.Fail(reason);
                }

                throw new SkipException(reason);
            }
        }

        var tree = new InMemoryTreeSource();
        tree.Add(new CpioTreeItem("bin/busybox", CpioEntryType.RegularFile)
        {
            Mode = (UnixFileMode)0x1ED,
            Length = new FileInfo(busybox).Length,
            OpenData = () => File.OpenRead(busybox),
        });
        foreach (string dir in new[] { "dev", "proc", "sys", "mnt", "lib", "lib/modules" })
        {
            tree.AddDirectory(dir);
        }

        tree.AddSpecial("dev/console", CpioEntryType.CharacterDevice, 5, 1, (UnixFileMode)0x180);
        var load = new StringBuilder();
        foreach (string m in Modules)
        {
            string name = Path.GetFileName(m);
            string full = Path.Combine(modules, m);
            tree.Add(new CpioTreeItem("lib/modules/" + name, CpioEntryType.RegularFile)
            {
                Mode = (UnixFileMode)0x1A4,
                Length = new FileInfo(full).Length,
                OpenData = () => File.OpenRead(full),
            });
            load.Append(CultureInfo.InvariantCulture, $"insmod /lib/modules/{name} 2>&1 | grep -v 'File exists' | sed 's/^/I|{name}|/'\n");
        }

        var mounts = new StringBuilder();
        for (int i = 0; i < images.Count; i++)
        {
            char letter = (char)('a' + i);
            mounts.Append(CultureInfo.InvariantCulture, $"mkdir -p /mnt/{i}; n=0; while [ ! -b /dev/vd{letter} ] && [ $n -lt 50 ]; do sleep 0.2; n=$((n+1)); done\n");
            mounts.Append(CultureInfo.InvariantCulture, $"if mount -t ext4 -o ro /dev/vd{letter} /mnt/{i}; then echo 'M|{i}|mounted'; else echo 'M|{i}|FAILED'; fi\n");
        }

        string init = "#!/bin/busybox sh\n" +
            "/bin/busybox mount -t proc proc /proc\n" +
            "/bin/busybox --install -s /bin\n" +
            "export PATH=/bin\n" +
            "mount -t sysfs sys /sys\n" +
            "mount -t devtmpfs dev /dev\n" +
            load +
            mounts +
            script.Replace("\r", string.Empty, StringComparison.Ordinal) + "\n" +
            "dmesg | grep -i -E 'ext4|jbd2|virtio|vd[a-z]|module' | sed 's/^/K|/'\n" +
            $"echo {DoneMarker}\n" +
            "sleep 1\n" +
            "poweroff -f\n";
        tree.AddFile("init", Encoding.UTF8.GetBytes(init), (UnixFileMode)0x1ED);

        string initrd = Path.Combine(workDir, "ext4-check.initrd");
        using (FileStream fs = File.Create(initrd))
        {
            Initramfs.Write(fs, tree, new InitramfsWriteOptions { Compression = InitramfsCompression.None, Build = new() { Reproducible = true, Uid = 0, Gid = 0 } });
        }

        var args = new List<string>
        {
            "-machine", "q35", "-accel", "tcg", "-m", "512", "-smp", "1", "-nographic", "-no-reboot",
            "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1 quiet loglevel=3",
        };
        foreach (string image in images)
        {
            args.AddRange(["-drive", $"file={image},format=raw,if=virtio,readonly=on"]);
        }

        ToolResult r = Oracle.Run(qemu, args, TimeSpan.FromMinutes(5));
        string console = r.StandardOutput.Replace("\r", string.Empty, StringComparison.Ordinal);
        log?.Invoke($"qemu exited {r.ExitCode}; console {console.Length} characters");
        Assert.True(console.Contains(DoneMarker, StringComparison.Ordinal), $"The boot check did not finish:\n{Tail(console)}\n{r.StandardError}");
        for (int i = 0; i < images.Count; i++)
        {
            Assert.True(console.Contains($"M|{i}|mounted", StringComparison.Ordinal), $"The kernel did not mount disk {i} ({images[i]}):\n{Tail(console)}");
        }

        return console;
    }

    /// <summary>Parses the E|/H|/L| lines of one disk into a snapshot (no xattrs; mtime in whole seconds).</summary>
    public static RandomTreeSnapshot ParseTree(string console, int disk)
    {
        var snap = new RandomTreeSnapshot();
        string e = $"E|{disk}|", h = $"H|{disk}|", l = $"L|{disk}|";
        foreach (string line in console.Split('\n'))
        {
            if (line.StartsWith(e, StringComparison.Ordinal))
            {
                string[] f = line[e.Length..].Split('|', 10);
                int mode = Convert.ToInt32(f[1], 16);
                string path = Path(f[9]);
                snap.Entries[path] = new RandomTreeSnapshot.Entry
                {
                    Path = path,
                    Inode = long.Parse(f[0], CultureInfo.InvariantCulture),
                    Type = (UnixFileType)(mode & 0xF000),
                    Mode = mode & 0xFFF,
                    UserId = uint.Parse(f[2], CultureInfo.InvariantCulture),
                    GroupId = uint.Parse(f[3], CultureInfo.InvariantCulture),
                    LinkCount = int.Parse(f[4], CultureInfo.InvariantCulture),
                    Size = long.Parse(f[5], CultureInfo.InvariantCulture),
                    ModificationTime = new UnixTime(long.Parse(f[6], CultureInfo.InvariantCulture), 0),
                    DeviceMajor = Convert.ToInt32(f[7], 16),
                    DeviceMinor = Convert.ToInt32(f[8], 16),
                };
            }
        }

        foreach (string line in console.Split('\n'))
        {
            if (line.StartsWith(h, StringComparison.Ordinal))
            {
                string rest = line[h.Length..];
                int bar = rest.IndexOf('|', StringComparison.Ordinal);
                if (snap.Entries.TryGetValue(Path(rest[(bar + 1)..]), out RandomTreeSnapshot.Entry? entry))
                {
                    entry.ContentHash = rest[..bar].ToUpperInvariant();
                }
            }
            else if (line.StartsWith(l, StringComparison.Ordinal))
            {
                string rest = line[l.Length..];
                int bar = rest.IndexOf('|', StringComparison.Ordinal);
                if (snap.Entries.TryGetValue(Path(rest[..bar]), out RandomTreeSnapshot.Entry? entry))
                {
                    entry.LinkTarget = rest[(bar + 1)..];
                }
            }
        }

        return snap;

        static string Path(string dotted) => dotted == "." ? "/" : dotted[1..];
    }

    /// <summary>The kernel's ext4/jbd2 messages (K| lines).</summary>
    public static string KernelMessages(string console) =>
        string.Join("\n", console.Split('\n').Where(x => x.StartsWith("K|", StringComparison.Ordinal)));

    private static string Tail(string s) => s.Length > 4000 ? s[^4000..] : s;
}
