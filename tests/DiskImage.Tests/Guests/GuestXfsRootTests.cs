using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.Guests;
using DiskImage.Tests.Cli;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;
using DiskImage.Tests.Partitions;

namespace DiskImage.Tests.Guests;

/// <summary>
/// The rhel-guest-image shape: an MBR disk (sfdisk, label-id fixed) whose only partition is an XFS root (mkfs.xfs,
/// filled with the debootstrap tree through a kernel loop mount). Inspection and the tree are judged by the tree's
/// own files and by the kernel's mount of the same partition.
/// </summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "KernelMount")]
public sealed class GuestXfsRootTests
{
    private const string Script = """
        set -eu
        T="$1"; D="$2"
        cd "$D"
        truncate -s 640M disk.img
        printf 'label: dos\nlabel-id: 0x1234abcd\nstart=2048, type=83, bootable\n' | sfdisk -q --no-reread --no-tell-kernel disk.img
        L=$(losetup -f --show -o 1048576 disk.img)
        mkdir -p mnt
        trap 'umount mnt 2>/dev/null || true; losetup -d $L 2>/dev/null || true' EXIT
        mkfs.xfs -q -f -L xroot "$L"
        mount -t xfs "$L" mnt
        cp -a "$T/." mnt/
        umount mnt; losetup -d "$L"; trap - EXIT
        rmdir mnt
        """;

    [SkippableFact]
    public void XfsRootOnMbr_InspectedAndListedAsTheKernelSeesIt()
    {
        Ext4KernelMount.Require();
        string tree = Fixtures.RequireDebootstrapTree();
        Oracle.Require("mkfs.xfs");
        Oracle.Require("sfdisk");
        using var tmp = new TempDirectory();
        ToolResult build = Oracle.Run("bash", ["-c", Script.Replace("\r\n", "\n", StringComparison.Ordinal), "xfs-root", tree, tmp.Path], TimeSpan.FromMinutes(10));
        Assert.True(build.ExitCode == 0, build.ToString());
        string image = tmp.File("disk.img");

        using (Guest guest = Guest.Open(image))
        {
            GuestVolume root = Assert.Single(guest.Volumes);
            Assert.Equal(("/dev/sda1", "xfs", "xroot", "1234abcd-01", "83"), (root.Name, root.FileSystemTypeName, root.Label, root.PartitionUuid, root.MbrType));
            GuestOperatingSystem os = Assert.Single(guest.Inspect());
            Assert.Equal("/dev/sda1", os.Root);
            Assert.Equal("debian", os.Distro);
            Assert.Equal(File.ReadAllText(Path.Combine(tree, "etc", "debian_version")).Trim(), $"{os.MajorVersion}.{os.MinorVersion}");
            Assert.Equal(File.ReadAllText(Path.Combine(tree, "etc", "hostname")).Trim(), os.Hostname);
            Assert.Equal(["/dev/sda1:/"], os.Mounts.Select(m => m.ToString()));

            using SectorLoopDevice loop = SectorLoopDevice.Attach(image, "-r", "-o", "1048576");
            using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(loop.Path, tmp.File("kmnt"), "xfs", "ro");
            ToolResult find = Oracle.Run("find", [m.MountPoint, "-printf", "/%P\t%y\t%m\t%U\t%G\t%s\t%l\n"], TimeSpan.FromMinutes(5));
            var kernel = find.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToList();
            var ours = new List<string>();
            IFileSystem view = guest.Mount(os);
            GuestDiskTests.Walk(view, view.GetEntry("/"), ours);
            ours.Sort(StringComparer.Ordinal);
            Assert.Equal(kernel, ours);
            Assert.Equal(File.ReadAllText(Path.Combine(m.MountPoint, "etc", "os-release")), CliHarness.RunOk("cat", image, "/etc/os-release").StandardOutput);
        }

        CliResult fs = CliHarness.RunOk("filesystems", image);
        string[] row = fs.StandardOutput.Split('\n').Single(l => l.StartsWith("/dev/sda1 partition", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["/dev/sda1", "partition", "-", "-", "83", (new FileInfo(image).Length - 1048576).ToString(System.Globalization.CultureInfo.InvariantCulture), "/dev/sda"], row);

        // A writable guest writes into the XFS root: xfs_repair finds it clean and the kernel reads the new file.
        File.WriteAllText(tmp.File("motd.injected"), "hello xfs guest\n");
        CliHarness.RunOk("copy-in", image, tmp.File("motd.injected"), "/etc");
        using SectorLoopDevice rw = SectorLoopDevice.Attach(image, "-o", "1048576");
        ToolResult repair = Oracle.Run("xfs_repair", "-n", rw.Path);
        Assert.True(repair.ExitCode == 0, repair.ToString());
        using Ext4KernelMount.Mounted after = Ext4KernelMount.Mount(rw.Path, tmp.File("kmnt2"), "xfs", "ro");
        Assert.Equal("hello xfs guest\n", File.ReadAllText(Path.Combine(after.MountPoint, "etc", "motd.injected")));
        Assert.Equal(File.ReadAllText(Path.Combine(tree, "etc", "os-release")), File.ReadAllText(Path.Combine(after.MountPoint, "etc", "os-release")));
    }
}
