using DiskImage.OpenStack.Build;

namespace DiskImage.Tests.OpenStack.Build;

/// <summary>The fstab of a partition image: / by label, merged mounts commented out, the rest kept.</summary>
public sealed class FstabRewriterTests
{
    [Fact]
    public void Rewrite_RootByLabel_MergedMountsCommented_OthersKept()
    {
        const string Fstab = "# comment\r\nUUID=1111 / ext4 errors=remount-ro 0 1\nUUID=2222 /boot ext4 defaults 0 2\nUUID=3333 /boot/efi/ vfat umask=0077 0 1\n"
            + "UUID=4444 none swap sw 0 0\ntmpfs /tmp tmpfs defaults 0 0\nnfs:/export /srv nfs defaults 0 0\n";
        string result = FstabRewriter.Rewrite(Fstab, "img-rootfs", "xfs", ["/boot", "/boot/efi"]);
        Assert.Equal(
            "# comment\nLABEL=img-rootfs / xfs defaults 0 1\n"
            + FstabRewriter.MergedPrefix + "UUID=2222 /boot ext4 defaults 0 2\n"
            + FstabRewriter.MergedPrefix + "UUID=3333 /boot/efi/ vfat umask=0077 0 1\n"
            + "UUID=4444 none swap sw 0 0\ntmpfs /tmp tmpfs defaults 0 0\nnfs:/export /srv nfs defaults 0 0\n",
            result);
    }

    [Theory]
    [InlineData(null, "LABEL=root / ext4 defaults 0 1\n")]
    [InlineData("# UNCONFIGURED FSTAB FOR BASE SYSTEM\n", "# UNCONFIGURED FSTAB FOR BASE SYSTEM\nLABEL=root / ext4 defaults 0 1\n")]
    [InlineData("/dev/sda1\t/\text4\tnoatime,discard\t0\t1\n/dev/sda2 / xfs defaults\n", "LABEL=root / ext4 noatime,discard 0 1\n# merged into the partition image: /dev/sda2 / xfs defaults\n")]
    public void Rewrite_MissingOrRepeatedRoot(string? fstab, string expected) =>
        Assert.Equal(expected, FstabRewriter.Rewrite(fstab, "root", "ext4", []));
}
