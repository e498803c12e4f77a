using System.Globalization;
using DiskImage.Tests.Cli;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;
using DiskImage.Tests.Partitions;

namespace DiskImage.Tests.Guests;

/// <content>
/// The CLI's <c>-m DEVICE[:MOUNTPOINT]</c> (explicit mounts instead of inspection) and <c>extract-fs</c> on the
/// fixture disk, judged by the kernel (offset loop mounts), dd/cmp, e2fsck, xfs_repair, fsck.fat and qemu-img.
/// </content>
public sealed partial class GuestDiskTests
{
    [SkippableFact]
    public void MountOption_XfsAtRoot_ListsAsTheKernelMountsIt()
    {
        string image = _disk.Require();
        Ext4KernelMount.Require();
        using var tmp = new TempDirectory();
        (long offset, long length) = _disk.PartitionExtent(GuestDiskFixture.Var);
        using SectorLoopDevice loop = SectorLoopDevice.Attach(image, "-r", "-o", offset.ToString(CultureInfo.InvariantCulture), "--sizelimit", length.ToString(CultureInfo.InvariantCulture));
        using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(loop.Path, tmp.File("mnt"), "xfs", "ro");
        ToolResult find = Oracle.Run("find", [m.MountPoint, "-mindepth", "1", "-printf", "/%P\n"], TimeSpan.FromMinutes(2));
        var kernel = find.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToList();

        // The XFS /var alone at "/": no inspection, the root file system is not involved.
        CliResult ls = CliHarness.RunOk("ls", "-R", "-m", "/dev/sda6:/", image, "/");
        var ours = ls.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(kernel, ours);
        Assert.Equal("xfs\n", CliHarness.RunOk("cat", "--mount", "/dev/sda6", image, "/xfs-marker").StandardOutput);
    }

