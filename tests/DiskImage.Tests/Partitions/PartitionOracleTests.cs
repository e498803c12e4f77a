using DiskImage.IO;
using DiskImage.Partitions;
using DiskImage.Partitions.Gpt;
using DiskImage.Partitions.Mbr;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Partitions;

/// <summary>
/// Tables written by sfdisk (util-linux 2.38) and sgdisk (gdisk 1.0.9) read exactly as <c>sfdisk --json</c>
/// lists them; tables we write pass <c>sgdisk -v</c> and <c>sfdisk --verify</c> and list identically.
/// </summary>
public sealed class PartitionOracleTests
{
    [SkippableFact]
    public void SgdiskGpt_NamesAttributesTypes_ListedLikeSfdiskJson()
    {
        Oracle.Require("sgdisk");
        using var tmp = new TempDirectory();
        string img = PartitionOracle.NewImage(tmp, "gpt.img", 64 << 20);
        PartitionOracle.Sgdisk("-n1:2048:+1M", "-t1:EF02", "-c1:bios", "-n2:0:+16M", "-t2:EF00", "-c2:ESP", "-A", "2:set:2", "-A", "2:set:0",
            "-n3:0:+8M", "-t3:8200", "-c3:swap Ümlaut データ", "-A", "3:set:60", "-A", "3:set:63", "-n5:0:0", "-t5:8E00", "-c5:lvm", img);
        PartitionOracle.AssertSameListing(PartitionOracle.SfdiskJson(img), PartitionOracle.OurJson(img));

        using FileBlockDevice disk = FileBlockDevice.Open(img);
        var table = Assert.IsType<GptPartitionTable>(PartitionTable.Open(disk));
        Assert.Equal([1, 2, 3, 5], table.Partitions.Select(p => p.Number));
        var swap = (GptPartition)table.GetPartition(3);
        Assert.Equal("swap Ümlaut データ", swap.Name);
        Assert.Equal(GptPartitionAttributes.ReadOnly | GptPartitionAttributes.NoAutoMount, swap.Attributes);
        Assert.Equal(PartitionTypes.LinuxSwap, swap.TypeGuid);
        Assert.Equal("BIOS boot", table.GetPartition(1).TypeDescription);
        Assert.False(table.OpenedFromBackup);
        Assert.False(table.BackupNeedsRelocation);
    }

    [SkippableFact]
    public void SfdiskMbr_LogicalPartitions_ListedLikeSfdiskJson()
    {
        Oracle.Require("sfdisk");
        using var tmp = new TempDirectory();
        string img = PartitionOracle.NewImage(tmp, "mbr.img", 64 << 20);
        PartitionOracle.Sfdisk(img, "label: dos\nlabel-id: 0x12345678\n,8M,83,*\n,8M,82\n,,E\n,10M,83\n,10M,8e\n,,c\n");
        PartitionOracle.AssertSameListing(PartitionOracle.SfdiskJson(img), PartitionOracle.OurJson(img));

        using FileBlockDevice disk = FileBlockDevice.Open(img);
        var table = Assert.IsType<MbrPartitionTable>(PartitionTable.Open(disk));
        Assert.Equal(0x12345678u, table.DiskSignature);
        Assert.Equal([1, 2, 3, 5, 6, 7], table.Partitions.Select(p => p.Number));
        Assert.True(((MbrPartition)table.GetPartition(3)).IsExtended);
        Assert.True(((MbrPartition)table.GetPartition(7)).IsLogical);
        Assert.Throws<NotSupportedException>(() => table.OpenPartition(3));
    }

    [SkippableFact]
    public void SfdiskGpt_128EntriesTwentyPartitions_ListedLikeSfdiskJson()
    {
        Oracle.Require("sfdisk");
        using var tmp = new TempDirectory();
        string img = PartitionOracle.NewImage(tmp, "many.img", 64 << 20);
        string script = "label: gpt\n" + string.Concat(Enumerable.Range(0, 20).Select(i => $",1M,{(i % 3 == 0 ? "L" : i % 3 == 1 ? "S" : "V")}\n")) + ",,U\n";
        PartitionOracle.Sfdisk(img, script);
        PartitionOracle.AssertSameListing(PartitionOracle.SfdiskJson(img), PartitionOracle.OurJson(img));
        using FileBlockDevice disk = FileBlockDevice.Open(img);
        var table = (GptPartitionTable)PartitionTable.Open(disk);
        Assert.Equal(128, table.EntryCount);
        Assert.Equal(21, table.Partitions.Count);
        Assert.Equal(2048, table.FirstUsableSector); // sfdisk 2.38 writes first-lba 2048
    }

