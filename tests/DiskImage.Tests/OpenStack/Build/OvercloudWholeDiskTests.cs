using System.Security.Cryptography;
using DiskImage.Customization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Fat;
using DiskImage.FileSystems.InMemory;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.OpenStack.Build;
using DiskImage.Sysprep;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.OpenStack.Build;

/// <summary>
/// Whole-disk outputs of <c>overcloud build</c> from the generated base guest (with an EFI system partition's
/// files under /boot/efi), judged by the real tools only: qemu-img check, sfdisk --verify and sgdisk -v on the raw
/// disk, lvm vgck/pvs/vgs/lvs over a loop device of the LVM partition, xfs_repair -n, e2fsck -fn and fsck.fat -n on
/// every volume copied out at the offsets those tools report, blkid for labels and UUIDs against /etc/fstab; the
/// volumes' trees together equal the customized guest's tree.
/// </summary>
public sealed class OvercloudWholeDiskTests
{
    private const long Epoch = 1_700_000_000;

    private const string Customize = """
        version: 1
        customize:
          - hostname: overcloud
          - write: "/etc/motd:built by diskimage"
          - mkdir: /opt/marker
        sysprep:
          operations: defaults,random-seed
          machine-id: uninitialized
        images:
        """;

    /// <summary>The layout of overcloud-hardened-uefi-full (ESP, BIOS boot, LVM with the DIB volumes), small, with lv_home ext4.</summary>
    private const string GptLvmImage = """
          - name: overcloud-hardened-uefi-full
            type: whole-disk
            all: false
            format: qcow2
            compress: true
            disk:
              partition-table: gpt
              partitions:
                - name: ESP
                  type: esp
                  file-system: vfat
                  mount: /boot/efi
                - name: BSP
                  type: bios
                  size: 1MiB
                - name: root
                  type: linux
                  bootable: true
                  lvm:
                    vg: vg_wdtest
                    volumes:
                      - { name: lv_root, mount: /, label: img-rootfs, options: "rw,relatime" }
                      - { name: lv_tmp, size: 64MiB, mount: /tmp, options: "rw,nosuid,nodev,noexec,relatime" }
                      - { name: lv_var, mount: /var }
                      - { name: lv_log, mount: /var/log }
                      - { name: lv_audit, mount: /var/log/audit }
                      - { name: lv_home, file-system: ext4, mount: /home, label: home, options: "rw,nodev,relatime" }
          - name: overcloud-full
            type: partition
            kernel: false
            initrd: false
        """;

