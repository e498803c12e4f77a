using DiskImage.FileSystems.Xfs;
using DiskImage.Tests.FileSystems.Ext4;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// Remote symlinks whose blocks are contiguous carry one header for the whole extent (the kernel's <c>xfs_symlink</c>
/// writes them so): with 1 KiB blocks a 1000-byte target takes two blocks and one header. Images from mkfs.xfs 6.1
/// filled by the running kernel.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class XfsRemoteSymlinkTests
{
    [SkippableFact]
    [Trait("Category", "KernelMount")]
    public void ReadTarget_KernelMadeTwoBlockSymlink_OneHeaderPerExtent()
    {
        Ext4KernelMount.Require();
        using var temp = new TempDirectory();
        string image = temp.File("k.img");
        XfsTestImages.Format(image, "-b", "size=1024");
        string target = string.Concat(Enumerable.Repeat("0123456789", 100));
        XfsTestImages.Fill(image, temp.File("mnt"), mnt => File.CreateSymbolicLink(Path.Combine(mnt, "long"), target));
        using XfsFileSystem fs = XfsTestImages.Open(image);
        Assert.Equal(target, fs.GetEntry("/long").LinkTarget);
    }
}
