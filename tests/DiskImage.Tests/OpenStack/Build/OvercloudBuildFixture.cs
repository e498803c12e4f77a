using System.Security.Cryptography;
using System.Text;
using DiskImage.Conversion;
using DiskImage.Customization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;
using DiskImage.FileSystems.Xfs;
using DiskImage.Formats;
using DiskImage.IO;
using DiskImage.OpenStack.Build;
using DiskImage.Partitions;
using DiskImage.Partitions.Mbr;
using DiskImage.Sysprep;

namespace DiskImage.Tests.OpenStack.Build;

/// <summary>
/// A small generated Debian-like guest (MBR disk, one XFS root partition with /boot, a symlink, a hard link, a
/// device, an xattr, logs and seeds that sysprep removes), written by our own writers as qcow2, and the tree the
/// build is expected to produce from it (the same customizations and sysprep applied to an in-memory copy).
/// </summary>
internal static class OvercloudBuildFixture
{
    public const string KernelVersion = "6.1.0-99-amd64";

    public const string Recipe = """
        version: 1
        customize:
          - hostname: overcloud
          - write: "/etc/motd:built by diskimage"
          - mkdir: /opt/marker
        sysprep:
          operations: defaults,random-seed
          machine-id: uninitialized
        images:
          - name: overcloud-full
            type: partition
            file-system: xfs
            label: img-rootfs
            format: qcow2
            compress: true
          - name: ironic-python-agent
            type: ramdisk
            ramdisk:
              binaries: [sh]
        """;

