using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Partitions;
using DiskImage.Partitions.Gpt;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Partitions;

/// <summary>
/// File systems inside partitions we created, judged by the kernel through an offset loop device
/// (<c>losetup -o OFFSET --sizelimit N</c>; this kernel does no partition scanning).
/// </summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "KernelMount")]
public sealed class PartitionKernelMountTests
{
    [SkippableFact]
    public void Ext4FormattedThroughPartitionWindow_MountsThroughOffsetLoop()
    {
        Ext4KernelMount.Require();
        using var tmp = new TempDirectory();
        string img = PartitionOracle.NewImage(tmp, "disk.img", 64 << 20);
        Partition root;
        using (FileBlockDevice disk = FileBlockDevice.Open(img, writable: true))
        {
            GptPartitionTable table = GptPartitionTable.Create(disk);
            table.Add(new PartitionAddOptions { Size = 1 << 20, Type = "bios" });
            root = table.Add(new PartitionAddOptions { Size = 40 << 20, Type = "linux", Name = "root" });
            table.Add(new PartitionAddOptions { Type = "swap" });
            using BlockDevice window = table.OpenPartition(root.Number);
            Ext4FileSystem.Format(window);
            using Ext4FileSystem fs = Ext4FileSystem.Open(window, new Ext4OpenOptions { Writable = true }, leaveOpen: true);
            fs.CreateDirectory("/etc");
            using (Stream s = fs.OpenFile("/etc/hostname", FileMode.Create, FileAccess.Write))
            {
                s.Write("partitioned\n"u8);
            }

            fs.Flush();
        }

        PartitionOracle.AssertSgdiskVerifies(img);
        using SectorLoopDevice loop = SectorLoopDevice.Attach(img, "-o", root.Offset.ToString(System.Globalization.CultureInfo.InvariantCulture), "--sizelimit", root.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        ToolResult fsck = Oracle.Run("e2fsck", "-fn", loop.Path);
        Assert.True(fsck.ExitCode == 0, fsck.ToString());
        using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(loop.Path, tmp.File("mnt"), "ext4", "ro");
        Assert.Equal("partitioned\n", File.ReadAllText(Path.Combine(m.MountPoint, "etc", "hostname")));
    }

    [SkippableFact]
    public void Mkfs4OffsetInPartitionWeCreated_ReadThroughWindow_AndKernelMount()
    {
        Ext4KernelMount.Require();
        Oracle.Require("mkfs.ext4");
        using var tmp = new TempDirectory();
        string img = PartitionOracle.NewImage(tmp, "disk.img", 64 << 20);
        Partition data;
        using (FileBlockDevice disk = FileBlockDevice.Open(img, writable: true))
        {
            PartitionTable table = DiskImage.Partitions.Mbr.MbrPartitionTable.Create(disk);
            table.Add(new PartitionAddOptions { Size = 8 << 20 });
            table.Add(new PartitionAddOptions { Type = "extended" });
            data = table.Add(new PartitionAddOptions { Logical = true, Size = 32 << 20 });
        }

        ToolResult mk = Oracle.Run("mkfs.ext4", "-q", "-F", "-L", "logical5", "-E", $"offset={data.Offset}", img, $"{data.Length / 1024}k");
        Assert.True(mk.ExitCode == 0, mk.ToString());
        PartitionOracle.AssertSfdiskVerifies(img);
        using (FileBlockDevice disk = FileBlockDevice.Open(img))
        {
            PartitionTable table = PartitionTable.Open(disk);
            using BlockDevice window = table.OpenPartition(5);
            Assert.True(Ext4FileSystem.IsExt4(window));
            using Ext4FileSystem fs = Ext4FileSystem.Open(window, leaveOpen: true);
            Assert.Equal(UnixFileType.Directory, fs.GetEntry("/lost+found").Type);
        }

        using SectorLoopDevice loop = SectorLoopDevice.Attach(img, "-o", data.Offset.ToString(System.Globalization.CultureInfo.InvariantCulture), "--sizelimit", data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(loop.Path, tmp.File("mnt"), "ext4", "ro");
        Assert.True(Directory.Exists(Path.Combine(m.MountPoint, "lost+found")));
    }
}
