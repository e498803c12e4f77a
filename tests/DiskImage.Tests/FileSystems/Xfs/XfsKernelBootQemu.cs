using System.Globalization;
using System.Runtime.Versioning;
using System.Text;
using DiskImage.Archives.Cpio;
using DiskImage.FileSystems;
using DiskImage.Tests.Archives;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// The Debian kernel as the judge of XFS images, without loop devices or root: qemu-system-x86_64 (TCG) boots
/// /boot/vmlinuz-* once with every image as a read-only virtio disk (/dev/vda, /dev/vdb …) and one writable result
/// disk last. The initramfs (written by our cpio writer) holds a static busybox, the kernel's xfs module with its
/// crc32c dependencies and the virtio modules, and the host's <c>getfattr</c> with its loader and libc. Its /init
/// mounts every disk with <c>-o ro,nouuid</c> (tests make several images of one UUID; no <c>norecovery</c>: a log that needs replay fails the mount) and
/// writes what the kernel sees — stat lines with nanosecond mtimes, sha256 of every file, symlink targets, every
/// xattr in hex — to the result disk, which the host reads back.
/// </summary>
[SupportedOSPlatform("linux")]
public static class XfsKernelBootQemu
{
    public const string EndMarker = "DISKIMAGE-XFS-QEMU-END";

    private const long ResultDiskSize = 128L << 20;

    private static readonly string[] Modules =
    [
        "kernel/crypto/crc32c_generic.ko", "kernel/lib/libcrc32c.ko", "kernel/fs/xfs/xfs.ko",
        "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
        "kernel/drivers/virtio/virtio_pci_modern_dev.ko", "kernel/drivers/virtio/virtio_pci.ko", "kernel/drivers/block/virtio_blk.ko",
    ];

    /// <summary>What one boot produced.</summary>
    public sealed class Result
    {
        public required string Output { get; init; }

        public required string Console { get; init; }

        /// <summary>Whether xattrs were dumped (the host has getfattr).</summary>
        public required bool Xattrs { get; init; }

        /// <summary>Whether the kernel mounted disk <paramref name="disk"/>.</summary>
        public bool Mounted(int disk) => Output.Contains($"M|{disk}|mounted\n", StringComparison.Ordinal);

        /// <summary>The lines the guest wrote with the given prefix (e.g. <c>C|2|</c>), prefix removed.</summary>
        public List<string> Lines(string prefix)
        {
            var lines = new List<string>();
            foreach (string line in Output.Split('\n'))
            {
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    lines.Add(line[prefix.Length..]);
                }
            }

            return lines;
        }