    [SkippableFact]
    public async Task Build_GptLvm_CheckedByRealTools_TreeSplitByMountPoint_FstabNamesVolumes_Reproducible()
    {
        WholeDiskOracle.RequireTools();
        using var dir = new TempDirectory();
        string baseImage = dir.File("base.qcow2");
        using (InMemoryFileSystem tree = GuestWithEsp())
        {
            OvercloudBuildFixture.WriteBaseImage(baseImage, tree);
        }

        string baseSha = OvercloudBuildFixture.Sha256(baseImage);
        OvercloudRecipe recipe = OvercloudRecipe.Parse(Customize + "\n" + GptLvmImage);

        // --all builds only the images the recipe includes in it; naming the whole-disk image builds it.
        OvercloudBuildResult all = await OvercloudBuilder.BuildAsync(recipe, new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("all"), SourceDateEpoch = Epoch });
        Assert.Equal(["overcloud-full.qcow2"], all.Outputs.Select(o => o.File));
        var messages = new List<string>();
        OvercloudBuildResult result = await OvercloudBuilder.BuildAsync(recipe,
            new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("out"), SourceDateEpoch = Epoch, Images = ["overcloud-hardened-uefi-full", "overcloud-full"] },
            new Progress(messages.Add));
        Assert.Equal(["overcloud-hardened-uefi-full.qcow2", "overcloud-full.qcow2"], result.Outputs.Select(o => o.File));
        Assert.Equal(baseSha, OvercloudBuildFixture.Sha256(baseImage));
        string qcow2 = dir.File("out/overcloud-hardened-uefi-full.qcow2");
        ToolResult check = Oracle.Run("qemu-img", "check", qcow2);
        Assert.True(check.ExitCode == 0, check.ToString());
        string raw = dir.File("disk.raw");
        Oracle.RunOk("qemu-img", "convert", "-O", "raw", qcow2, raw);

        // The table: GPT, ESP, BIOS boot, the LVM partition marked legacy-BIOS-bootable; clean for sfdisk and sgdisk.
        (string label, List<WholeDiskOracle.PartitionInfo> parts) = WholeDiskOracle.Partitions(raw);
        Assert.Equal("gpt", label);
        Assert.Equal(["ESP", "BSP", "root"], parts.Select(p => p.Name));
        Assert.Equal(["C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "21686148-6449-6E6F-744E-656564454649", "0FC63DAF-8483-4772-8E79-3D69D8477DE4"], parts.Select(p => p.Type));
        Assert.Equal(1L << 20, parts[1].Size);
        Assert.Contains("LegacyBIOSBootable", parts[2].Attributes ?? string.Empty, StringComparison.Ordinal);
        Assert.All(parts, p => Assert.Equal(0, p.Offset % (1 << 20)));

        // The volume group as lvm reads it: six linear LVs in creation order.
        (string vg, long extents, List<WholeDiskOracle.LogicalVolumeInfo> lvs) = WholeDiskOracle.VolumeGroup(raw, parts[2], "vg_wdtest");
        Assert.Equal("vg_wdtest", vg);
        Assert.True(extents > 0);
        Assert.Equal(["lv_audit", "lv_home", "lv_log", "lv_root", "lv_tmp", "lv_var"], lvs.Select(l => l.Name).Order(StringComparer.Ordinal));
        Assert.Equal(64L << 20, lvs.Single(l => l.Name == "lv_tmp").Size);

        // Every volume is clean for its checker; blkid's label and UUID are what fstab names.
        var mounts = new Dictionary<string, (string Path, string Type, string? Label, string Uuid)>(StringComparer.Ordinal);
        string esp = WholeDiskOracle.Extract(raw, parts[0].Offset, parts[0].Size, dir.File("esp.img"));
        (string espType, string? espLabel, string espUuid) = WholeDiskOracle.Check(esp);
        mounts["/boot/efi"] = (esp, espType, espLabel, espUuid);
        var lvMounts = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["lv_root"] = "/", ["lv_tmp"] = "/tmp", ["lv_var"] = "/var", ["lv_log"] = "/var/log", ["lv_audit"] = "/var/log/audit", ["lv_home"] = "/home",
        };
        foreach (WholeDiskOracle.LogicalVolumeInfo lv in lvs)
        {
            string file = WholeDiskOracle.Extract(raw, lv.Offset, lv.Size, dir.File(lv.Name + ".img"));
            (string type, string? lvLabel, string uuid) = WholeDiskOracle.Check(file);
            mounts[lvMounts[lv.Name]] = (file, type, lvLabel, uuid);
        }

        Assert.Equal("vfat", mounts["/boot/efi"].Type);
        Assert.Equal(("xfs", "img-rootfs"), (mounts["/"].Type, mounts["/"].Label));
        Assert.Equal(("ext4", "home"), (mounts["/home"].Type, mounts["/home"].Label));
        Assert.Equal("xfs", mounts["/var/log/audit"].Type);

        using var rootDevice = FileBlockDevice.Open(mounts["/"].Path);
        using XfsFileSystem root = XfsFileSystem.Open(rootDevice);
        string fstab = OvercloudBuildFixture.ReadText(root, "/etc/fstab");
        var fstabLines = fstab.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')).ToList();
        Assert.Equal(
            [
                "LABEL=img-rootfs / xfs rw,relatime 0 1",
                $"UUID={mounts["/boot/efi"].Uuid} /boot/efi vfat defaults 0 2",
                "LABEL=home /home ext4 rw,nodev,relatime 0 2",
                $"UUID={mounts["/tmp"].Uuid} /tmp xfs rw,nosuid,nodev,noexec,relatime 0 2",
                $"UUID={mounts["/var"].Uuid} /var xfs defaults 0 2",
                $"UUID={mounts["/var/log"].Uuid} /var/log xfs defaults 0 2",
                $"UUID={mounts["/var/log/audit"].Uuid} /var/log/audit xfs defaults 0 2",
            ],
            fstabLines);
        Assert.Contains(WholeDiskFstabWriter.ReplacedPrefix + "tmpfs /tmp tmpfs defaults 0 0", fstab, StringComparison.Ordinal);

        // The volumes' trees, each under its mount point, are the customized guest's tree (fstab and the ESP aside).
        using InMemoryFileSystem expected = ExpectedTree(recipe);
        expected.CreateDirectory("/var/log/audit");
        expected.SetMode("/var/log/audit", (UnixFileMode)0x1ed);
        var actual = new List<string>();
        foreach ((string mount, (string path, string type, _, _)) in mounts)
        {
            if (type == "vfat")
            {
                continue;
            }

            using var device = FileBlockDevice.Open(path);
            using IFileSystem fs = type == "xfs" ? XfsFileSystem.Open(device) : Ext4FileSystem.Open(device);
            foreach (string line in OvercloudBuildFixture.Listing(fs, "/lost+found"))
            {
                actual.Add(mount == "/" ? line : mount + line);
            }
        }

        actual.RemoveAll(l => l.StartsWith("/etc/fstab ", StringComparison.Ordinal) || l.StartsWith("/boot/efi/", StringComparison.Ordinal));
        actual.Sort(StringComparer.Ordinal);
        List<string> want = OvercloudBuildFixture.Listing(expected, "/etc/fstab");
        want.RemoveAll(l => l.StartsWith("/boot/efi/", StringComparison.Ordinal));
        Assert.Equal(want, actual);

        // The ESP holds the guest's /boot/efi files (names, sizes, bytes).
        using (var espDevice = FileBlockDevice.Open(esp))
        using (FatFileSystem fat = FatFileSystem.Open(espDevice))
        {
            Assert.Equal(EspFiles().Select(f => (f.Path, Sha(f.Data))), FatFiles(fat, "/").Order());
        }

        // The partition image built in the same run is unaffected: its fstab is the partition image's.
        string partRaw = dir.File("part.raw");
        Oracle.RunOk("qemu-img", "convert", "-O", "raw", dir.File("out/overcloud-full.qcow2"), partRaw);
        using (var partDevice = FileBlockDevice.Open(partRaw))
        using (XfsFileSystem part = XfsFileSystem.Open(partDevice))
        {
            Assert.Equal("# static file system information\nLABEL=img-rootfs / xfs defaults 0 1\ntmpfs /tmp tmpfs defaults 0 0\n", OvercloudBuildFixture.ReadText(part, "/etc/fstab"));
        }

        // Same inputs and SOURCE_DATE_EPOCH: byte-identical disk.
        OvercloudBuildResult again = await OvercloudBuilder.BuildAsync(recipe,
            new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("again"), SourceDateEpoch = Epoch, Images = ["overcloud-hardened-uefi-full"] });
        if (result.Outputs[0].Sha256 != again.Outputs[0].Sha256)
        {
            string raw2 = dir.File("again.raw");
            Oracle.RunOk("qemu-img", "convert", "-O", "raw", again.Outputs[0].Path, raw2);
            ToolResult cmp = Oracle.Run("cmp", "-l", raw, raw2);
            Assert.Fail("not reproducible: " + string.Join('\n', cmp.StandardOutput.Split('\n').Take(20)));
        }
    }

    [SkippableFact]
    public async Task Build_MbrRaw_BootExt4RootXfs_CheckedByRealTools()
    {
        foreach (string tool in new[] { "sfdisk", "xfs_repair", "e2fsck", "blkid" })
        {
            Oracle.Require(tool);
        }

        using var dir = new TempDirectory();
        string baseImage = dir.File("base.qcow2");
        OvercloudBuildFixture.WriteBaseImage(baseImage);
        const string Image = """
              - name: disk
                type: whole-disk
                format: raw
                disk:
                  partition-table: mbr
                  size: 160MiB
                  partitions:
                    - file-system: ext4
                      mount: /boot
                      label: boot
                      bootable: true
                    - mount: /
                      label: img-rootfs
            """;
        OvercloudRecipe recipe = OvercloudRecipe.Parse(Customize + "\n" + Image);
        OvercloudBuildResult result = await OvercloudBuilder.BuildAsync(recipe, new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("out"), SourceDateEpoch = Epoch });
        string raw = result.Outputs.Single().Path;
        Assert.Equal(160L << 20, new FileInfo(raw).Length);
        (string label, List<WholeDiskOracle.PartitionInfo> parts) = WholeDiskOracle.Partitions(raw);
        Assert.Equal("dos", label);
        Assert.Equal(["83", "83"], parts.Select(p => p.Type));
        Assert.Equal("bootable", parts[0].Attributes);

        // The root takes the rest of the disk (aligned down to 1 MiB).
        Assert.True(parts[1].Offset + parts[1].Size > (159L << 20), $"root ends at {parts[1].Offset + parts[1].Size}");
        (string bootType, string? bootLabel, _) = WholeDiskOracle.Check(WholeDiskOracle.Extract(raw, parts[0].Offset, parts[0].Size, dir.File("boot.img")));
        (string rootType, string? rootLabel, _) = WholeDiskOracle.Check(WholeDiskOracle.Extract(raw, parts[1].Offset, parts[1].Size, dir.File("root.img")));
        Assert.Equal(("ext4", "boot", "xfs", "img-rootfs"), (bootType, bootLabel, rootType, rootLabel));

        using var bootDevice = FileBlockDevice.Open(dir.File("boot.img"));
        using Ext4FileSystem boot = Ext4FileSystem.Open(bootDevice);
        Assert.True(boot.Exists("/vmlinuz-" + OvercloudBuildFixture.KernelVersion));
        using var rootDevice = FileBlockDevice.Open(dir.File("root.img"));
        using XfsFileSystem root = XfsFileSystem.Open(rootDevice);
        Assert.DoesNotContain(root.EnumerateDirectory("/boot"), e => e.Name is not ("." or ".."));
        Assert.Equal(
            "# static file system information\n" + WholeDiskFstabWriter.ReplacedPrefix + "UUID=6a1e0a3c-1b9b-4d0e-9a51-2d4c7d2f0e11 / xfs defaults 0 1\ntmpfs /tmp tmpfs defaults 0 0\n"
                + "LABEL=img-rootfs / xfs defaults 0 1\nLABEL=boot /boot ext4 defaults 0 2\n",
            OvercloudBuildFixture.ReadText(root, "/etc/fstab"));
    }

    [Theory]
    [InlineData("size: 8MiB", "the disk is 8 MiB")]
    [InlineData("size: 64MiB\n      partitions:\n        - mount: /\n          size: 2MiB\n", "Partition 1 (/) is 2 MiB")]
    public async Task Build_TooSmall_NotSupportedNamesTheSize(string disk, string expected)
    {
        using var dir = new TempDirectory();
        string baseImage = dir.File("base.qcow2");
        OvercloudBuildFixture.WriteBaseImage(baseImage);
        string layout = disk.Contains("partitions", StringComparison.Ordinal) ? disk : disk + "\n      partitions:\n        - mount: /\n";
        OvercloudRecipe recipe = OvercloudRecipe.Parse("images:\n  - name: d\n    type: whole-disk\n    format: raw\n    disk:\n      " + layout);
        NotSupportedException e = await Assert.ThrowsAsync<NotSupportedException>(() => OvercloudBuilder.BuildAsync(recipe, new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("out") }));
        Assert.Contains(expected, e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(Directory.GetFiles(dir.File("out")), f => !f.EndsWith(OvercloudBuilder.ManifestFileName, StringComparison.Ordinal));
    }

    [SkippableFact]
    public void Cli_DefaultRecipe_NamedWholeDiskImage_SixGiBGptClean()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("sgdisk");
        using var dir = new TempDirectory();
        string baseImage = dir.File("base.qcow2");
        using (InMemoryFileSystem tree = GuestWithEsp())
        {
            OvercloudBuildFixture.WriteBaseImage(baseImage, tree);
        }

        CliResult built = CliHarness.Run("overcloud", "build", "overcloud-hardened-uefi-full", "--base", baseImage, "-o", dir.File("out"), "--tmpdir", dir.File("scratch"));
        Assert.True(built.ExitCode == 0, built.ToString());
        Assert.Equal(["overcloud-build.json", "overcloud-hardened-uefi-full.qcow2"], Directory.GetFiles(dir.File("out")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        string qcow2 = dir.File("out/overcloud-hardened-uefi-full.qcow2");
        ToolResult check = Oracle.Run("qemu-img", "check", qcow2);
        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.Contains("\"virtual-size\": 6442450944", Oracle.RunOk("qemu-img", "info", "--output=json", qcow2).StandardOutput, StringComparison.Ordinal);
        string raw = dir.File("disk.raw");
        Oracle.RunOk("qemu-img", "convert", "-O", "raw", qcow2, raw);
        ToolResult sg = Oracle.Run("sgdisk", "-v", raw);
        Assert.True(sg.ExitCode == 0 && sg.StandardOutput.Contains("No problems found", StringComparison.Ordinal), sg.ToString());
    }

    private static InMemoryFileSystem GuestWithEsp()
    {
        InMemoryFileSystem fs = OvercloudBuildFixture.Tree();
        fs.CreateDirectory("/boot/efi");
        fs.CreateDirectory("/boot/efi/EFI");
        fs.CreateDirectory("/boot/efi/EFI/BOOT");
        fs.CreateDirectory("/boot/efi/EFI/debian");
        foreach ((string path, byte[] data) in EspFiles())
        {
            using Stream s = fs.OpenFile("/boot/efi" + path, FileMode.CreateNew, FileAccess.Write);
            s.Write(data);
        }

        return fs;
    }

    private static List<(string Path, byte[] Data)> EspFiles()
    {
        var rng = new Random(4242);
        byte[] shim = new byte[90000];
        rng.NextBytes(shim);
        byte[] grub = new byte[150000];
        rng.NextBytes(grub);
        return [("/EFI/BOOT/BOOTX64.EFI", shim), ("/EFI/debian/grub.cfg", "search --label img-rootfs\n"u8.ToArray()), ("/EFI/debian/grubx64.efi", grub)];
    }

    private static InMemoryFileSystem ExpectedTree(OvercloudRecipe recipe)
    {
        InMemoryFileSystem fs = GuestWithEsp();
        Customizer.Apply(fs, CustomizeScript.Parse(recipe.Customize), new CustomizeOptions { RefreshRandomSeedAndMachineId = false });
        SysprepRunner.Run(fs, new SysprepOptions { Operations = SysprepSelection.ParseOperations(recipe.SysprepOperations!), MachineId = recipe.MachineId });
        return fs;
    }

    private static List<(string, string)> FatFiles(IFileSystem fs, string dir)
    {
        var list = new List<(string, string)>();
        foreach (UnixFileInfo e in fs.EnumerateDirectory(dir))
        {
            if (e.Name is "." or "..")
            {
                continue;
            }

            if (e.Type == UnixFileType.Directory)
            {
                list.AddRange(FatFiles(fs, e.Path));
            }
            else
            {
                using Stream s = fs.OpenFile(e.Path, FileMode.Open, FileAccess.Read);
                list.Add((e.Path, Convert.ToHexStringLower(SHA256.HashData(s))));
            }
        }

        return list;
    }

    private static string Sha(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private sealed class Progress(Action<string> action) : IProgress<OvercloudBuildProgress>
    {
        public void Report(OvercloudBuildProgress value) => action(value.ToString());
    }
}