    [SkippableFact]
    public void GrownDisk_ReadLikeSfdisk_ResizeRelocatesBackupLikeSfdiskGrow()
    {
        Oracle.Require("sgdisk");
        using var tmp = new TempDirectory();
        string img = PartitionOracle.NewImage(tmp, "grown.img", 64 << 20);
        PartitionOracle.Sgdisk("-n1:2048:+1M", "-t1:EF02", "-n2:0:+16M", "-t2:EF00", "-n3:0:+20M", "-t3:8E00", img);
        using (FileStream f = File.OpenWrite(img))
        {
            f.SetLength(96 << 20);
        }

        string theirs = tmp.File("theirs.img");
        File.Copy(img, theirs);
        PartitionOracle.AssertSameListing(PartitionOracle.SfdiskJson(img), PartitionOracle.OurJson(img));
        using (FileBlockDevice disk = FileBlockDevice.Open(img))
        {
            Assert.True(((GptPartitionTable)PartitionTable.Open(disk)).BackupNeedsRelocation);
        }

        CliHarness.RunOk("part", "resize", img, "3");
        PartitionOracle.Sfdisk(theirs, ", +\n", "-N", "3");
        PartitionOracle.AssertSameListing(PartitionOracle.SfdiskJson(theirs), PartitionOracle.OurJson(img), ignoreDeviceNames: true);
        PartitionOracle.AssertSameListing(PartitionOracle.SfdiskJson(img), PartitionOracle.OurJson(img));
        PartitionOracle.AssertSgdiskVerifies(img, allowUnalignedEnd: true);
        PartitionOracle.AssertSfdiskVerifies(img);
    }

    [SkippableFact]
    public void CreatedGptAndMbr_PassSgdiskAndSfdiskVerify_ListIdentically()
    {
        Oracle.Require("sgdisk");
        using var tmp = new TempDirectory();
        string gpt = PartitionOracle.NewImage(tmp, "gpt.img", 64 << 20);
        CliHarness.RunOk("part", "create", gpt, "--type", "gpt");
        CliHarness.RunOk("part", "add", gpt, "--size", "1M", "--type", "bios", "--name", "bios");
        CliHarness.RunOk("part", "add", gpt, "--size", "16M", "--type", "esp", "--name", "EFI System Partition");
        CliHarness.RunOk("part", "add", gpt, "--type", "lvm", "--name", "lvm");
        PartitionOracle.AssertSgdiskVerifies(gpt);
        PartitionOracle.AssertSfdiskVerifies(gpt);
        PartitionOracle.AssertSameListing(PartitionOracle.SfdiskJson(gpt), PartitionOracle.OurJson(gpt));
        var listed = PartitionOracle.SfdiskJson(gpt)["partitiontable"]!["partitions"]!.AsArray();
        Assert.Equal(129023, (long)listed[2]!["start"]! + (long)listed[2]!["size"]! - 1); // the end aligned down to 1 MiB, as sfdisk does

        string mbr = PartitionOracle.NewImage(tmp, "mbr.img", 64 << 20);
        CliHarness.RunOk("part", "create", mbr, "--type", "mbr", "--id", "0x12345678");
        foreach (string[] add in new[] { new[] { "--size", "8M", "--bootable" }, ["--size", "8M", "--type", "swap"], ["--type", "extended"], ["--logical", "--size", "10M"], ["--logical", "--size", "10M", "--type", "lvm"], ["--logical", "--type", "c"] })
        {
            CliHarness.RunOk(["part", "add", mbr, .. add]);
        }

        PartitionOracle.AssertSfdiskVerifies(mbr);
        PartitionOracle.AssertSameListing(PartitionOracle.SfdiskJson(mbr), PartitionOracle.OurJson(mbr));

        // The same script given to sfdisk writes the same sector 0 and EBRs, byte for byte.
        string theirs = PartitionOracle.NewImage(tmp, "theirs.img", 64 << 20);
        PartitionOracle.Sfdisk(theirs, "label: dos\nlabel-id: 0x12345678\n,8M,83,*\n,8M,82\n,,E\n,10M,83\n,10M,8e\n,,c\n");
        foreach (long sector in new long[] { 0, 34816, 57344, 79872 })
        {
            Assert.Equal(ReadSector(theirs, sector), ReadSector(mbr, sector));
        }
    }

