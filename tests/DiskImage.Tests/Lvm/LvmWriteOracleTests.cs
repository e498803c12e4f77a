using System.Globalization;
using System.Runtime.Versioning;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Lvm;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;
using DiskImage.Tests.Partitions;

namespace DiskImage.Tests.Lvm;

/// <summary>Volume groups we write, judged by lvm2 2.03.16 (pvck, vgck, vgs/lvs/pvs reports) and by the kernel (ext4 in an LV, mounted through an offset loop device).</summary>
[SupportedOSPlatform("linux")]
public sealed class LvmWriteOracleTests
{
    [SkippableFact]
    public void Create_LinearStripedExtendedWrappedMetadata_AcceptedByPvckVgckAndReports_ThenReUuid()
    {
        Oracle.Require("lvm");
        using var tmp = new TempDirectory();
        string a = LvmTestImages.Sparse(tmp, "a.img", 64 << 20);
        string b = LvmTestImages.Sparse(tmp, "b.img", 64 << 20);
        string vgName = LvmOracle.NewVolumeGroupName("wv");
        using (FileBlockDevice da = FileBlockDevice.Open(a, writable: true))
        using (FileBlockDevice db = FileBlockDevice.Open(b, writable: true))
        {
            // A 36 KiB metadata area (data at 40 KiB), so the many commits below wrap its circular buffer.
            var options = new LvmVolumeGroupCreateOptions { ExtentSize = 1 << 20, PhysicalVolume = new LvmPhysicalVolumeCreateOptions { DataOffset = 40 << 10 } };
            LvmVolumeGroup vg = LvmVolumeGroup.Create(vgName, [da, db], options);
            vg.CreateLogicalVolume("root", 8 << 20);
            vg.CreateLogicalVolume("data", 16 << 20, new LvmLogicalVolumeCreateOptions { Stripes = 2, StripeSize = 64 << 10 });
            vg.CreateLogicalVolume("mid", 4 << 20);
            vg.ExtendLogicalVolume("root", 14 << 20);
            for (int i = 0; i < 20; i++)
            {
                vg.CreateLogicalVolume($"small{i}", 1 << 20);
            }

            vg.ExtendLogicalVolume("data", 20 << 20);
            vg.CreateLogicalVolume("big", 60 << 20); // no PV has 60 free extents in a row: two segments
            Assert.True(vg.GetLogicalVolume("big")!.Segments.Count >= 2);
            Assert.True(vg.GetLogicalVolume("root")!.Segments.Count == 2);
        }

        AssertAccepted(a, b, vgName);

        string oldUuid;
        using (FileBlockDevice da = FileBlockDevice.Open(a, writable: true))
        using (FileBlockDevice db = FileBlockDevice.Open(b, writable: true))
        {
            LvmVolumeGroup vg = LvmVolumeGroup.Open([da, db]);
            oldUuid = vg.Uuid;
            vg.RegenerateUuids(seed: 11);
            Assert.NotEqual(oldUuid, vg.Uuid);
        }

        AssertAccepted(a, b, vgName);
    }

    [SkippableFact]
    public void Create_VgOnLvmToolsPv_LvmExtendsOurLv_AndWeExtendTheirs()
    {
        using var tmp = new TempDirectory();
        string a = LvmTestImages.Sparse(tmp, "a.img", 48 << 20);
        string vgName = LvmOracle.NewVolumeGroupName("mx");
        using (LvmOracle lvm = LvmOracle.Attach(a))
        {
            lvm.RunOk("pvcreate", lvm.Devices[0]);
            lvm.RunOk("vgcreate", vgName, lvm.Devices[0]);
            lvm.RunOk("lvcreate", "-L", "8M", "-n", "theirs", vgName);
        }

        using (FileBlockDevice d = FileBlockDevice.Open(a, writable: true))
        {
            LvmVolumeGroup vg = LvmVolumeGroup.Open([d]);
            vg.CreateLogicalVolume("ours", 8 << 20);
            vg.ExtendLogicalVolume("theirs", 12 << 20);
        }

        using (LvmOracle lvm = LvmOracle.Attach(a))
        {
            Assert.Equal(string.Empty, LvmOracle.Complaints(lvm.RunOk("vgck", vgName)));
            lvm.RunOk("lvextend", "-L", "+4M", $"{vgName}/ours");
            using FileBlockDevice d = FileBlockDevice.Open(a);
            LvmVolumeGroup vg = LvmVolumeGroup.Open([d]);
            Assert.Equal(12 << 20, vg.GetLogicalVolume("ours")!.Size);
            LvmTestImages.AssertSameAsReports(vg, lvm, vgName, [d]);
        }
    }

