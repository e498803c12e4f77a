using System.Globalization;
using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.Guests;
using DiskImage.Tests.Cli;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;
using DiskImage.Tests.Partitions;

namespace DiskImage.Tests.Guests;

/// <summary>
/// A whole-disk Debian guest made by sfdisk, mkfs.ext4 -d, mkfs.xfs, mkfs.fat and mkswap (see
/// <see cref="GuestDiskFixture"/>), read through <see cref="Guest"/> and the CLI and judged by blkid (util-linux
/// 2.38), the kernel (offset loop mounts of each file system, mounted as fstab says), debugfs, e2fsck and mtools.
/// </summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "KernelMount")]
public sealed partial class GuestDiskTests : IClassFixture<GuestDiskFixture>
{
    private readonly GuestDiskFixture _disk;

    public GuestDiskTests(GuestDiskFixture disk) => _disk = disk;

    [SkippableFact]
    public void Open_EveryPartition_TypeUuidLabelAsBlkid()
    {
        string image = _disk.Require();
        using Guest guest = Guest.Open(image);
        Assert.Null(guest.FindVolume("/dev/sda"));
        Assert.Equal(6, guest.Volumes.Count);
        foreach (GuestVolume v in guest.Volumes)
        {
            (long offset, long length) = _disk.PartitionExtent(v.PartitionNumber);
            Assert.Equal(length, v.Size);
            ToolResult r = Oracle.Run("blkid", ["-p", "-O", offset.ToString(CultureInfo.InvariantCulture), "-S", length.ToString(CultureInfo.InvariantCulture), "-o", "export", image]);
            var tags = r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
            string expectedType = tags.GetValueOrDefault("TYPE") ?? "unknown";
            Assert.True(expectedType == v.FileSystemTypeName, $"{v.Name}: blkid says {expectedType}, we say {v.FileSystemTypeName}\n{r}");
            Assert.Equal(tags.GetValueOrDefault("UUID"), v.Uuid);
            Assert.Equal(tags.GetValueOrDefault("LABEL"), v.Label);
            (string uuid, string? name) = _disk.PartitionIdentity(v.PartitionNumber);
            Assert.Equal(uuid, v.PartitionUuid, ignoreCase: true);
            Assert.Equal(name, v.PartitionLabel);
        }
    }

    [SkippableFact]
    public void Inspect_DebianGuest_FactsOfTheTree()
    {
        string image = _disk.Require();
        using Guest guest = Guest.Open(image);
        GuestOperatingSystem os = Assert.Single(guest.Inspect());
        string debianVersion = File.ReadAllText(Path.Combine(_disk.Tree, "etc", "debian_version")).Trim();
        Assert.Equal("/dev/sda4", os.Root);
        Assert.Equal("debian", os.Distro);
        Assert.Equal(debianVersion, $"{os.MajorVersion}.{os.MinorVersion}");
        Assert.Equal(debianVersion, os.ProductName);
        Assert.Equal("guesthost", os.Hostname);
        Assert.Equal(RuntimeArchitecture(), os.Architecture);
        Assert.Equal(["/dev/sda4:/", "/dev/sda3:/boot", "/dev/sda2:/boot/efi", "/dev/sda6:/var"], os.Mounts.Select(m => m.ToString()));
        Assert.Equal(["fstab: UUID=00000000-dead-beef-0000-000000000000 (mounted on /srv) matches no device of the guest; left out"], os.Warnings);
    }

