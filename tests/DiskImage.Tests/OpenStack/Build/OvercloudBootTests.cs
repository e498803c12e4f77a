using System.Diagnostics;
using System.Runtime.Versioning;
using DiskImage.FileSystems.Host;
using DiskImage.OpenStack.Build;
using DiskImage.Tests.Archives;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;

namespace DiskImage.Tests.OpenStack.Build;

/// <summary>
/// Issue 13, acceptance 1 (the boot): <c>overcloud build</c> from a base guest made by our writers (MBR + XFS root of
/// the debootstrap tree, with the host's Debian kernel and initramfs-tools initrd in its /boot), judged by the kernel
/// under qemu-system-x86_64 (TCG). The partition image's kernel and initrd mount <c>overcloud-full.qcow2</c> as the
/// root by <c>root=LABEL=img-rootfs</c> and run the marker the recipe installed as <c>init=</c>; the agent ramdisk's
/// kernel boots its initramfs with <c>rdinit=/init</c>, the recipe's script run by the guest's dynamically linked bash
/// (ls, cat, mount and sleep too); the deploy ramdisk (zstd) loads virtio_pci and virtio_blk from the modules it carries
/// (installed into the guest by the recipe's copy-in, with busybox for modprobe) and sees the virtio disk.
/// </summary>
/// <remarks>
/// The debootstrap minbase tree has no init system, so the partition image boots a marker script instead of systemd.
/// The root boot runs next to the two ramdisk boots (one TCG CPU each).
/// </remarks>
[SupportedOSPlatform("linux")]
public sealed class OvercloudBootTests(ITestOutputHelper output)
{
    private const string MarkerPath = "/usr/local/sbin/overcloud-boot-marker";
    private const string HostName = "overcloud-bootcheck";
    private const string RootDone = "DISKIMAGE-OVERCLOUD-ROOT-DONE";
    private const string RamdiskDone = "DISKIMAGE-OVERCLOUD-RAMDISK-42";
    private const string DeployDone = "DISKIMAGE-OVERCLOUD-DEPLOY-42";

    private const string Recipe = """
        version: 1
        customize:
          - hostname: overcloud-bootcheck
          - write: |-
              /usr/local/sbin/overcloud-boot-marker:#!/bin/sh
              # PID 1 of the boot check (the guest has no init system): print what the root is, then power off.
              PATH=/usr/sbin:/usr/bin:/sbin:/bin
              export PATH
              mount -t proc proc /proc
              dev=$(grep ' / ' /proc/mounts | tail -n 1 | cut -d' ' -f1)
              echo "DISKIMAGE-OVERCLOUD|root|$dev $(grep ' / ' /proc/mounts | tail -n 1 | cut -d' ' -f3)"
              echo "DISKIMAGE-OVERCLOUD|label|$(blkid -s LABEL -o value "$dev")"
              echo "DISKIMAGE-OVERCLOUD|hostname|$(cat /etc/hostname)"
              echo "DISKIMAGE-OVERCLOUD|fstab|$(grep -v '^#' /etc/fstab | grep ' / ')"
              echo "DISKIMAGE-OVERCLOUD|cmdline|$(cat /proc/cmdline)"
              echo DISKIMAGE-OVERCLOUD-ROOT-DONE
              echo o > /proc/sysrq-trigger
              sleep 60
          - chmod: "0755:/usr/local/sbin/overcloud-boot-marker"
          - mkdir: /usr/lib/modules
          - copy-in: "@MODULES@:/usr/lib"
          - upload: "@BUSYBOX@:/usr/local/bin/busybox"
          - chmod: "0755:/usr/local/bin/busybox"
        sysprep:
          operations: defaults
          machine-id: uninitialized
        images:
          - name: overcloud-full
            type: partition
            file-system: xfs
            label: img-rootfs
            format: qcow2
          - name: ironic-python-agent
            type: ramdisk
            ramdisk:
              binaries: [bash, ls, cat, mount, sleep]
              files: [/etc/debian_version]
              init: |
                #!/bin/bash
                mount -t proc proc /proc
                for l in $(cat /proc/$$/maps); do
                  case "$l" in
                    */ld-linux-x86-64.so.2) ld=$l ;;
                    */libc.so.6) libc=$l ;;
                  esac
                done
                echo "DISKIMAGE-RAMDISK|bash-maps|$ld $libc"
                programs=($(ls /usr/bin))
                echo "DISKIMAGE-RAMDISK|ls|${programs[*]}"
                echo "DISKIMAGE-RAMDISK|version|$(cat /etc/debian_version)"
                echo "DISKIMAGE-RAMDISK|cmdline|$(cat /proc/cmdline)"
                echo "DISKIMAGE-OVERCLOUD-RAMDISK-$((6 * 7))"
                sleep 1
                echo o > /proc/sysrq-trigger
                sleep 5
          - name: deploy-ramdisk
            type: ramdisk
            kernel: deploy.kernel
            initramfs: deploy.initramfs
            ramdisk:
              binaries: [bash, cat, /usr/local/bin/busybox]
              modules: [virtio_pci, virtio_blk]
              compression: zstd
              init: |
                #!/bin/bash
                /usr/local/bin/busybox mount -t proc proc /proc
                /usr/local/bin/busybox mount -t sysfs sysfs /sys
                /usr/local/bin/busybox modprobe virtio_pci
                /usr/local/bin/busybox modprobe virtio_blk
                while read -r name rest; do
                  case "$name" in virtio_blk|virtio_pci) echo "DISKIMAGE-DEPLOY|module|$name" ;; esac
                done < /proc/modules
                for i in {1..30}; do [ -e /sys/block/vda/size ] && break; /usr/local/bin/busybox sleep 1; done
                echo "DISKIMAGE-DEPLOY|disk|$(cat /sys/block/vda/size)"
                echo "DISKIMAGE-OVERCLOUD-DEPLOY-$((6 * 7))"
                /usr/local/bin/busybox sleep 1
                echo o > /proc/sysrq-trigger
                /usr/local/bin/busybox sleep 5
        """;