    [SkippableFact]
    public void Gpt4KSectors_SfdiskOnLoopDevice_ReadAlike_AndOursVerified()
    {
        Oracle.Require("sfdisk");
        Oracle.Require("sgdisk");
        using var tmp = new TempDirectory();
        string theirs = PartitionOracle.NewImage(tmp, "theirs4k.img", 64 << 20);
        using (SectorLoopDevice loop = SectorLoopDevice.Attach(theirs, "-b", "4096"))
        {
            PartitionOracle.Sfdisk(loop.Path, "label: gpt\n,8M,L\n,16M,U\n,,V\n");
            PartitionOracle.AssertSameListing(PartitionOracle.SfdiskJson(loop.Path), PartitionOracle.OurJson(theirs), ignoreDeviceNames: true);
        }

        using (FileBlockDevice disk = FileBlockDevice.Open(theirs))
        {
            PartitionTable table = PartitionTable.Open(disk);
            Assert.Equal(4096, table.SectorSize);
            Assert.Equal(256, table.GetPartition(1).FirstSector);
        }

        string ours = PartitionOracle.NewImage(tmp, "ours4k.img", 64 << 20);
        CliHarness.RunOk("part", "create", ours, "--type", "gpt", "--sector-size", "4096");
        CliHarness.RunOk("part", "add", ours, "--size", "8M", "--name", "root");
        CliHarness.RunOk("part", "add", ours, "--type", "swap", "--name", "swap");
        using (FileBlockDevice disk = FileBlockDevice.Open(ours))
        {
            var table = (GptPartitionTable)PartitionTable.Open(disk);
            Assert.Equal(6, table.FirstUsableSector);
            Assert.Equal(256, table.GetPartition(1).FirstSector);
        }

        using (SectorLoopDevice loop = SectorLoopDevice.Attach(ours, "-b", "4096"))
        {
            PartitionOracle.AssertSgdiskVerifies(loop.Path);
            PartitionOracle.AssertSfdiskVerifies(loop.Path);
            var json = PartitionOracle.SfdiskJson(loop.Path);
            Assert.Equal(4096, (int)json["partitiontable"]!["sectorsize"]!);
            PartitionOracle.AssertSameListing(json, PartitionOracle.OurJson(ours), ignoreDeviceNames: true);
        }
    }

    [SkippableFact]
    public void Qcow2Image_PartCommands_ListLikeSfdiskOnConvertedRaw()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("sfdisk");
        using var tmp = new TempDirectory();
        string q = tmp.File("disk.qcow2");
        CliHarness.RunOk("create", "-q", "-f", "qcow2", q, "64M");
        CliHarness.RunOk("part", "create", q, "--type", "gpt");
        CliHarness.RunOk("part", "add", q, "--size", "16M", "--type", "esp", "--name", "ESP");
        CliHarness.RunOk("part", "add", q, "--type", "linux", "--name", "root");
        CliHarness.RunOk("part", "delete", q, "1");
        CliHarness.RunOk("part", "add", q, "--size", "8M", "--type", "bios");
        Assert.Equal(0, Oracle.Run("qemu-img", "check", q).ExitCode);
        string raw = tmp.File("disk.raw");
        Oracle.RunOk("qemu-img", "convert", "-O", "raw", q, raw);
        PartitionOracle.AssertSgdiskVerifies(raw);
        PartitionOracle.AssertSameListing(PartitionOracle.SfdiskJson(raw), PartitionOracle.OurJson(q), ignoreDeviceNames: true);
    }

    private static byte[] ReadSector(string path, long sector)
    {
        using FileStream f = File.OpenRead(path);
        byte[] b = new byte[512];
        f.Position = sector * 512;
        f.ReadExactly(b);
        return b;
    }
}