    [SkippableFact]
    public void MountOption_OverridesInspection_AndNamesBadMounts()
    {
        string image = _disk.Require();

        // Inspected, /var is the XFS partition; mounted explicitly without it, /var is the root's own directory.
        Assert.Equal("xfs\n", CliHarness.RunOk("cat", image, "/var/xfs-marker").StandardOutput);
        CliResult onRoot = CliHarness.Run("cat", "-m", "/dev/sda4:/", image, "/var/xfs-marker");
        Assert.Equal(1, onRoot.ExitCode);
        Assert.Contains("/var/xfs-marker: No such file or directory", onRoot.StandardError, StringComparison.Ordinal);

        // Two mounts: the XFS at /mnt-var (any directory of the root) and /boot.
        CliResult both = CliHarness.RunOk("ls", "-m", "/dev/sda4:/", "-m", "/dev/sda6:/srv", "-m", "/dev/sda3:/boot", image, "/srv", "/boot");
        Assert.Contains("xfs-marker\n", both.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("vmlinuz-" + _disk.KernelVersion + "\n", both.StandardOutput, StringComparison.Ordinal);

        foreach ((string[] args, string message) in new[]
        {
            (new[] { "-m", "/dev/sda9:/" }, "/dev/sda9: no such device"),
            (new[] { "-m", "/dev/sda5:/" }, "/dev/sda5 holds no file system that can be mounted (its content is swap)"),
            (new[] { "-m", "/dev/sda3:/boot" }, "no file system is mounted at /"),
            (new[] { "-m", "/dev/sda4:/", "-m", "/dev/sda3:relative" }, "expected DEVICE[:MOUNTPOINT]"),
            (new[] { "-m", "/dev/sda4:/", "-m", "/dev/sda3:/no/such/dir" }, "/no/such/dir"),
            (new[] { "-m", "/dev/sda4:/", "--partition", "3" }, "-m and --partition cannot be used together"),
        })
        {
            CliResult r = CliHarness.Run(["ls", .. args, image, "/"]);
            Assert.True(r.ExitCode == 1, string.Join(' ', args) + ": " + r);
            Assert.Contains(message, r.StandardError, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public void ExtractFs_EachFileSystem_EqualsTheOffsetBytes_AndItsFsckIsClean()
    {
        string image = _disk.Require();
        Oracle.Require("e2fsck");
        Oracle.Require("xfs_repair");
        Oracle.Require("fsck.fat");
        Oracle.Require("qemu-img");
        using var tmp = new TempDirectory();
        foreach ((string device, int number, string[] check) in new[]
        {
            ("/dev/sda4", GuestDiskFixture.Root, new[] { "e2fsck", "-fn" }),
            ("6", GuestDiskFixture.Var, new[] { "xfs_repair", "-n", "-f" }),
            ("/dev/sda2", GuestDiskFixture.Esp, new[] { "fsck.fat", "-n" }),
        })
        {
            string ours = tmp.File($"p{number}.img");
            CliHarness.RunOk("extract-fs", image, device, ours);
            (long offset, long length) = _disk.PartitionExtent(number);
            Assert.Equal(length, new FileInfo(ours).Length);
            string dd = tmp.File($"dd{number}.img");
            ToolResult copy = Oracle.Run("dd", [$"if={image}", $"of={dd}", "bs=512", $"skip={offset / 512}", $"count={length / 512}", "status=none"], TimeSpan.FromMinutes(2));
            Assert.True(copy.ExitCode == 0, copy.ToString());
            ToolResult cmp = Oracle.Run("cmp", ours, dd);
            Assert.True(cmp.ExitCode == 0, $"{device}: {cmp}");
            ToolResult fsck = Oracle.Run(check[0], [.. check[1..], ours], TimeSpan.FromMinutes(2));
            Assert.True(fsck.ExitCode == 0, $"{device}: {fsck}");
            File.Delete(dd);
        }

        // -O qcow2 (and --partition addressing): the same bytes, a clean qcow2.
        string qcow2 = tmp.File("p4.qcow2");
        CliHarness.RunOk("extract-fs", "-O", "qcow2", "--partition", "4", image, qcow2);
        Assert.Equal(0, Oracle.Run("qemu-img", "check", qcow2).ExitCode);
        ToolResult same = Oracle.Run("qemu-img", ["compare", "-f", "qcow2", "-F", "raw", qcow2, tmp.File("p4.img")], TimeSpan.FromMinutes(2));
        Assert.True(same.ExitCode == 0, same.ToString());

        // Refusals: the disk itself (not a volume when it has a table) and unknown devices; a target that is the image.
        Assert.Contains("/dev/sda: no such partition", CliHarness.Run("extract-fs", image, "/dev/sda", tmp.File("x")).StandardError, StringComparison.Ordinal);
        Assert.Contains("no such partition", CliHarness.Run("extract-fs", image, "9", tmp.File("x")).StandardError, StringComparison.Ordinal);
        long before = new FileInfo(image).Length;
        CliResult self = CliHarness.Run("extract-fs", image, "3", image);
        Assert.True(self.ExitCode == 1 && self.StandardError.Contains("lock", StringComparison.Ordinal), self.ToString());
        Assert.Equal(before, new FileInfo(image).Length);
    }

    [SkippableFact]
    public void MountOptionAndPartition_CopyIn_LandsInTheAddressedFileSystem_ExtractedFsckClean()
    {
        _disk.Require();
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        using var tmp = new TempDirectory();
        string image = _disk.Copy(tmp);
        string host = tmp.File("via-m.txt");
        File.WriteAllText(host, "explicit mount\n");

        // /boot mounted at "/" by -m: the file lands at the top of partition 3.
        CliHarness.RunOk("copy-in", "-m", "/dev/sda3:/", image, host, "/");
        string boot = tmp.File("boot.img");
        CliHarness.RunOk("extract-fs", image, "3", boot);
        ToolResult fsck = Oracle.Run("e2fsck", "-fn", boot);
        Assert.True(fsck.ExitCode == 0, fsck.ToString());
        Assert.Equal("explicit mount\n", Oracle.Run("debugfs", "-R", "cat /via-m.txt", boot).StandardOutput);

        // --partition on the XFS /var writes it too (it used to be refused as "not supported yet"): xfs_repair -n clean.
        Oracle.Require("xfs_repair");
        CliHarness.RunOk("copy-in", "--partition", "6", image, host, "/");
        string var = tmp.File("var.img");
        CliHarness.RunOk("extract-fs", image, "/dev/sda6", var);
        ToolResult repair = Oracle.Run("xfs_repair", ["-n", "-f", var], TimeSpan.FromMinutes(2));
        Assert.True(repair.ExitCode == 0, repair.ToString());
        Assert.Equal("explicit mount\n", CliHarness.RunOk("cat", "-m", "/dev/sda6:/", image, "/via-m.txt").StandardOutput);
        Assert.Equal("explicit mount\n", CliHarness.RunOk("cat", image, "/var/via-m.txt").StandardOutput);
    }
}