    [SkippableFact]
    public async Task Build_DebootstrapGuest_PartitionImageBootsByLabel_RamdiskRunsGuestBash()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        string qemu = Oracle.Require("qemu-system-x86_64");
        Oracle.Require("qemu-img");
        string hostKernel = InitramfsBootTests.RequireFile("/boot", "vmlinuz-*", "a kernel image (apt-get install linux-image-amd64)");
        string version = Path.GetFileName(hostKernel)["vmlinuz-".Length..];
        string hostInitrd = "/boot/initrd.img-" + version;
        if (!File.Exists(hostInitrd))
        {
            string reason = $"{hostInitrd} is missing (the partition image boots with the kernel's initramfs-tools initrd)";
            Assert.False(Oracle.Required, reason);
            throw new SkipException(reason);
        }

        var clock = Stopwatch.StartNew();
        using var dir = new TempDirectory();

        // The base guest: the debootstrap tree with the host's kernel and initrd as its /boot (it has neither).
        string boot = dir.File("boot");
        Directory.CreateDirectory(boot);
        File.Copy(hostKernel, Path.Combine(boot, "vmlinuz-" + version));
        File.Copy(hostInitrd, Path.Combine(boot, "initrd.img-" + version));
        string baseImage = dir.File("debian.qcow2");
        OvercloudBuildFixture.WriteBaseImage(baseImage, new PrefixOverlayFileSystem(new HostDirectoryFileSystem(tree), "/boot", new HostDirectoryFileSystem(boot)));
        output.WriteLine($"base image written at {clock.Elapsed.TotalSeconds:F1} s");

        // What the recipe installs for the deploy ramdisk: the host's modules.* indexes, virtio_pci and virtio_blk
        // with their dependencies (modprobe --show-depends), and busybox for modprobe (minbase has no kmod).
        string modules = dir.File("modules");
        foreach (string f in Directory.GetFiles("/lib/modules/" + version, "modules.*"))
        {
            Directory.CreateDirectory(Path.Combine(modules, version));
            File.Copy(f, Path.Combine(modules, version, Path.GetFileName(f)));
        }