    /// <summary>The guest tree, generated (the same each call).</summary>
    public static InMemoryFileSystem Tree()
    {
        var fs = new InMemoryFileSystem();
        foreach (string d in new[] { "/etc", "/usr", "/usr/bin", "/usr/lib", "/boot", "/var", "/var/log", "/var/lib", "/var/lib/systemd", "/dev", "/root", "/tmp", "/home", "/home/user" })
        {
            fs.CreateDirectory(d);
        }

        fs.CreateSymbolicLink("/bin", "usr/bin");
        Write(fs, "/etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n");
        Write(fs, "/etc/debian_version", "12.5\n");
        Write(fs, "/etc/hostname", "base-guest\n");
        Write(fs, "/etc/hosts", "127.0.0.1 localhost\n127.0.1.1 base-guest\n");
        Write(fs, "/etc/fstab", "# static file system information\nUUID=6a1e0a3c-1b9b-4d0e-9a51-2d4c7d2f0e11 / xfs defaults 0 1\ntmpfs /tmp tmpfs defaults 0 0\n");
        Write(fs, "/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
        Write(fs, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000::/home/user:/bin/sh\n");
        Write(fs, "/etc/group", "root:x:0:\nuser:x:1000:\n");
        Write(fs, "/etc/shadow", "root:*:19000:0:99999:7:::\nuser:*:19000:0:99999:7:::\n");
        var rng = new Random(1311);
        byte[] sh = new byte[70000];
        rng.NextBytes(sh);
        WriteBytes(fs, "/usr/bin/sh", sh, 0x1ed);
        fs.CreateHardLink("/usr/bin/dash", "/usr/bin/sh");
        byte[] kernel = new byte[300000];
        rng.NextBytes(kernel);
        WriteBytes(fs, "/boot/vmlinuz-" + KernelVersion, kernel, 0x1a4);
        byte[] initrd = new byte[200000];
        rng.NextBytes(initrd);
        WriteBytes(fs, "/boot/initrd.img-" + KernelVersion, initrd, 0x1a4);
        Write(fs, "/var/log/messages", "old log line\n");
        WriteBytes(fs, "/var/lib/systemd/random-seed", new byte[512], 0x180);
        Write(fs, "/home/user/.bash_history", "ls\n");
        fs.CreateDevice("/dev/null", UnixFileType.CharacterDevice, 1, 3, (UnixFileMode)0x1b6);
        fs.SetXattr("/usr/bin/sh", "user.origin", "generated"u8);
        fs.SetOwner("/home/user", 1000, 1000);
        var t = new UnixTime(1_600_000_000, 0);
        foreach (string p in Paths(fs, "/"))
        {
            if (fs.GetEntry(p).Type != UnixFileType.SymbolicLink)
            {
                fs.SetTimes(p, t, t);
            }
        }

        return fs;
    }

    /// <summary>Writes the guest as an MBR disk with one XFS partition (qcow2 at <paramref name="path"/>).</summary>
    public static void WriteBaseImage(string path, IFileSystem? source = null)
    {
        using IFileSystem tree = source ?? Tree();
        var options = new XfsBuildOptions { ExtraPercent = source is null ? 50 : 10, Format = new XfsFormatOptions { Uuid = Guid.Parse("6a1e0a3c-1b9b-4d0e-9a51-2d4c7d2f0e11"), Label = "base", Timestamp = DateTimeOffset.FromUnixTimeSeconds(1_600_000_000) } };
        long fsSize = XfsFileSystem.ComputeBuildSize(tree, options);
        string raw = path + ".raw";
        using (var disk = FileBlockDevice.Create(raw, (1L << 20) + fsSize + (1L << 20)))
        {
            var table = MbrPartitionTable.Create(disk);
            table.Add(new PartitionAddOptions { Size = fsSize, Bootable = true });
            using BlockDevice part = table.OpenPartition(1, writable: true);
            XfsFileSystem.Build(part, tree, options);
        }

        using (var rawDevice = FileBlockDevice.Open(raw))
        {
            ImageConverter.Convert(rawDevice, path, new ConvertOptions { TargetFormat = DiskImageFormat.Qcow2 });
        }

        File.Delete(raw);
    }

    /// <summary>The tree a build of <see cref="Recipe"/> should put in the partition image (fstab aside).</summary>
    public static InMemoryFileSystem ExpectedTree(OvercloudRecipe recipe)
    {
        InMemoryFileSystem fs = Tree();
        Customizer.Apply(fs, CustomizeScript.Parse(recipe.Customize), new CustomizeOptions { RefreshRandomSeedAndMachineId = false });
        SysprepRunner.Run(fs, new SysprepOptions { Operations = SysprepSelection.ParseOperations(recipe.SysprepOperations!), MachineId = recipe.MachineId });
        return fs;
    }

    /// <summary>One line per entry: path, type, mode, owner, size, link target, device, content hash, xattrs (times left out).</summary>
    public static List<string> Listing(IFileSystem fs, params string[] except)
    {
        var lines = new List<string>();
        foreach (string p in Paths(fs, "/"))
        {
            if (Array.IndexOf(except, p) >= 0)
            {
                continue;
            }

            UnixFileInfo e = fs.GetEntry(p);
            var b = new StringBuilder();
            b.Append(p).Append(' ').Append(e.Type).Append(' ').Append(Convert.ToString((int)e.Mode & 0xfff, 8)).Append(' ').Append(e.UserId).Append(':').Append(e.GroupId);
            if (e.Type == UnixFileType.RegularFile)
            {
                using Stream s = fs.OpenFile(p, FileMode.Open, FileAccess.Read);
                b.Append(' ').Append(e.Size).Append(' ').Append(Convert.ToHexStringLower(SHA256.HashData(s))).Append(" links=").Append(e.LinkCount);
            }
            else if (e.Type == UnixFileType.SymbolicLink)
            {
                b.Append(" -> ").Append(e.LinkTarget);
            }
            else if (e.Type is UnixFileType.CharacterDevice or UnixFileType.BlockDevice)
            {
                b.Append(' ').Append(e.DeviceMajor).Append(',').Append(e.DeviceMinor);
            }

            foreach (KeyValuePair<string, byte[]> x in fs.GetXattrs(p).OrderBy(x => x.Key, StringComparer.Ordinal))
            {
                b.Append(' ').Append(x.Key).Append('=').Append(Convert.ToHexStringLower(x.Value));
            }

            lines.Add(b.ToString());
        }

        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    public static string Sha256(string path)
    {
        using FileStream f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    public static string ReadText(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        return new StreamReader(s).ReadToEnd();
    }

    private static IEnumerable<string> Paths(IFileSystem fs, string dir)
    {
        foreach (UnixFileInfo e in fs.EnumerateDirectory(dir).ToList())
        {
            if (e.Name is "." or "..")
            {
                continue;
            }

            string p = dir == "/" ? "/" + e.Name : dir + "/" + e.Name;
            yield return p;
            if (e.Type == UnixFileType.Directory)
            {
                foreach (string c in Paths(fs, p))
                {
                    yield return c;
                }
            }
        }
    }

    private static void Write(IFileSystem fs, string path, string text) => WriteBytes(fs, path, Encoding.UTF8.GetBytes(text), 0x1a4);

    private static void WriteBytes(IFileSystem fs, string path, byte[] data, int mode)
    {
        using (Stream s = fs.OpenFile(path, FileMode.CreateNew, FileAccess.Write))
        {
            s.Write(data);
        }

        fs.SetMode(path, (UnixFileMode)mode);
    }
}
