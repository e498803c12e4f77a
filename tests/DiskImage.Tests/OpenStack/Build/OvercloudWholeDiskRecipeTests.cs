using DiskImage.OpenStack.Build;

namespace DiskImage.Tests.OpenStack.Build;

/// <summary>Whole-disk image recipes: the embedded overcloud-hardened-uefi-full layout and malformed layouts refused with their position.</summary>
public sealed class OvercloudWholeDiskRecipeTests
{
    private const string Head = "images:\n  - name: d\n    type: whole-disk\n    disk:\n";

    [Fact]
    public void Default_HardenedUefiFull_LayoutOfTheReference_NotInAll()
    {
        OvercloudImageRecipe image = OvercloudRecipe.Default.FindImage("overcloud-hardened-uefi-full")!;
        Assert.Equal(OvercloudImageKind.WholeDisk, image.Kind);
        Assert.False(image.BuildByDefault);
        Assert.Equal(["overcloud-hardened-uefi-full.qcow2"], image.Files);
        Assert.True(image.Compress);
        OvercloudDiskLayout disk = image.Disk!;
        Assert.Equal(("gpt", 6L << 30), (disk.PartitionTable, disk.Size));
        Assert.Equal([("ESP", "esp", 8L << 20), ("BSP", "bios", 8L << 20), ("root", "linux", 0L)], disk.Partitions.Select(p => (p.Name!, p.Type, p.Size ?? 0)));
        Assert.Equal(("vfat", "/boot/efi"), (disk.Partitions[0].Volume!.FileSystem, disk.Partitions[0].Volume!.MountPoint));
        Assert.True(disk.Partitions[2].Bootable);
        Assert.Equal("vg", disk.Partitions[2].VolumeGroup);
        Assert.Equal(
            [
                ("lv_root", 69, "/", "rw,relatime", "img-rootfs"), ("lv_tmp", 4, "/tmp", "rw,nosuid,nodev,noexec,relatime", null), ("lv_var", 15, "/var", "rw,relatime", null),
                ("lv_log", 4, "/var/log", "rw,relatime", null), ("lv_audit", 4, "/var/log/audit", "rw,relatime", null), ("lv_home", 4, "/home", "rw,nodev,relatime", null),
            ],
            disk.Partitions[2].LogicalVolumes.Select(v => (v.Name!, v.Percent ?? 0, v.MountPoint, v.MountOptions, v.Label)));
        Assert.All(disk.Partitions[2].LogicalVolumes, v => Assert.Equal("xfs", v.FileSystem));
    }

    [Fact]
    public void Mbr_Defaults_AndHashFollowsTheLayout()
    {
        string yaml = Head + "      partition-table: mbr\n      partitions:\n        - file-system: ext4\n          mount: /boot\n          bootable: true\n        - mount: /\n          label: img-rootfs\n    format: raw\n";
        OvercloudRecipe r = OvercloudRecipe.Parse(yaml);
        OvercloudImageRecipe image = r.Images[0];
        Assert.Equal(["d.raw"], image.Files);
        Assert.True(image.BuildByDefault);
        Assert.Equal([("linux", "ext4", "/boot"), ("linux", "xfs", "/")], image.Disk!.Partitions.Select(p => (p.Type, p.Volume!.FileSystem, p.Volume.MountPoint)));
        OvercloudRecipe other = OvercloudRecipe.Parse(yaml.Replace("mount: /boot", "mount: /srv", StringComparison.Ordinal));
        Assert.NotEqual(r.HashFor(r.Images[0]), other.HashFor(other.Images[0]));
    }