        /// <summary>The kernel's messages about XFS, virtio and modules (K| lines).</summary>
        public string KernelMessages => string.Join("\n", Lines("K|"));
    }

    /// <summary>Shell lines that write the whole tree of disk <paramref name="disk"/> (mounted at /mnt/N) as E|, H|, L| and X| lines.</summary>
    public static string TreeScript(int disk, bool xattrs)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"echo \"T|{disk} stat|$(cat /proc/uptime)\" >> /out\n");
        sb.Append(CultureInfo.InvariantCulture, $"cd /mnt/{disk} && find . -exec stat -c 'E|{disk}|%i|%f|%u|%g|%h|%s|%Y|%y|%t|%T|%n' {{}} + >> /out\n");
        sb.Append(CultureInfo.InvariantCulture, $"echo \"T|{disk} hash|$(cat /proc/uptime)\" >> /out\n");
        // One path per inode (hard links share the hash), NUL-separated so names with spaces pass xargs.
        sb.Append(CultureInfo.InvariantCulture, $"cd /mnt/{disk} && find . -type f -exec stat -c '%i %n' {{}} + | awk '!s[$1]++ {{ sub(/^[0-9]+ /, \"\"); print }}' | tr '\\n' '\\000' | xargs -0 -r sha256sum | sed 's/^\\([0-9a-f]*\\)  /H|{disk}|\\1|/' >> /out\n");
        sb.Append(CultureInfo.InvariantCulture, $"cd /mnt/{disk} && find . -type l | while IFS= read -r l; do echo \"L|{disk}|$l|$(readlink \"$l\")\"; done >> /out\n");
        if (xattrs)
        {
            sb.Append(CultureInfo.InvariantCulture, $"echo \"T|{disk} xattr|$(cat /proc/uptime)\" >> /out\n");
            sb.Append(CultureInfo.InvariantCulture, $"cd /mnt/{disk} && /usr/bin/getfattr -h -R -d -m - -e hex . 2>&1 | sed 's/^/X|{disk}|/' >> /out\n");
        }

        sb.Append("cd /\n");
        return sb.ToString();
    }

    /// <summary>
    /// Finds qemu-system-x86_64, the newest /boot/vmlinuz-*, its xfs and virtio modules and a static busybox; skips
    /// the calling test when one is missing (fails under DISKIMAGE_REQUIRE_ORACLES=1).
    /// </summary>
    public static (string Qemu, string Kernel, string Modules, string Busybox) Require()
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
                string reason = $"kernel module {m} of {release} is missing (the XFS boot check loads xfs and virtio_blk as modules)";
                if (Oracle.Required)
                {
                    Assert.Fail(reason);
                }

                throw new SkipException(reason);
            }
        }

        return (qemu, kernel, modules, busybox);
    }

    /// <summary>Whether <c>getfattr</c> can be carried into the guest (it then dumps xattrs).</summary>
    public static bool HasGetfattr => Oracle.Find("getfattr") is not null && Oracle.Find("ldd") is not null;

    /// <summary>
    /// Boots the kernel with <paramref name="images"/> as /dev/vda, /dev/vdb … mounted read-only at /mnt/0, /mnt/1 …,
    /// runs <paramref name="script"/> (which appends to /out) and returns what the guest wrote. Skips when qemu, a
    /// kernel, its modules or a static busybox are missing (fails under DISKIMAGE_REQUIRE_ORACLES=1). Retries the
    /// boot once when the result disk comes back without its end marker.
    /// </summary>
    public static Result Boot(IReadOnlyList<string> images, string script, bool xattrs, string workDir, Action<string>? log = null)
    {
        (string qemu, string kernel, string modules, string busybox) = Require();
        if (images.Count > 25)
        {
            throw new ArgumentOutOfRangeException(nameof(images), "At most 25 disks (vda..vdy) and the result disk.");
        }

        string initrd = Path.Combine(workDir, "xfs-check.initrd");
        WriteInitramfs(initrd, busybox, modules, images.Count, script, xattrs);
        string resultDisk = Path.Combine(workDir, "xfs-check.result");
        var disks = new List<(string Path, bool ReadOnly)>();
        foreach (string image in images)
        {
            disks.Add((image, true));
        }

        disks.Add((resultDisk, false));
        string output = string.Empty;
        string console = QemuBoot.RunDisks(qemu, kernel, initrd, "quiet loglevel=3", disks, TimeSpan.FromMinutes(5), () =>
        {
            output = ReadResult(resultDisk);
            return output.Contains(EndMarker, StringComparison.Ordinal);
        }, () => CreateResultDisk(resultDisk), log);
        Assert.True(output.Contains(EndMarker, StringComparison.Ordinal), $"The XFS boot check did not finish:\n{QemuBoot.Tail(console)}\n{QemuBoot.Tail(output)}");
        return new Result { Output = output, Console = console, Xattrs = xattrs };
    }

    private static void CreateResultDisk(string path)
    {
        using var f = new FileStream(path, FileMode.Create);
        f.SetLength(ResultDiskSize);
    }

    private static string ReadResult(string path)
    {
        if (!File.Exists(path))
        {
            return string.Empty;
        }

        byte[] all = File.ReadAllBytes(path);
        int end = Array.IndexOf(all, (byte)0);
        return Encoding.UTF8.GetString(all, 0, end < 0 ? all.Length : end);
    }

    private static void WriteInitramfs(string initrd, string busybox, string modules, int diskCount, string script, bool xattrs)
    {
        var tree = new InMemoryTreeSource();
        var dirs = new HashSet<string>(StringComparer.Ordinal);
        void Dirs(string path)
        {
            string? parent = Path.GetDirectoryName(path);
            if (!string.IsNullOrEmpty(parent) && dirs.Add(parent))
            {
                Dirs(parent);
                tree.AddDirectory(parent);
            }
        }

        void HostFile(string path, string host, int mode)
        {
            Dirs(path);
            host = new FileInfo(host).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? host;
            tree.Add(new CpioTreeItem(path, CpioEntryType.RegularFile)
            {
                Mode = (UnixFileMode)mode,
                Length = new FileInfo(host).Length,
                OpenData = () => File.OpenRead(host),
            });
        }

        HostFile("bin/busybox", busybox, 0x1ED);
        foreach (string dir in new[] { "dev", "proc", "sys", "mnt", "tmp" })
        {
            dirs.Add(dir);
            tree.AddDirectory(dir);
        }

        tree.AddSpecial("dev/console", CpioEntryType.CharacterDevice, 5, 1, (UnixFileMode)0x180);
        var load = new StringBuilder();
        foreach (string m in Modules)
        {
            string name = Path.GetFileName(m);
            HostFile("lib/modules/" + name, Path.Combine(modules, m), 0x1A4);
            load.Append(CultureInfo.InvariantCulture, $"insmod /lib/modules/{name} 2>&1 | grep -v 'File exists' | sed 's/^/I|{name}|/' >> /out\n");
        }

        if (xattrs)
        {
            string getfattr = Oracle.Find("getfattr")!;
            HostFile("usr/bin/getfattr", getfattr, 0x1ED);
            foreach (string lib in SharedLibraries(getfattr))
            {
                HostFile(lib.TrimStart('/'), lib, 0x1ED);
            }
        }

        var mounts = new StringBuilder();
        for (int i = 0; i < diskCount; i++)
        {
            char letter = (char)('a' + i);
            mounts.Append(CultureInfo.InvariantCulture, $"mkdir -p /mnt/{i}; n=0; while [ ! -b /dev/vd{letter} ] && [ $n -lt 50 ]; do sleep 0.2; n=$((n+1)); done\n");
            mounts.Append(CultureInfo.InvariantCulture, $"if mount -t xfs -o ro,nouuid /dev/vd{letter} /mnt/{i} 2>>/out; then echo 'M|{i}|mounted' >> /out; else echo 'M|{i}|FAILED' >> /out; fi\n");
        }

        char result = (char)('a' + diskCount);
        string init = "#!/bin/busybox sh\n" +
            "/bin/busybox mount -t proc proc /proc\n" +
            "/bin/busybox --install -s /bin\n" +
            "export PATH=/bin\n" +
            "mount -t sysfs sys /sys\n" +
            "mount -t devtmpfs dev /dev\n" +
            ": > /out\n" +
            load +
            mounts +
            "echo \"T|mounted|$(cat /proc/uptime)\" >> /out\n" +
            script.Replace("\r", string.Empty, StringComparison.Ordinal) + "\n" +
            "echo \"T|end|$(cat /proc/uptime)\" >> /out\n" +
            "dmesg | grep -i -E 'xfs|virtio|vd[a-z]|module' | sed 's/^/K|/' >> /out\n" +
            $"echo {EndMarker} >> /out\n" +
            $"n=0; while [ ! -b /dev/vd{result} ] && [ $n -lt 50 ]; do sleep 0.2; n=$((n+1)); done\n" +
            $"dd if=/out of=/dev/vd{result} bs=1M conv=fsync 2>/dev/null\n" +
            "sync\n" +
            $"echo \"{EndMarker} $(cat /proc/uptime)\"\n" +
            "poweroff -f\n";
        tree.AddFile("init", Encoding.UTF8.GetBytes(init), (UnixFileMode)0x1ED);
        using FileStream fs = File.Create(initrd);
        Initramfs.Write(fs, tree, new InitramfsWriteOptions { Compression = InitramfsCompression.None, Build = new() { Reproducible = true, Uid = 0, Gid = 0 } });
    }

    /// <summary>The loader and libraries <paramref name="binary"/> needs, as <c>ldd</c> lists them (absolute paths).</summary>
    private static List<string> SharedLibraries(string binary)
    {
        ToolResult r = Oracle.Run("ldd", [binary], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
        var libs = new List<string>();
        foreach (string raw in r.StandardOutput.Split('\n'))
        {
            string line = raw.Trim();
            int arrow = line.IndexOf("=> ", StringComparison.Ordinal);
            string path = arrow >= 0 ? line[(arrow + 3)..] : line;
            int paren = path.IndexOf(" (", StringComparison.Ordinal);
            path = paren >= 0 ? path[..paren] : path;
            if (path.StartsWith('/') && File.Exists(path))
            {
                libs.Add(path);
            }
        }

        return libs;
    }

    /// <summary>Parses the E|/H|/L|/X| lines of one disk into a snapshot (mtime with nanoseconds).</summary>
    public static RandomTreeSnapshot ParseTree(Result result, int disk, List<string> problems)
    {
        var snap = new RandomTreeSnapshot();
        foreach (string line in result.Lines($"E|{disk}|"))
        {
            string[] f = line.Split('|', 11);
            if (f.Length != 11)
            {
                problems.Add("unparsed stat line: " + line);
                continue;
            }

            int mode = Convert.ToInt32(f[1], 16);
            string path = Relative(f[10]);
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
                ModificationTime = ParseTime(f[6], f[7]),
                DeviceMajor = Convert.ToInt32(f[8], 16),
                DeviceMinor = Convert.ToInt32(f[9], 16),
            };
        }

        var hashes = new Dictionary<long, string>();
        foreach (string line in result.Lines($"H|{disk}|"))
        {
            int bar = line.IndexOf('|', StringComparison.Ordinal);
            if (bar < 0 || !snap.Entries.TryGetValue(Relative(line[(bar + 1)..]), out RandomTreeSnapshot.Entry? entry))
            {
                problems.Add("hash of an unlisted path: " + line);
                continue;
            }

            hashes[entry.Inode] = line[..bar].ToUpperInvariant();
        }

        foreach (RandomTreeSnapshot.Entry entry in snap.Entries.Values)
        {
            if (entry.Type == UnixFileType.RegularFile && hashes.TryGetValue(entry.Inode, out string? hash))
            {
                entry.ContentHash = hash;
            }
        }

        foreach (string line in result.Lines($"L|{disk}|"))
        {
            // Names hold no '|' (the generator's alphabet); a target may, so split at the first one.
            int bar = line.IndexOf('|', StringComparison.Ordinal);
            if (bar < 0 || !snap.Entries.TryGetValue(Relative(line[..bar]), out RandomTreeSnapshot.Entry? entry))
            {
                problems.Add("link target of an unlisted path: " + line);
                continue;
            }

            entry.LinkTarget = line[(bar + 1)..];
        }

        if (result.Xattrs)
        {
            ParseXattrs(result.Lines($"X|{disk}|"), snap, problems);
        }

        return snap;
    }

    /// <summary>Parses <c>getfattr -d -m - -e hex</c> output (file names with octal escapes) into the snapshot's xattrs.</summary>
    internal static void ParseXattrs(List<string> lines, RandomTreeSnapshot snap, List<string> problems)
    {
        RandomTreeSnapshot.Entry? current = null;
        foreach (string line in lines)
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith("# file: ", StringComparison.Ordinal))
            {
                string path = Relative(Unescape(line["# file: ".Length..]));
                if (!snap.Entries.TryGetValue(path, out current))
                {
                    problems.Add("xattrs of an unlisted path: " + path);
                }

                continue;
            }

            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (current is null || eq < 0 || !line.AsSpan(eq + 1).StartsWith("0x"))
            {
                problems.Add("getfattr: " + line);
                continue;
            }

            current.Xattrs[Unescape(line[..eq])] = Convert.FromHexString(line.AsSpan(eq + 3));
        }
    }

    /// <summary>Undoes getfattr's quoting: <c>\ooo</c> octal bytes and <c>\\</c>; the bytes are UTF-8.</summary>
    internal static string Unescape(string quoted)
    {
        if (!quoted.Contains('\\', StringComparison.Ordinal))
        {
            return quoted;
        }

        var bytes = new List<byte>(quoted.Length);
        byte[] utf8 = Encoding.UTF8.GetBytes(quoted);
        for (int i = 0; i < utf8.Length; i++)
        {
            if (utf8[i] == '\\' && i + 1 < utf8.Length && utf8[i + 1] == '\\')
            {
                bytes.Add((byte)'\\');
                i++;
            }
            else if (utf8[i] == '\\' && i + 3 < utf8.Length && IsOctal(utf8[i + 1]) && IsOctal(utf8[i + 2]) && IsOctal(utf8[i + 3]))
            {
                bytes.Add((byte)(((utf8[i + 1] - '0') << 6) | ((utf8[i + 2] - '0') << 3) | (utf8[i + 3] - '0')));
                i += 3;
            }
            else
            {
                bytes.Add(utf8[i]);
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray());

        static bool IsOctal(byte b) => b is >= (byte)'0' and <= (byte)'7';
    }

    /// <summary>
    /// busybox stat's <c>%Y</c> (whole seconds, floored: -2 for -1.25) and the fraction of <c>%y</c>
    /// ("1969-12-31 23:59:58.750000000 +0000") give the time as seconds plus non-negative nanoseconds.
    /// </summary>
    internal static UnixTime ParseTime(string seconds, string human)
    {
        int dot = human.IndexOf('.', StringComparison.Ordinal);
        int ns = 0;
        if (dot >= 0)
        {
            int end = human.IndexOf(' ', dot);
            ns = int.Parse(human.AsSpan(dot + 1, (end < 0 ? human.Length : end) - dot - 1), NumberStyles.None, CultureInfo.InvariantCulture);
        }

        return new UnixTime(long.Parse(seconds, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture), ns);
    }

    private static string Relative(string dotted) => dotted is "." or "./" ? "/" : dotted.StartsWith("./", StringComparison.Ordinal) ? dotted[1..] : "/" + dotted;
}
