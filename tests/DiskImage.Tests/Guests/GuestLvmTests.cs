using System.Text;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.Guests;
using DiskImage.IO;
using DiskImage.Lvm;
using DiskImage.Partitions;
using DiskImage.Partitions.Gpt;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Guests;

/// <summary>
/// A guest whose file systems sit in LVM2 logical volumes, laid out like the TripleO whole-disk image
/// (GPT, a /boot partition, one PV holding root, /var and /var/log LVs): the LVs join the guest, fstab's
/// /dev/mapper/VG-LV, /dev/VG/LV and LABEL= entries resolve to them, and a write through the composed view
/// lands in the LV that owns the path (checked with e2fsck and debugfs on that LV's bytes).
/// </summary>
public sealed class GuestLvmTests
{
    private static void Write(IFileSystem fs, string path, string text)
    {
        using Stream s = fs.OpenFile(path, FileMode.Create, FileAccess.Write);
        s.Write(Encoding.UTF8.GetBytes(text));
    }

    private static MemoryBlockDevice NewDisk()
    {
        var disk = new MemoryBlockDevice(96 << 20);
        GptPartitionTable table = GptPartitionTable.Create(disk);
        table.Add(new PartitionAddOptions { Size = 16 << 20, Name = "boot" });
        table.Add(new PartitionAddOptions { Type = "lvm", Name = "pv" });
        using (BlockDevice boot = table.OpenPartition(1))
        {
            Ext4FileSystem.Format(boot, new Ext4FormatOptions { Label = "boot" });
        }

        using BlockDevice pv = table.OpenPartition(2);
        LvmVolumeGroup vg = LvmVolumeGroup.Create("vg", [pv]);
        (string Lv, long Size, string Label)[] lvs = [("lv_root", 32 << 20, "img-rootfs"), ("lv_var", 16 << 20, "var"), ("lv_log", 12 << 20, "log")];
        foreach ((string lv, long size, string label) in lvs)
        {
            vg.CreateLogicalVolume(lv, size);
            using BlockDevice device = vg.GetLogicalVolume(lv)!.Open(writable: true);
            Ext4FileSystem.Format(device, new Ext4FormatOptions { Label = label });
            using Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }, leaveOpen: true);
            if (lv == "lv_root")
            {
                fs.CreateDirectory("/etc");
                fs.CreateDirectory("/usr");
                fs.CreateDirectory("/usr/bin");
                fs.CreateSymbolicLink("/bin", "usr/bin");
                fs.CreateDirectory("/var");
                fs.CreateDirectory("/boot");
                Write(fs, "/etc/fstab", """
                    /dev/mapper/vg-lv_root / ext4 defaults 0 1
                    LABEL=boot /boot ext4 defaults 0 2
                    /dev/vg/lv_var /var ext4 defaults 0 2
                    LABEL=log /var/log ext4 defaults 0 2
                    """);
                Write(fs, "/etc/os-release", "ID=rhel\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.4 (Plow)\"\n");
                Write(fs, "/etc/hostname", "overcloud\n");
            }
            else if (lv == "lv_var")
            {
                fs.CreateDirectory("/log");
                Write(fs, "/on-var", "var");
            }
            else
            {
                Write(fs, "/on-log", "log");
            }
        }

        return disk;
    }

    [Fact]
    public void Open_LogicalVolumesJoinTheGuest_FstabResolvesToThem()
    {
        using MemoryBlockDevice disk = NewDisk();
        using Guest guest = Guest.Open(disk, leaveOpen: true);
        GuestVolume root = guest.GetVolume("/dev/vg/lv_root");
        Assert.Equal(GuestVolumeKind.LogicalVolume, root.Kind);
        Assert.Equal("img-rootfs", root.Label);
        Assert.True(root.HasName("/dev/mapper/vg-lv_root"));
        Assert.Equal("/dev/vg", root.Parent);
        Assert.Equal(32, root.LogicalVolumeUuid!.Length);
        Assert.Equal(GuestFileSystemType.LvmPhysicalVolume, guest.GetVolume("/dev/sda2").FileSystemType);

        GuestOperatingSystem os = Assert.Single(guest.Inspect());
        Assert.Equal("/dev/vg/lv_root", os.Root);
        Assert.Equal("rhel", os.Distro);
        Assert.Equal((9, 4), (os.MajorVersion, os.MinorVersion));
        Assert.Equal(["/dev/vg/lv_root:/", "/dev/sda1:/boot", "/dev/vg/lv_var:/var", "/dev/vg/lv_log:/var/log"], os.Mounts.Select(m => m.ToString()));
        Assert.Empty(os.Warnings);
    }

    [SkippableFact]
    public void CopyInThroughView_LandsInTheLvThatOwnsThePath_FsckClean()
    {
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        using MemoryBlockDevice disk = NewDisk();
        using (Guest guest = Guest.Open(disk, new GuestOpenOptions { Writable = true }, leaveOpen: true))
        {
            GuestOperatingSystem os = Assert.Single(guest.Inspect());
            IFileSystem view = guest.Mount(os);
            Assert.Equal("log", new StreamReader(view.OpenFile("/var/log/on-log", FileMode.Open, FileAccess.Read)).ReadToEnd());
            Write(view, "/var/log/injected.log", "into lv_log\n");
            Write(view, "/var/new-in-var", "into lv_var\n");
            Write(view, "/etc/motd", "into lv_root\n");
            view.Flush();
        }

        GptPartitionTable table = GptPartitionTable.Open(disk);
        using BlockDevice pv = table.OpenPartition(2, writable: false);
        LvmVolumeGroup vg = LvmVolumeGroup.Open([pv]);
        using var dir = new TempDirectory();
        foreach ((string lv, string path, string text) in new[]
        {
            ("lv_log", "/injected.log", "into lv_log\n"), ("lv_var", "/new-in-var", "into lv_var\n"), ("lv_root", "/etc/motd", "into lv_root\n"),
        })
        {
            string image = dir.File(lv + ".img");
            using (BlockDevice device = vg.GetLogicalVolume(lv)!.Open(writable: false))
            using (var file = File.Create(image))
            {
                byte[] buffer = new byte[device.Length];
                device.ReadExactly(0, buffer);
                file.Write(buffer);
            }

            ToolResult fsck = Oracle.Run("e2fsck", "-fn", image);
            Assert.True(fsck.ExitCode == 0, fsck.ToString());
            ToolResult cat = Oracle.Run("debugfs", "-R", $"cat {path}", image);
            Assert.Equal(text, cat.StandardOutput);
        }
    }
}