        ToolResult deps = Oracle.Run(Oracle.Find("/sbin/modprobe") ?? Oracle.Require("modprobe"), ["-S", version, "-a", "--show-depends", "virtio_pci", "virtio_blk"], TimeSpan.FromSeconds(30));
        Assert.True(deps.ExitCode == 0, deps.ToString());
        foreach (string line in deps.StandardOutput.Split('\n'))
        {
            string ko = line.StartsWith("insmod /lib/modules/", StringComparison.Ordinal) ? line[7..].Trim() : string.Empty;
            string target = ko.Length > 0 ? Path.Combine(modules, ko["/lib/modules/".Length..]) : string.Empty;
            if (ko.Length > 0 && !File.Exists(target))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(ko, target);
            }
        }

        string busybox = Oracle.Find("/bin/busybox") ?? Oracle.Require("busybox");
        string recipe = Recipe.Replace("@MODULES@", modules, StringComparison.Ordinal).Replace("@BUSYBOX@", busybox, StringComparison.Ordinal);
        string outDir = dir.File("out");
        OvercloudBuildResult result = await OvercloudBuilder.BuildAsync(OvercloudRecipe.Parse(recipe), new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = outDir, SourceDateEpoch = 1_700_000_000 });
        Assert.All(result.Outputs, o => Assert.Equal(OvercloudBuildAction.Built, o.Action));
        output.WriteLine($"overcloud build done at {clock.Elapsed.TotalSeconds:F1} s");
        string Out(string name) => Path.Combine(outDir, name);
        Assert.Equal(OvercloudBuildFixture.Sha256(hostKernel), OvercloudBuildFixture.Sha256(Out("overcloud-full.vmlinuz")));
        Assert.Equal(OvercloudBuildFixture.Sha256(hostKernel), OvercloudBuildFixture.Sha256(Out("ironic-python-agent.kernel")));
        ToolResult check = Oracle.Run("qemu-img", "check", Out("overcloud-full.qcow2"));
        Assert.True(check.ExitCode == 0, check.ToString());

        // Both boots at once: each qemu is one TCG thread.
        TimeSpan timeout = TimeSpan.FromMinutes(4);
        Task<string> rootBoot = Task.Run(() => QemuBoot.Run(qemu, Out("overcloud-full.vmlinuz"), Out("overcloud-full.initrd"), $"root=LABEL=img-rootfs init={MarkerPath}", Out("overcloud-full.qcow2"), RootDone, timeout, output));
        Task<string> ramdiskBoot = Task.Run(() => QemuBoot.Run(qemu, Out("ironic-python-agent.kernel"), Out("ironic-python-agent.initramfs"), "rdinit=/init", null, RamdiskDone, timeout, output));
        Task<string> deployBoot = ramdiskBoot.ContinueWith(_ => QemuBoot.Run(qemu, Out("deploy.kernel"), Out("deploy.initramfs"), "rdinit=/init", Out("overcloud-full.qcow2"), DeployDone, timeout, output, readOnly: true), TaskScheduler.Default);
        string[] consoles = await Task.WhenAll(rootBoot, ramdiskBoot, deployBoot);
        output.WriteLine($"boots done at {clock.Elapsed.TotalSeconds:F1} s");

        List<string> root = Marks(consoles[0], "DISKIMAGE-OVERCLOUD|");
        output.WriteLine(string.Join('\n', root));
        string why = "console:\n" + QemuBoot.Tail(consoles[0]);
        Assert.True(consoles[0].Contains(RootDone, StringComparison.Ordinal), why);
        Assert.True(root.Contains("root|/dev/vda xfs"), why);
        Assert.True(root.Contains("label|img-rootfs"), why);
        Assert.True(root.Contains("hostname|" + HostName), why);
        Assert.True(root.Any(m => m.StartsWith("fstab|LABEL=img-rootfs / xfs ", StringComparison.Ordinal)), why);
        Assert.True(root.Any(m => m.StartsWith("cmdline|", StringComparison.Ordinal) && m.Contains("root=LABEL=img-rootfs", StringComparison.Ordinal)), why);

        List<string> ramdisk = Marks(consoles[1], "DISKIMAGE-RAMDISK|");
        output.WriteLine(string.Join('\n', ramdisk));
        why = "console:\n" + QemuBoot.Tail(consoles[1]);
        Assert.True(consoles[1].Contains(RamdiskDone, StringComparison.Ordinal), why);
        Assert.DoesNotContain("error while loading shared libraries", consoles[1], StringComparison.Ordinal);
        Assert.True(ramdisk.Any(m => m.StartsWith("bash-maps|/", StringComparison.Ordinal) && m.Contains("/ld-linux-x86-64.so.2 /", StringComparison.Ordinal) && m.EndsWith("/libc.so.6", StringComparison.Ordinal)), why);
        Assert.True(ramdisk.Any(m => m.StartsWith("ls|", StringComparison.Ordinal) && m.Contains("bash", StringComparison.Ordinal) && m.Contains("sleep", StringComparison.Ordinal)), why);
        Assert.True(ramdisk.Contains("version|" + File.ReadAllText(Path.Combine(tree, "etc/debian_version")).Trim()), why);
        Assert.True(ramdisk.Any(m => m.StartsWith("cmdline|", StringComparison.Ordinal) && m.Contains("rdinit=/init", StringComparison.Ordinal)), why);

        // The deploy ramdisk loads virtio_pci and virtio_blk (with their dependencies) from the modules it carries and sees the disk.
        List<string> deploy = Marks(consoles[2], "DISKIMAGE-DEPLOY|");
        output.WriteLine(string.Join('\n', deploy));
        why = "console:\n" + QemuBoot.Tail(consoles[2]);
        Assert.True(consoles[2].Contains(DeployDone, StringComparison.Ordinal), why);
        Assert.True(deploy.Contains("module|virtio_blk") && deploy.Contains("module|virtio_pci"), why);
        Assert.True(deploy.Contains("disk|" + VirtualSectors(Out("overcloud-full.qcow2"))), why);
    }

    private static long VirtualSectors(string qcow2)
    {
        using var image = DiskImage.Formats.Qcow2.Qcow2Image.Open(qcow2);
        return image.Content.Length / 512;
    }

    private static List<string> Marks(string console, string prefix)
    {
        var marks = new List<string>();
        foreach (string line in console.Split('\n'))
        {
            int at = line.IndexOf(prefix, StringComparison.Ordinal);
            if (at >= 0)
            {
                marks.Add(line[(at + prefix.Length)..].TrimEnd());
            }
        }

        return marks;
    }
}
