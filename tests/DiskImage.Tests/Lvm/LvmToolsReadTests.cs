using System.Runtime.Versioning;
using DiskImage.IO;
using DiskImage.Lvm;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Lvm;

/// <summary>Volume groups made by lvm2 2.03.16 (pvcreate, vgcreate, lvcreate, lvextend, vgchange) read as lvs reports them, byte for byte.</summary>
[SupportedOSPlatform("linux")]
public sealed class LvmToolsReadTests
{
    [SkippableFact]
    public void FindAll_LinearStripedExtendedAcrossTwoPvs_SameLvsAndBytesAsLvs()
    {
        using var tmp = new TempDirectory();
        string a = LvmTestImages.Patterned(tmp, "a.img", 64 << 20, 0);
        string b = LvmTestImages.Patterned(tmp, "b.img", 64 << 20, 1);
        string vgName = LvmOracle.NewVolumeGroupName("rd");
        using (LvmOracle lvm = LvmOracle.Attach(a, b))
        {
            lvm.RunOk("pvcreate", lvm.Devices[0], lvm.Devices[1]);
            lvm.RunOk("vgcreate", "-s", "1M", vgName, lvm.Devices[0], lvm.Devices[1]);
            lvm.RunOk("lvcreate", "-L", "8M", "-n", "root", vgName);
            lvm.RunOk("lvcreate", "-i2", "-I64k", "-L", "16M", "-n", "data", vgName);
            lvm.RunOk("lvcreate", "-L", "4M", "-n", "mid", vgName);
            lvm.RunOk("lvextend", "-L", "+6M", $"{vgName}/root");
            lvm.RunOk("lvcreate", "-L", "60M", "-n", "big", vgName); // no PV has 60 contiguous extents left: two segments

            using FileBlockDevice da = FileBlockDevice.Open(a);
            using FileBlockDevice db = FileBlockDevice.Open(b);
            Assert.True(LvmPhysicalVolume.IsPhysicalVolume(da));
            IReadOnlyList<LvmVolumeGroup> all = LvmVolumeGroup.FindAll([db, da]);
            LvmVolumeGroup vg = Assert.Single(all);
            Assert.Equal(vgName, vg.Name);
            Assert.Equal(2, vg.GetLogicalVolume("root")!.Segments.Count);
            Assert.Equal(2, vg.GetLogicalVolume("data")!.Segments[0].StripeCount);
            LvmTestImages.AssertSameAsReports(vg, lvm, vgName, [da, db]);
            LvmTestImages.AssertBytesMatchReport(vg, lvm, vgName);
        }
    }

    [SkippableFact]
    public void FindAll_AfterManyMetadataUpdatesWrapTheCircularBuffer_NewestCopyRead()
    {
        using var tmp = new TempDirectory();
        string a = LvmTestImages.Sparse(tmp, "a.img", 32 << 20);
        string vgName = LvmOracle.NewVolumeGroupName("wr");
        using LvmOracle lvm = LvmOracle.Attach(a);
        lvm.RunOk("pvcreate", "--metadatasize", "32k", "--dataalignment", "64k", lvm.Devices[0]); // a 60 KiB metadata area
        lvm.RunOk("vgcreate", "-s", "1M", vgName, lvm.Devices[0]);
        lvm.RunOk("lvcreate", "-L", "4M", "-n", "lv0", vgName);
        bool wrapped = false;
        for (int i = 1; i <= 16 && !wrapped; i++)
        {
            // Each update adds 60 long tags, so each copy is about 2 KiB larger than the one before.
            var tags = new List<string>();
            for (int k = 0; k < 60; k++)
            {
                tags.Add("--addtag");
                tags.Add($"a_rather_long_tag_for_update_{i}_number_{k}");
            }

            lvm.RunOk(i % 4 == 0 ? "lvcreate" : "vgchange", i % 4 == 0 ? ["-L", "1M", "-n", $"lv{i}", vgName] : [.. tags, vgName]);
            using FileBlockDevice d = FileBlockDevice.Open(a);
            LvmLabel label = LvmLabel.TryRead(d)!;
            LvmMetadataArea area = LvmMetadataArea.Read(d, label.MetadataAreas[0]);
            wrapped = (long)(area.TextOffset + area.TextSize) > area.Size;
            LvmVolumeGroup vg = LvmVolumeGroup.Open([d]);
            Assert.Equal(LvmTestImages.Num(lvm.Report("vgs", "vg_seqno", vgName)[0]!["vg_seqno"]), vg.SequenceNumber);
            if (wrapped || i % 4 == 0)
            {
                LvmTestImages.AssertSameAsReports(vg, lvm, vgName, [d]);
            }
        }

        Assert.True(wrapped, "No metadata copy wrapped around the end of the 60 KiB area.");
    }
}
