using System.Text;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Fat;
using DiskImage.FileSystems.Xfs;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;
using DiskImage.Lvm;
using DiskImage.Partitions;
using DiskImage.Partitions.Gpt;

namespace DiskImage.Benchmarks.Guests;

/// <summary>
/// Builds the whole-disk guest of the inspection benchmark with DiskImage's own writers, laid out like the TripleO
/// whole-disk overcloud image: a 20 GiB sparse qcow2 with GPT, an EFI system partition (FAT32), a BIOS boot
/// partition and an LVM2 PV holding <c>lv_root</c> (ext4, the debootstrap tree named by
/// <c>DISKIMAGE_DEBOOTSTRAP_TREE</c>, else a small generated tree), <c>lv_var</c> (XFS of the tree's /var) and <c>lv_log</c> (ext4),
/// with an <c>/etc/fstab</c> naming them by <c>/dev/mapper</c>, <c>/dev/VG/LV</c>, <c>LABEL=</c> and <c>UUID=</c>.
/// </summary>
internal static class GuestBenchData
{
    /// <summary>The virtual size of the disk.</summary>
    public const long DiskSize = 20L << 30;

    /// <summary>The fixed FAT volume id of the ESP (fstab names it UUID=7A3C-19E5).</summary>
    private const uint EspVolumeId = 0x7A3C19E5;

    /// <summary>Creates the guest at <paramref name="path"/> (replacing a file there) from <paramref name="tree"/>, or from a generated tree when null.</summary>
    public static void Build(string path, string? tree)
    {
        string? scratch = null;
        try
        {
            if (tree is null)
            {
                scratch = BenchmarkData.CreateScratchDirectory();
                tree = Path.Combine(scratch, "root");
                GenerateTree(tree);
            }

            using Qcow2Image image = Qcow2Image.Create(path, DiskSize, overwrite: true);
            GptPartitionTable table = GptPartitionTable.Create(image.Content);
            table.Add(new PartitionAddOptions { Size = 1 << 20, Type = "bios", Name = "bios" });
            table.Add(new PartitionAddOptions { Size = 512 << 20, Type = "efi", Name = "ESP" });
            table.Add(new PartitionAddOptions { Type = "lvm", Name = "lvm" });
            using (BlockDevice esp = table.OpenPartition(2))
            {
                FatFileSystem.Format(esp, new FatFormatOptions { Type = FatType.Fat32, Label = "ESP", VolumeId = EspVolumeId });
                using FatFileSystem fat = FatFileSystem.Open(esp, new FatOpenOptions { Writable = true }, leaveOpen: true);
                fat.CreateDirectory("/EFI");
                fat.CreateDirectory("/EFI/debian");
                Write(fat, "/EFI/debian/grub.cfg", "search.fs_label img-rootfs root\nconfigfile ($root)/boot/grub/grub.cfg\n");
            }

            using BlockDevice pv = table.OpenPartition(3);
            LvmVolumeGroup vg = LvmVolumeGroup.Create("vg", [pv]);
            vg.CreateLogicalVolume("lv_root", 10L << 30);
            vg.CreateLogicalVolume("lv_var", 4L << 30);
            vg.CreateLogicalVolume("lv_log", 2L << 30);
            using (BlockDevice root = vg.GetLogicalVolume("lv_root")!.Open(writable: true))
            {
                Ext4FileSystem.Build(root, tree, new Ext4BuildOptions { Format = new Ext4FormatOptions { Label = "img-rootfs" } });
                using Ext4FileSystem fs = Ext4FileSystem.Open(root, new Ext4OpenOptions { Writable = true }, leaveOpen: true);
                foreach (string dir in new[] { "/boot", "/boot/efi", "/var" })
                {
                    if (!fs.Exists(dir))
                    {
                        fs.CreateDirectory(dir);
                    }
                }

                Write(fs, "/etc/fstab", """
                    /dev/mapper/vg-lv_root / ext4 defaults 0 1
                    UUID=7A3C-19E5 /boot/efi vfat umask=0077 0 2
                    /dev/vg/lv_var /var xfs defaults 0 2
                    LABEL=log /var/log ext4 defaults 0 2

                    """);
                Write(fs, "/etc/hostname", "overcloud-bench\n");
            }

            // /var is the tree's own /var (virt-inspector reads /var/lib/dpkg/status through the mounts).
            string varTree = Path.Combine(tree, "var");
            using (BlockDevice var = vg.GetLogicalVolume("lv_var")!.Open(writable: true))
            {
                XfsFileSystem.Build(var, varTree, new XfsBuildOptions { Format = new XfsFormatOptions { Label = "var" } });
            }

            using (BlockDevice log = vg.GetLogicalVolume("lv_log")!.Open(writable: true))
            {
                Ext4FileSystem.Format(log, new Ext4FormatOptions { Label = "log" });
                using Ext4FileSystem fs = Ext4FileSystem.Open(log, new Ext4OpenOptions { Writable = true }, leaveOpen: true);
                Write(fs, "/on-log", "log\n");
            }

            image.Flush();
        }
        finally
        {
            BenchmarkData.DeleteScratchDirectory(scratch);
        }
    }

    /// <summary>The tree used without a debootstrap tree: what inspection reads (os-release, fstab, hostname, an ELF /bin/sh).</summary>
    private static void GenerateTree(string root)
    {
        foreach (string dir in new[] { "etc", "usr/bin", "usr/lib", "boot", "var/log", "var/lib/dpkg", "tmp", "root", "home" })
        {
            Directory.CreateDirectory(Path.Combine(root, dir));
        }

        File.CreateSymbolicLink(Path.Combine(root, "bin"), "usr/bin");
        File.CreateSymbolicLink(Path.Combine(root, "lib"), "usr/lib");
        File.WriteAllText(Path.Combine(root, "etc", "os-release"), "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n");
        File.WriteAllText(Path.Combine(root, "etc", "debian_version"), "12.15\n");
        File.WriteAllText(Path.Combine(root, "etc", "fstab"), "# replaced\n");
        File.WriteAllText(Path.Combine(root, "etc", "hosts"), "127.0.0.1 localhost\n");
        File.WriteAllText(Path.Combine(root, "var", "lib", "dpkg", "status"), string.Empty);

        // A minimal x86-64 ELF header is all the architecture probe reads.
        byte[] elf = new byte[64];
        "\u007fELF"u8.CopyTo(elf);
        elf[4] = 2;  // ELFCLASS64
        elf[5] = 1;  // little-endian
        elf[6] = 1;  // EV_CURRENT
        elf[16] = 2; // ET_EXEC
        elf[18] = 62; // EM_X86_64
        elf[20] = 1;
        File.WriteAllBytes(Path.Combine(root, "usr", "bin", "sh"), elf);
        var random = new Random(BenchmarkData.Seed);
        byte[] text = new byte[64 << 10];
        for (int i = 0; i < 200; i++)
        {
            int n = random.Next(1, text.Length);
            BenchmarkData.FillText(random, text.AsSpan(0, n));
            File.WriteAllBytes(Path.Combine(root, "usr", "lib", $"file{i:D3}"), text.AsSpan(0, n).ToArray());
        }
    }

    private static void Write(IFileSystem fs, string path, string text)
    {
        using Stream s = fs.OpenFile(path, FileMode.Create, FileAccess.Write);
        s.Write(Encoding.UTF8.GetBytes(text));
    }
}