    private static string RuntimeArchitecture() => System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "x86_64",
        System.Runtime.InteropServices.Architecture.Arm64 => "aarch64",
        _ => "unknown",
    };

    [SkippableFact]
    public void Filesystems_Cli_SizesAsStatvfsOfTheKernelMounts()
    {
        string image = _disk.Require();
        Ext4KernelMount.Require();
        CliResult r = CliHarness.RunOk("filesystems", "--uuid", image);
        string[] lines = r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(14, lines.Length);
        Assert.StartsWith("Name      Type       VFS     Label MBR Size       Parent   UUID", lines[0], StringComparison.Ordinal);
        using var tmp = new TempDirectory();
        foreach ((int number, string type) in new[] { (GuestDiskFixture.Boot, "ext4"), (GuestDiskFixture.Root, "ext4"), (GuestDiskFixture.Var, "xfs") })
        {
            (long offset, long length) = _disk.PartitionExtent(number);
            using SectorLoopDevice loop = SectorLoopDevice.Attach(image, "-r", "-o", offset.ToString(CultureInfo.InvariantCulture), "--sizelimit", length.ToString(CultureInfo.InvariantCulture));
            using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(loop.Path, tmp.File("m" + number), type, "ro");
            ToolResult df = Oracle.Run("stat", ["-f", "-c", "%b %S", m.MountPoint]);
            string[] f = df.StandardOutput.Trim().Split(' ');
            long size = long.Parse(f[0], CultureInfo.InvariantCulture) * long.Parse(f[1], CultureInfo.InvariantCulture);
            string row = lines.Single(l => l.StartsWith($"/dev/sda{number} filesystem", StringComparison.Ordinal));
            Assert.Contains($" {size} ", row, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public void ComposedView_TreeAndContent_EqualKernelMounts()
    {
        string image = _disk.Require();
        Ext4KernelMount.Require();
        using var tmp = new TempDirectory();
        string mnt = tmp.File("mnt");
        var loops = new List<SectorLoopDevice>();
        var mounts = new Stack<Ext4KernelMount.Mounted>();
        try
        {
            foreach ((int number, string at, string type) in new[] { (GuestDiskFixture.Root, "", "ext4"), (GuestDiskFixture.Boot, "/boot", "ext4"), (GuestDiskFixture.Var, "/var", "xfs") })
            {
                (long offset, long length) = _disk.PartitionExtent(number);
                SectorLoopDevice loop = SectorLoopDevice.Attach(image, "-r", "-o", offset.ToString(CultureInfo.InvariantCulture), "--sizelimit", length.ToString(CultureInfo.InvariantCulture));
                loops.Add(loop);
                mounts.Push(Ext4KernelMount.Mount(loop.Path, mnt + at, type, "ro"));
            }

            // The kernel's tree (the ESP at /boot/efi is left out: this kernel has no vfat; mtools judges it below).
            ToolResult find = Oracle.Run("find", [mnt, "-path", mnt + "/boot/efi", "-prune", "-o", "-printf", "/%P\t%y\t%m\t%U\t%G\t%s\t%l\n"], TimeSpan.FromMinutes(5));
            Assert.True(find.ExitCode == 0, find.ToString());
            var kernel = find.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
            kernel.Sort(StringComparer.Ordinal);

            using Guest guest = Guest.Open(image);
            IFileSystem view = guest.Mount(Assert.Single(guest.Inspect()));
            var ours = new List<string>();
            Walk(view, view.GetEntry("/"), ours);
            ours.Sort(StringComparer.Ordinal);
            Assert.Equal(kernel.Count, ours.Count);
            for (int i = 0; i < kernel.Count; i++)
            {
                Assert.Equal(kernel[i], ours[i]);
            }

            // cat and copy-out through the CLI equal the kernel's bytes (the /boot partition, the XFS /var, /etc on the root).
            CliResult cat = CliHarness.RunOk("cat", image, "/etc/os-release");
            Assert.Equal(File.ReadAllText(Path.Combine(mnt, "etc", "os-release")), cat.StandardOutput);
            string outDir = tmp.File("out");
            Directory.CreateDirectory(outDir);
            CliHarness.RunOk("copy-out", image, "/boot", "/var", "/etc", outDir);
            foreach (string dir in new[] { "boot", "var", "etc" })
            {
                ToolResult diff = Oracle.Run("diff", ["-r", "--no-dereference", "-x", "efi", Path.Combine(mnt, dir), Path.Combine(outDir, dir)], TimeSpan.FromMinutes(5));
                Assert.True(diff.ExitCode == 0, $"{dir}: {diff}");
            }

            // The ESP through the view, judged by mtools.
            (long espOffset, _) = _disk.PartitionExtent(GuestDiskFixture.Esp);
            ToolResult mtype = Oracle.Run("sh", ["-c", $"MTOOLS_SKIP_CHECK=1 mtype -i \"$0@@{espOffset}\" ::/EFI/debian/grub.cfg", image]);
            Assert.True(mtype.ExitCode == 0, mtype.ToString());
            Assert.Equal(mtype.StandardOutput, CliHarness.RunOk("cat", image, "/boot/efi/EFI/debian/grub.cfg").StandardOutput);
        }
        finally
        {
            while (mounts.Count > 0)
            {
                mounts.Pop().Dispose();
            }

            foreach (SectorLoopDevice loop in loops)
            {
                loop.Dispose();
            }
        }
    }

    internal static void Walk(IFileSystem fs, UnixFileInfo entry, List<string> lines)
    {
        var stack = new Stack<UnixFileInfo>();
        stack.Push(entry);
        while (stack.Count > 0)
        {
            UnixFileInfo e = stack.Pop();
            if (e.Path == "/boot/efi")
            {
                continue;
            }

            char type = e.Type switch
            {
                UnixFileType.Directory => 'd',
                UnixFileType.SymbolicLink => 'l',
                UnixFileType.CharacterDevice => 'c',
                UnixFileType.BlockDevice => 'b',
                UnixFileType.Fifo => 'p',
                UnixFileType.Socket => 's',
                _ => 'f',
            };
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{e.Path}\t{type}\t{Convert.ToString((int)e.Mode & 0xFFF, 8)}\t{e.UserId}\t{e.GroupId}\t{e.Size}\t{e.LinkTarget}"));
            if (e.IsDirectory)
            {
                foreach (UnixFileInfo child in fs.EnumerateDirectory(e.Path))
                {
                    stack.Push(child);
                }
            }
        }
    }

    [SkippableFact]
    public void CopyIn_LandsInTheFileSystemThatOwnsThePath()
    {
        _disk.Require();
        Ext4KernelMount.Require();
        using var tmp = new TempDirectory();
        string image = _disk.Copy(tmp);
        string host = tmp.File("added.txt");
        File.WriteAllText(host, "copied in\n");
        CliHarness.RunOk("copy-in", image, host, "/boot");
        CliHarness.RunOk("copy-in", image, host, "/boot/efi");
        CliHarness.RunOk("copy-in", image, host, "/etc");
        CliHarness.RunOk("copy-in", image, host, "/var");

        // /boot/added.txt is on partition 3, /etc/added.txt on partition 4 (whose own /boot stays empty).
        foreach ((int number, string present, string absent) in new[] { (GuestDiskFixture.Boot, "/added.txt", "/etc"), (GuestDiskFixture.Root, "/etc/added.txt", "/boot/added.txt") })
        {
            (long offset, long length) = _disk.PartitionExtent(number);
            using SectorLoopDevice loop = SectorLoopDevice.Attach(image, "-o", offset.ToString(CultureInfo.InvariantCulture), "--sizelimit", length.ToString(CultureInfo.InvariantCulture));
            ToolResult fsck = Oracle.Run("e2fsck", "-fn", loop.Path);
            Assert.True(fsck.ExitCode == 0, fsck.ToString());
            ToolResult cat = Oracle.Run("debugfs", "-R", $"cat {present}", loop.Path);
            Assert.Equal("copied in\n", cat.StandardOutput);
            ToolResult stat = Oracle.Run("debugfs", "-R", $"stat {absent}", loop.Path);
            Assert.Contains("File not found", stat.StandardError, StringComparison.Ordinal);
        }

        // /var/added.txt is on the XFS partition: xfs_repair -n clean, and the kernel reads it there.
        (long varOffset, long varLength) = _disk.PartitionExtent(GuestDiskFixture.Var);
        using (SectorLoopDevice loop = SectorLoopDevice.Attach(image, "-o", varOffset.ToString(CultureInfo.InvariantCulture), "--sizelimit", varLength.ToString(CultureInfo.InvariantCulture)))
        {
            ToolResult repair = Oracle.Run("xfs_repair", "-n", loop.Path);
            Assert.True(repair.ExitCode == 0, repair.ToString());
            using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(loop.Path, tmp.File("varmnt"), "xfs", "ro");
            Assert.Equal("copied in\n", File.ReadAllText(Path.Combine(m.MountPoint, "added.txt")));
        }

        (long espOffset, _) = _disk.PartitionExtent(GuestDiskFixture.Esp);
        ToolResult mtype = Oracle.Run("sh", ["-c", $"MTOOLS_SKIP_CHECK=1 mtype -i \"$0@@{espOffset}\" ::/added.txt", image]);
        Assert.Equal("copied in\n", mtype.StandardOutput);
        ToolResult fsckFat = Oracle.Run("sh", ["-c", $"L=$(losetup -f --show -r -o {espOffset} --sizelimit {32 << 20} \"$0\") && fsck.fat -n $L; r=$?; losetup -d $L; exit $r", image]);
        Assert.True(fsckFat.ExitCode == 0, fsckFat.ToString());

        // --partition N addresses one file system directly.
        Assert.Equal("copied in\n", CliHarness.RunOk("cat", "--partition", "3", image, "/added.txt").StandardOutput);
        CliResult bad = CliHarness.Run("ls", "--partition", "9", image);
        Assert.Contains("no such partition", bad.StandardError, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void GetKernel_HostKernelAndInitrd_VersionFromTheBzImageHeader()
    {
        string image = _disk.Require();
        using var tmp = new TempDirectory();
        CliResult r = CliHarness.RunOk("get-kernel", image, "-o", tmp.Path);
        string kernel = tmp.File("vmlinuz-" + _disk.KernelVersion);
        string initrd = tmp.File("initrd.img-" + _disk.KernelVersion);
        Assert.Equal($"download: /boot/vmlinuz-{_disk.KernelVersion} -> {kernel}\ndownload: /boot/initrd.img-{_disk.KernelVersion} -> {initrd}\n", r.StandardOutput);
        Assert.Equal(File.ReadAllBytes("/boot/vmlinuz-" + _disk.KernelVersion), File.ReadAllBytes(kernel));

        // The initrd as debugfs reads it from the /boot partition.
        Ext4KernelMount.Require();
        (long offset, long length) = _disk.PartitionExtent(GuestDiskFixture.Boot);
        using (SectorLoopDevice loop = SectorLoopDevice.Attach(image, "-r", "-o", offset.ToString(CultureInfo.InvariantCulture), "--sizelimit", length.ToString(CultureInfo.InvariantCulture)))
        {
            string dumped = tmp.File("dumped");
            ToolResult dump = Oracle.Run("debugfs", "-R", $"dump /initrd.img-{_disk.KernelVersion} {dumped}", loop.Path);
            Assert.True(File.Exists(dumped), dump.ToString());
            Assert.Equal(File.ReadAllBytes(dumped), File.ReadAllBytes(initrd));
        }

        using Guest guest = Guest.Open(image);
        GuestKernel k = GuestKernel.Find(guest.Mount(Assert.Single(guest.Inspect())));
        Assert.Equal(_disk.KernelVersion, k.Version);
        Assert.StartsWith(_disk.KernelVersion + " (", k.VersionString, StringComparison.Ordinal);
        if (Oracle.Find("file") is not null)
        {
            Assert.Contains("version " + _disk.KernelVersion, Oracle.Run("file", "-b", kernel).StandardOutput, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public void Inspect_Cli_JsonAndHuman()
    {
        string image = _disk.Require();
        CliResult human = CliHarness.RunOk("inspect", image);
        Assert.Contains("root: /dev/sda4\n", human.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("    /boot/efi /dev/sda2\n", human.StandardOutput, StringComparison.Ordinal);
        CliResult json = CliHarness.RunOk("inspect", "--output=json", image);
        var doc = System.Text.Json.Nodes.JsonNode.Parse(json.StandardOutput)!;
        var os = doc["operatingsystems"]![0]!;
        Assert.Equal("debian", os["distro"]!.GetValue<string>());
        Assert.Equal("guesthost", os["hostname"]!.GetValue<string>());
        Assert.Equal(["/", "/var", "/boot", "/boot/efi"], os["mountpoints"]!.AsArray().Select(m => m!["mountpoint"]!.GetValue<string>()));
    }
}