    [SkippableFact]
    [Trait("Category", "KernelMount")]
    public void Ext4FormattedInOurLv_MountsThroughOffsetLoopAtFirstExtent_AndMkfsInOurLvReadsBack()
    {
        Ext4KernelMount.Require();
        using var tmp = new TempDirectory();
        string img = LvmTestImages.Sparse(tmp, "disk.img", 96 << 20);
        long rootOffset, rootLength, otherOffset, otherLength;
        using (FileBlockDevice disk = FileBlockDevice.Open(img, writable: true))
        {
            LvmVolumeGroup vg = LvmVolumeGroup.Create(LvmOracle.NewVolumeGroupName("fs"), [disk]);
            vg.CreateLogicalVolume("swap", 4 << 20);
            LvmLogicalVolume root = vg.CreateLogicalVolume("root", 40 << 20);
            LvmLogicalVolume other = vg.CreateLogicalVolume("other", 32 << 20);
            (rootOffset, rootLength) = (root.Segments[0].Stripes[0].PhysicalVolume.DataOffset + (root.Segments[0].Stripes[0].StartExtent * vg.ExtentSize), root.Size);
            (otherOffset, otherLength) = (other.Segments[0].Stripes[0].PhysicalVolume.DataOffset + (other.Segments[0].Stripes[0].StartExtent * vg.ExtentSize), other.Size);
            using BlockDevice lv = root.Open();
            Ext4FileSystem.Format(lv);
            using Ext4FileSystem fs = Ext4FileSystem.Open(lv, new Ext4OpenOptions { Writable = true }, leaveOpen: true);
            using (Stream s = fs.OpenFile("/hello", FileMode.Create, FileAccess.Write))
            {
                s.Write("in a logical volume\n"u8);
            }

            fs.Flush();
        }

        using (SectorLoopDevice loop = SectorLoopDevice.Attach(img, "-o", rootOffset.ToString(CultureInfo.InvariantCulture), "--sizelimit", rootLength.ToString(CultureInfo.InvariantCulture)))
        {
            ToolResult fsck = Oracle.Run("e2fsck", "-fn", loop.Path);
            Assert.True(fsck.ExitCode == 0, fsck.ToString());
            using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(loop.Path, tmp.File("mnt"), "ext4", "ro");
            Assert.Equal("in a logical volume\n", File.ReadAllText(Path.Combine(m.MountPoint, "hello")));
        }

        ToolResult mk = Oracle.Run("mkfs.ext4", "-q", "-F", "-L", "theirs", "-E", $"offset={otherOffset}", img, $"{otherLength / 1024}k");
        Assert.True(mk.ExitCode == 0, mk.ToString());
        using (FileBlockDevice disk = FileBlockDevice.Open(img))
        {
            LvmVolumeGroup vg = LvmVolumeGroup.Open([disk]);
            using BlockDevice lv = vg.GetLogicalVolume("other")!.Open();
            using Ext4FileSystem fs = Ext4FileSystem.Open(lv, leaveOpen: true);
            Assert.Equal(DiskImage.FileSystems.UnixFileType.Directory, fs.GetEntry("/lost+found").Type);
        }
    }

    private static void AssertAccepted(string a, string b, string vgName)
    {
        using LvmOracle lvm = LvmOracle.Attach(a, b);
        foreach (string dev in lvm.Devices)
        {
            ToolResult pvck = lvm.RunOk("pvck", dev);
            Assert.Contains("Found label on", pvck.StandardError + pvck.StandardOutput, StringComparison.Ordinal);
            Assert.Equal(string.Empty, LvmOracle.Complaints(pvck));
            ToolResult dump = lvm.RunOk("pvck", "--dump", "metadata", dev);
            Assert.Equal(string.Empty, LvmOracle.Complaints(dump));
        }

        ToolResult vgck = lvm.RunOk("vgck", vgName);
        Assert.Equal(string.Empty, LvmOracle.Complaints(vgck));
        using FileBlockDevice da = FileBlockDevice.Open(a);
        using FileBlockDevice db = FileBlockDevice.Open(b);
        LvmVolumeGroup vg = LvmVolumeGroup.Open([da, db]);
        LvmTestImages.AssertSameAsReports(vg, lvm, vgName, [da, db]);
        var pvUuids = lvm.Report("pvs", "pv_name,pv_uuid,pe_start,pv_pe_count");
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal((string)pvUuids[i]!["pv_uuid"]!, vg.PhysicalVolumes[i].Uuid);
            Assert.Equal(LvmTestImages.Num(pvUuids[i]!["pe_start"]), vg.PhysicalVolumes[i].DataOffset);
            Assert.Equal(LvmTestImages.Num(pvUuids[i]!["pv_pe_count"]), vg.PhysicalVolumes[i].ExtentCount);
        }
    }
}
