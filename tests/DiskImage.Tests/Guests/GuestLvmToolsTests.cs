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
/// The TripleO-like whole disk made by sfdisk, pvcreate/vgcreate/lvcreate, mkfs.xfs, mkfs.ext4 and mkfs.fat (see
/// <see cref="GuestLvmToolsFixture"/>): inspected (root, distro, version, hostname, mount points), its volumes as
/// blkid probes them, the composed view equal to the kernel's nested offset loop mounts of the LVs, and writes
/// (copy-in) landing in the LV that owns the path, judged on the bytes <c>extract-fs</c> writes out.
/// </summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "KernelMount")]
public sealed class GuestLvmToolsTests : IClassFixture<GuestLvmToolsFixture>
{
    private static readonly (string Lv, string At, string Type)[] Layout = [("lv_root", "", "xfs"), ("lv_var", "/var", "xfs"), ("lv_log", "/var/log", "ext4")];

    private readonly GuestLvmToolsFixture _disk;

    public GuestLvmToolsTests(GuestLvmToolsFixture disk) => _disk = disk;

    private static string Num(long value) => value.ToString(CultureInfo.InvariantCulture);

    [SkippableFact]
    public void Inspect_LvmToolsLayout_RootDistroMountsAndBlkidIdentities()
    {
        string image = _disk.Require();
        using Guest guest = Guest.Open(image);
        GuestOperatingSystem os = Assert.Single(guest.Inspect());
        Assert.Equal("/dev/vg/lv_root", os.Root);
        Assert.Equal("debian", os.Distro);
        string[] version = File.ReadAllText(Path.Combine(_disk.Tree, "etc", "debian_version")).Trim().Split('.');
        Assert.Equal((int.Parse(version[0], CultureInfo.InvariantCulture), int.Parse(version[1], CultureInfo.InvariantCulture)), (os.MajorVersion, os.MinorVersion));
        Assert.Equal("overcloud-lvm", os.Hostname);
        Assert.Equal(["/dev/vg/lv_root:/", "/dev/sda2:/boot/efi", "/dev/vg/lv_var:/var", "/dev/vg/lv_log:/var/log"], os.Mounts.Select(m => m.ToString()));
        Assert.Empty(os.Warnings);
        Assert.Equal(GuestFileSystemType.LvmPhysicalVolume, guest.GetVolume("/dev/sda3").FileSystemType);

        // Each LV's type, UUID and label as blkid probes the bytes at the LV's first extent.
        Oracle.Require("blkid");
        foreach ((string lv, _, string type) in Layout)
        {
            (long offset, long size) = _disk.LogicalVolumes[lv];
            ToolResult blkid = Oracle.Run("blkid", ["-p", "-o", "export", "-O", Num(offset), "-S", Num(size), image]);
            Assert.True(blkid.ExitCode == 0, blkid.ToString());
            var tags = blkid.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
            GuestVolume v = guest.GetVolume("/dev/mapper/vg-" + lv);
            Assert.Equal(type, tags["TYPE"]);
            Assert.Equal(tags["TYPE"], v.FileSystemTypeName);
            Assert.Equal(tags["UUID"], v.Uuid);
            Assert.Equal(tags["LABEL"], v.Label);
        }

        CliResult human = CliHarness.RunOk("inspect", image);
        Assert.Contains("root: /dev/vg/lv_root\n", human.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("    /var/log /dev/vg/lv_log\n", human.StandardOutput, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void ComposedView_EqualsTheKernelsNestedMountsOfTheLvs()
    {
        string image = _disk.Require();
        Ext4KernelMount.Require();
        using var tmp = new TempDirectory();
        string mnt = tmp.File("mnt");
        var loops = new List<SectorLoopDevice>();
        var mounts = new Stack<Ext4KernelMount.Mounted>();
        try
        {
            foreach ((string lv, string at, string type) in Layout)
            {
                (long offset, long size) = _disk.LogicalVolumes[lv];
                SectorLoopDevice loop = SectorLoopDevice.Attach(image, "-r", "-o", Num(offset), "--sizelimit", Num(size));
                loops.Add(loop);
                mounts.Push(Ext4KernelMount.Mount(loop.Path, mnt + at, type, "ro"));
            }

            ToolResult find = Oracle.Run("find", [mnt, "-path", mnt + "/boot/efi", "-prune", "-o", "-printf", "/%P\t%y\t%m\t%U\t%G\t%s\t%l\n"], TimeSpan.FromMinutes(5));
            Assert.True(find.ExitCode == 0, find.ToString());
            var kernel = find.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
            kernel.Sort(StringComparer.Ordinal);

            using Guest guest = Guest.Open(image);
            IFileSystem view = guest.Mount(Assert.Single(guest.Inspect()));
            var ours = new List<string>();
            GuestDiskTests.Walk(view, view.GetEntry("/"), ours);
            ours.Sort(StringComparer.Ordinal);
            Assert.Equal(kernel.Count, ours.Count);
            for (int i = 0; i < kernel.Count; i++)
            {
                Assert.Equal(kernel[i], ours[i]);
            }

            Assert.Equal(File.ReadAllText(Path.Combine(mnt, "etc", "os-release")), CliHarness.RunOk("cat", image, "/etc/os-release").StandardOutput);
            Assert.Equal("log\n", CliHarness.RunOk("cat", image, "/var/log/on-log").StandardOutput);
            string outDir = tmp.File("out");
            Directory.CreateDirectory(outDir);
            CliHarness.RunOk("copy-out", image, "/var", outDir);
            ToolResult diff = Oracle.Run("diff", ["-r", "--no-dereference", Path.Combine(mnt, "var"), Path.Combine(outDir, "var")], TimeSpan.FromMinutes(5));
            Assert.True(diff.ExitCode == 0, diff.ToString());

            // The ESP through the view, judged by mtools (this kernel has no vfat).
            long espOffset = guest.PartitionTable!.Partitions.First(p => p.Number == 2).Offset;
            ToolResult mtype = Oracle.Run("sh", ["-c", $"MTOOLS_SKIP_CHECK=1 mtype -i \"$0@@{espOffset}\" ::/EFI/redhat/grub.cfg", image]);
            Assert.True(mtype.ExitCode == 0, mtype.ToString());
            Assert.Equal(mtype.StandardOutput, CliHarness.RunOk("cat", image, "/boot/efi/EFI/redhat/grub.cfg").StandardOutput);
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

    [SkippableFact]
    public void CopyIn_LandsInTheOwningLv_ExtractFsBytesAreTheLvsAndFsckClean()
    {
        _disk.Require();
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        Oracle.Require("xfs_repair");
        Ext4KernelMount.Require();
        using var tmp = new TempDirectory();
        string image = _disk.Copy(tmp);
        string host = tmp.File("added.txt");
        File.WriteAllText(host, "copied in\n");
        CliHarness.RunOk("copy-in", image, host, "/var/log");
        CliHarness.RunOk("copy-in", image, host, "/var/lib");
        CliHarness.RunOk("copy-in", image, host, "/etc");

        // extract-fs writes each LV's bytes: equal to dd at the LV's first extent.
        var extracted = new Dictionary<string, string>();
        foreach ((string lv, _, _) in Layout)
        {
            string ours = tmp.File(lv + ".img");
            CliHarness.RunOk("extract-fs", image, lv == "lv_var" ? "/dev/mapper/vg-lv_var" : "/dev/vg/" + lv, ours);
            (long offset, long size) = _disk.LogicalVolumes[lv];
            string dd = tmp.File(lv + ".dd");
            ToolResult copy = Oracle.Run("dd", [$"if={image}", $"of={dd}", "bs=1M", "iflag=skip_bytes,count_bytes", $"skip={offset}", $"count={size}", "status=none"], TimeSpan.FromMinutes(2));
            Assert.True(copy.ExitCode == 0, copy.ToString());
            ToolResult cmp = Oracle.Run("cmp", ours, dd);
            Assert.True(cmp.ExitCode == 0, $"{lv}: {cmp}");
            File.Delete(dd);
            extracted[lv] = ours;
        }

        // /var/log/added.txt is in lv_log (ext4): e2fsck clean, debugfs reads it at the top.
        ToolResult fsck = Oracle.Run("e2fsck", "-fn", extracted["lv_log"]);
        Assert.True(fsck.ExitCode == 0, fsck.ToString());
        Assert.Equal("copied in\n", Oracle.Run("debugfs", "-R", "cat /added.txt", extracted["lv_log"]).StandardOutput);

        // /var/lib/added.txt in lv_var and /etc/added.txt in lv_root (XFS): xfs_repair -n clean, the kernel reads them.
        foreach ((string lv, string path, string absent) in new[] { ("lv_var", "lib/added.txt", "log/added.txt"), ("lv_root", "etc/added.txt", "var/lib/added.txt") })
        {
            ToolResult repair = Oracle.Run("xfs_repair", ["-n", "-f", extracted[lv]], TimeSpan.FromMinutes(2));
            Assert.True(repair.ExitCode == 0, $"{lv}: {repair}");
            using SectorLoopDevice loop = SectorLoopDevice.Attach(extracted[lv], "-r");
            using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(loop.Path, tmp.File(lv + "-mnt"), "xfs", "ro");
            Assert.Equal("copied in\n", File.ReadAllText(Path.Combine(m.MountPoint, path)));
            Assert.False(File.Exists(Path.Combine(m.MountPoint, absent)), $"{lv}: {absent}");
        }

        // -m addresses an LV directly.
        Assert.Equal("copied in\n", CliHarness.RunOk("cat", "-m", "/dev/vg/lv_log:/", image, "/added.txt").StandardOutput);
    }

    [SkippableFact]
    public void LvmReports_Cli_EqualLvmsJsonReports()
    {
        string image = _disk.Require();
        Oracle.Require("lvm");
        long offset, length;
        using (Guest guest = Guest.Open(image))
        {
            DiskImage.Partitions.Partition p3 = guest.PartitionTable!.Partitions.First(p => p.Number == 3);
            (offset, length) = (p3.Offset, p3.Length);
        }

        using SectorLoopDevice loop = SectorLoopDevice.Attach(image, "-r", "-o", Num(offset), "--sizelimit", Num(length));
        string accept = $"\"a|^{loop.Path}$|\"";
        string config = $"global{{activation=0}} devices{{filter=[{accept},\"r|.*|\"] global_filter=[{accept},\"r|.*|\"] scan_lvs=0 use_devicesfile=0 obtain_device_list_from_udev=0}} backup{{backup=0 archive=0}}";
        Environment.SetEnvironmentVariable("LVM_SUPPRESS_FD_WARNINGS", "1");
        foreach ((string report, string fields) in new[]
        {
            ("pvs", "pv_name,vg_name,pv_fmt,pv_uuid,pv_size,dev_size,pv_free,pe_start,pv_pe_count,pv_pe_alloc_count"),
            ("vgs", "vg_name,vg_fmt,vg_uuid,pv_count,lv_count,vg_size,vg_free,vg_extent_size,vg_extent_count,vg_free_count,vg_seqno"),
            ("lvs", "lv_name,vg_name,lv_uuid,lv_size,seg_count,lv_path,lv_dm_path"),
        })
        {
            ToolResult lvm = Oracle.Run("lvm", [report, "--config", config, "--reportformat", "json", "--units", "b", "--nosuffix", "-o", fields], TimeSpan.FromMinutes(2));
            Assert.True(lvm.ExitCode == 0, lvm.ToString());
            string ours = CliHarness.RunOk("lvm", report, "--reportformat", "json", image).StandardOutput;
            Assert.Equal(lvm.StandardOutput.Replace(loop.Path, "/dev/sda3", StringComparison.Ordinal), ours);
        }

        CliResult basic = CliHarness.RunOk("lvm", "lvs", image);
        Assert.Contains("lv_root", basic.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("/dev/mapper/vg-lv_var", basic.StandardOutput, StringComparison.Ordinal);
    }
}