    [Theory]
    [InlineData("      partitions:\n        - mount: /var\n", "no volume is mounted at '/'")]
    [InlineData("      partitions:\n        - mount: /\n        - mount: /\n", "recipe:7:18: image 'd': a second volume is mounted at '/'")]
    [InlineData("      partitions:\n        - mount: var\n", "mount 'var' is not a normalized absolute path")]
    [InlineData("      partitions:\n        - mount: /var/../etc\n", "is not a normalized absolute path")]
    [InlineData("      partition-table: mbr\n      partitions:\n        - type: bios\n          size: 1MiB\n        - mount: /\n", "'bios' is not a primary MBR partition type")]
    [InlineData("      partition-table: mbr\n      partitions:\n        - name: root\n          mount: /\n", "MBR partitions have no names")]
    [InlineData("      partition-table: dos\n      partitions:\n        - mount: /\n", "partition-table 'dos' is not one of gpt, mbr")]
    [InlineData("      partitions:\n        - type: bios\n          size: 1MiB\n          mount: /\n", "a BIOS boot partition holds the boot loader's core image")]
    [InlineData("      partitions:\n        - type: bios\n        - mount: /\n", "a partition with no file system or volume group needs a 'size:'")]
    [InlineData("      partitions:\n        - size: 1000\n          mount: /\n", "size '1000' is not a multiple of 1 MiB")]
    [InlineData("      partitions:\n        - size: 8 parsecs\n          mount: /\n", "is not a size")]
    [InlineData("      partitions:\n        - mount: /\n          file-system: vfat\n", "'/' cannot be vfat")]
    [InlineData("      partitions:\n        - mount: /boot/efi\n          file-system: vfat\n          label: MUCH-TOO-LONG\n        - mount: /\n", "the vfat label 'MUCH-TOO-LONG' must be 1 to 11 bytes")]
    [InlineData("      partitions:\n        - mount: /\n          options: rw relatime\n", "mount options 'rw relatime' must be one comma-separated word")]
    [InlineData("      partitions:\n        - mount: /\n          lvm: { vg: vg, volumes: [] }\n", "not both")]
    [InlineData("      partitions:\n        - lvm: { vg: vg, volumes: [{ name: lv, mount: /, file-system: vfat }] }\n", "file-system 'vfat' is not one of xfs, ext4")]
    [InlineData("      partitions:\n        - lvm: { vg: vg, volumes: [{ name: lv, mount: /, size: 60% }, { name: lv2, mount: /var, size: 41% }] }\n", "percentages add up to more than 100%")]
    [InlineData("      partitions:\n        - lvm: { vg: vg, volumes: [{ name: lv, mount: /, size: 0% }] }\n", "is not a percentage of the volume group")]
    [InlineData("      partitions:\n        - lvm: { vg: vg, volumes: [{ name: snapshot1, mount: / }] }\n", "reserved")]
    [InlineData("      partitions:\n        - lvm: { vg: 'v g', volumes: [{ name: lv, mount: / }] }\n", "is not a valid LVM name")]
    [InlineData("      partitions:\n        - lvm: { vg: vg, volumes: [{ name: lv, mount: / }, { name: lv, mount: /var }] }\n", "a second logical volume is named 'lv'")]
    [InlineData("      partitions:\n        - lvm: { vg: vg, volumes: [{ name: lv, mount: / }] }\n        - lvm: { vg: vg, volumes: [{ name: lv2, mount: /var }] }\n", "a second volume group is named 'vg'")]
    [InlineData("      partitions:\n        - label: x\n          size: 1MiB\n        - mount: /\n", "'label' needs a file system on the partition")]
    [InlineData("      partitions: []\n", "'partitions:' is empty")]
    public void Malformed_InvalidDataExceptionWithPosition(string disk, string expected)
    {
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => OvercloudRecipe.Parse(Head + disk));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("recipe:", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("images:\n  - name: d\n    type: whole-disk\n", "has no 'disk:' section")]
    [InlineData("images:\n  - name: d\n    type: whole-disk\n    kernel: d.vmlinuz\n    disk: { partitions: [{ mount: / }] }\n", "unknown key 'kernel'")]
    [InlineData("images:\n  - name: d\n    type: whole-disk\n    format: raw\n    compress: true\n    disk: { partitions: [{ mount: / }] }\n", "compress needs format qcow2")]
    [InlineData("images:\n  - name: d\n    type: whole-disk\n    all: sometimes\n    disk: { partitions: [{ mount: / }] }\n", "all 'sometimes' is not true or false")]
    public void MalformedImage_Refused(string yaml, string expected)
    {
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => OvercloudRecipe.Parse(yaml));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
