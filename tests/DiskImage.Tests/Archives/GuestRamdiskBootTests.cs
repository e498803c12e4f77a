using System.Runtime.Versioning;
using DiskImage.Archives.Cpio;
using DiskImage.FileSystems;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;

namespace DiskImage.Tests.Archives;

/// <summary>
/// The kernel is the judge of a ramdisk assembled from a guest: Debian's kernel (/boot/vmlinuz-*) boots, under
/// qemu-system-x86_64 with TCG and <c>rdinit=/init</c>, a ramdisk holding the debootstrap guest's dynamically linked
/// bash, mount, grep, cat, ls and sleep with their libraries (nothing else of the guest), and a kernel module with its
/// dependencies (the host's, planted into the guest). The marker script computes its marker in bash, mounts /proc
/// with the guest's mount, loads the module by name (busybox modprobe reading the copied modules.dep) and checks
/// /proc/modules with the guest's grep.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class GuestRamdiskBootTests(ITestOutputHelper output)
{
    private const string InitScript = """
        #!/bin/bash
        mount -t proc proc /proc
        mount -t sysfs sysfs /sys
        echo "GUEST-LS: $(ls /usr/lib/modules)"
        echo "GUEST-VERSION=$(cat /etc/debian_version)"
        /usr/local/bin/busybox modprobe virtio_blk
        if grep -q '^virtio_blk ' /proc/modules && grep -q '^virtio_ring ' /proc/modules; then echo "MODULES-LOADED"; fi
        echo "DISKIMAGE-GUEST-RAMDISK-$((6 * 7))"
        sleep 1
        echo o > /proc/sysrq-trigger
        sleep 5
        """;

    [SkippableFact]
    public async Task Boot_GuestBinariesAndModule_MarkerFromDynamicallyLinkedBash()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        string qemu = Oracle.Require("qemu-system-x86_64");
        string kernel = InitramfsBootTests.RequireFile("/boot", "vmlinuz-*", "a kernel image (apt-get install linux-image-amd64)");
        string version = GuestRamdiskTests.HostKernelVersion();
        string busybox = Oracle.Find("/bin/busybox") ?? Oracle.Require("busybox");

        using var tmp = new TempDirectory();
        string image = tmp.File("ramdisk.gz");
        var options = new GuestRamdiskOptions
        {
            Binaries = ["bash", "mount", "grep", "cat", "ls", "sleep"],
            Modules = ["virtio_blk"],
            KernelVersion = version,
            InitScript = InitScript.Replace("\r\n", "\n", StringComparison.Ordinal) + "\n",
            ExtraFiles =
            [
                GuestRamdiskFile.FromHost(busybox, "/usr/local/bin/busybox", (UnixFileMode)0x1ED),
                GuestRamdiskFile.FromGuest("/etc/debian_version", "/etc/debian_version"),
            ],
            Compression = InitramfsCompression.Gzip,
        };
        using (IFileSystem guest = GuestRamdiskTests.PlantHostModules(tree))
        await using (var fs = File.Create(image))
        {
            await GuestRamdiskBuilder.BuildAsync(guest, options, fs);
        }

        output.WriteLine($"ramdisk: {new FileInfo(image).Length} bytes");
        string console = await Task.Run(() => QemuBoot.Run(qemu, kernel, image, "rdinit=/init", null, "DISKIMAGE-GUEST-RAMDISK-42", TimeSpan.FromSeconds(150), output));
        output.WriteLine(QemuBoot.Tail(console));
        Assert.Contains("DISKIMAGE-GUEST-RAMDISK-42", console, StringComparison.Ordinal);
        Assert.Contains($"GUEST-LS: {version}", console, StringComparison.Ordinal);
        Assert.Contains("GUEST-VERSION=12", console, StringComparison.Ordinal);
        Assert.Contains("MODULES-LOADED", console, StringComparison.Ordinal);
        Assert.DoesNotContain("error while loading shared libraries", console, StringComparison.Ordinal);
    }
}
