using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.OpenStack.Build;
using DiskImage.Partitions;
using DiskImage.Partitions.Mbr;
using DiskImage.Formats;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.OpenStack.Build;

/// <summary>
/// The base guest <c>overcloud build</c> makes when no --base is given: generated or from the debootstrap tree, with
/// the host's kernel or placeholders, judged by qemu-img check, xfs_repair -n and a full default-recipe build.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class OvercloudBaseGuestTests
{
    private const long Epoch = 1_700_000_000;

    [SkippableFact]
    public async Task Generated_NoHostRoot_PlaceholdersSaySo_DefaultRecipeBuildsEveryOutput()
    {
        using var dir = new TempDirectory();
        string basePath = dir.File("base.qcow2");
        OvercloudBaseGuestResult made = await OvercloudBaseGuest.CreateAsync(basePath, new OvercloudBaseGuestOptions { HostRoot = null, SourceDateEpoch = Epoch });
        Assert.Equal(OvercloudBaseGuest.PlaceholderKernelVersion, made.KernelVersion);
        Assert.Contains("/boot/vmlinuz-" + OvercloudBaseGuest.PlaceholderKernelVersion, made.Placeholders);
        Assert.Contains("/usr/bin/python3", made.Placeholders);
        Assert.Contains("/usr/bin/sh", made.Placeholders);
        CheckDisk(basePath);

        OvercloudBuildResult built = await OvercloudBuilder.BuildAsync(OvercloudRecipe.Default, new OvercloudBuildOptions { BaseImage = basePath, OutputDirectory = dir.File("out"), SourceDateEpoch = Epoch });
        Assert.Equal(["overcloud-full.qcow2", "overcloud-full.vmlinuz", "overcloud-full.initrd", "deploy-ramdisk-ironic.kernel", "deploy-ramdisk-ironic.initramfs", "ironic-python-agent.kernel", "ironic-python-agent.initramfs"],
            built.Outputs.Select(o => o.File));
        Assert.All(built.Outputs, o => Assert.Equal(OvercloudBuildAction.Built, o.Action));
        Assert.StartsWith("#!/bin/sh\n# DISKIMAGE PLACEHOLDER", File.ReadAllText(dir.File("out/overcloud-full.vmlinuz")), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Generated_HostKernel_DefaultRecipe_EveryOutputChecked_SameBytesTwice()
    {
        Skip.If(!Directory.EnumerateFiles("/boot", "vmlinuz-*").Any(f => IsReadable(f)), "the host has no readable /boot/vmlinuz-*");
        using var dir = new TempDirectory();
        var options = new OvercloudBaseGuestOptions { SourceDateEpoch = Epoch };
        OvercloudBaseGuestResult made = await OvercloudBaseGuest.CreateAsync(dir.File("base.qcow2"), options);
        await OvercloudBaseGuest.CreateAsync(dir.File("again.qcow2"), options);
        Assert.Equal(OvercloudBuildFixture.Sha256(dir.File("base.qcow2")), OvercloudBuildFixture.Sha256(dir.File("again.qcow2")));
        Assert.DoesNotContain(made.Placeholders, p => p.StartsWith("/boot/", StringComparison.Ordinal) || p.Contains("/modules/", StringComparison.Ordinal));
        Assert.NotEqual(OvercloudBaseGuest.PlaceholderKernelVersion, made.KernelVersion);
        Assert.Equal(["/usr/bin/blkid", "/usr/bin/lsblk", "/usr/bin/python3", "/usr/bin/qemu-img", "/usr/bin/sfdisk"], made.Placeholders.Order(StringComparer.Ordinal));
        CheckDisk(dir.File("base.qcow2"));

        OvercloudBuildResult built = await OvercloudBuilder.BuildAsync(OvercloudRecipe.Default, new OvercloudBuildOptions { BaseImage = made.Path, OutputDirectory = dir.File("out"), SourceDateEpoch = Epoch });
        Assert.All(built.Outputs, o => Assert.Equal(OvercloudBuildAction.Built, o.Action));
        Assert.Equal(7, built.Outputs.Count);
        CheckDisk(dir.File("out/overcloud-full.qcow2"));
        if (Oracle.Find("cpio") is not null)
        {
            string listing = Oracle.RunOk("sh", "-c", $"gzip -dc '{dir.File("out/deploy-ramdisk-ironic.initramfs")}' | cpio -it --quiet").StandardOutput;
            Assert.Contains("init", listing.Split('\n'));
            Assert.Contains("usr/bin/busybox", listing.Split('\n'));
            Assert.Contains(listing.Split('\n'), l => l.EndsWith("/xfs.ko", StringComparison.Ordinal) || l.EndsWith("/xfs.ko.xz", StringComparison.Ordinal) || l.EndsWith("/xfs.ko.zst", StringComparison.Ordinal));
        }
    }

    private static bool IsReadable(string path)
    {
        try
        {
            using FileStream f = File.OpenRead(path);
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static void CheckDisk(string qcow2)
    {
        if (Oracle.Find("qemu-img") is not null)
        {
            ToolResult check = Oracle.Run("qemu-img", "check", qcow2);
            Assert.True(check.ExitCode == 0, check.ToString());
        }
    }
}
