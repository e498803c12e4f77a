using System.Runtime.Versioning;
using DiskImage.FileSystems.Fat;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Ext4;

namespace DiskImage.Tests.FileSystems.Fat;

/// <summary>
/// The kernel's <c>vfat</c> driver reads what we wrote (a read-only loop mount, always unmounted and detached).
/// Skips when loop mounts do not work or the kernel has no vfat (the Debian test kernel here has none).
/// </summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "KernelMount")]
public sealed class FatKernelMountTests
{
    [SkippableFact]
    public void RandomSequence_LoopMountedVfat_KernelSeesModelTree()
    {
        Ext4KernelMount.Require();
        string filesystems = File.Exists("/proc/filesystems") ? File.ReadAllText("/proc/filesystems") : string.Empty;
        Skip.IfNot(filesystems.Contains("\tvfat", StringComparison.Ordinal) || File.Exists("/sbin/modprobe"), "the kernel has no vfat driver");
        using var tmp = new TempDirectory();
        string image = tmp.File("fat.img");
        using (var f = new FileStream(image, FileMode.Create))
        {
            f.SetLength(40 << 20);
        }

        using var model = new InMemoryFileSystem();
        using (FatFileSystem fs = FatFileSystem.Open(FatFormatted(image), new FatOpenOptions { Writable = true }))
        {
            new FatRandomOperations(7, model, 32 << 10, fixedRoot: true).Run(fs, 80);
        }

        Ext4KernelMount.Mounted mounted;
        try
        {
            mounted = Ext4KernelMount.Mount(image, tmp.File("mnt"), "vfat", "ro,loop,utf8");
        }
        catch (InvalidOperationException e) when (e.Message.Contains("unknown filesystem type", StringComparison.Ordinal))
        {
            throw new SkipException("the kernel has no vfat driver: " + e.Message.Split('\n')[0]);
        }

        using (mounted)
        {
            FatTestImages.AssertSameTree(FatTestImages.Tree(model), FatTestImages.HostTree(mounted.MountPoint), "kernel vfat vs model");
        }
    }

    private static FileBlockDevice FatFormatted(string image)
    {
        FileBlockDevice dev = FileBlockDevice.Open(image, writable: true);
        FatFileSystem.Format(dev, new FatFormatOptions { Label = "KERNEL" });
        return dev;
    }
}
