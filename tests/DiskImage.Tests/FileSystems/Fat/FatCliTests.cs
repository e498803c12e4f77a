using DiskImage.FileSystems.Fat;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Fat;

/// <summary>
/// The CLI on FAT images: <c>mkfs fat</c>, and <c>ls</c>, <c>cat</c>, <c>copy-in</c>, <c>copy-out</c> detecting
/// FAT by its boot sector; judged by <c>fsck.fat -n</c> and <c>mcopy -s</c> (dosfstools 4.2, mtools 4.0.32).
/// </summary>
public sealed class FatCliTests
{
    [SkippableFact]
    public void MkfsFat_CopyInLsCatCopyOut_FsckCleanAndMtoolsAgree()
    {
        Oracle.Require("fsck.fat");
        using var tmp = new TempDirectory();
        string image = tmp.File("esp.img");
        CliHarness.RunOk("mkfs", "-L", "ESP", "--size", "40M", "fat", image);
        using (FatFileSystem fs = FatTestImages.Open(image))
        {
            Assert.Equal((FatType.Fat16, "ESP"), (fs.Type, fs.Label));
        }

        string src = tmp.File("src");
        FatTestImages.WriteSampleTree(src, 2048, 5);
        CliHarness.RunOk("copy-in", image, Path.Combine(src, "EFI"), Path.Combine(src, "A long directory name"), Path.Combine(src, "Makefile"), "/");
        FatTestImages.FsckClean(image);

        CliResult ls = CliHarness.RunOk("ls", image, "/");
        Assert.Equal(["A long directory name", "EFI", "Makefile"], ls.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
        CliResult cat = CliHarness.RunOk("cat", image, "/efi/boot/GRUB.CFG");
        Assert.Equal(File.ReadAllText(Path.Combine(src, "EFI", "BOOT", "grub.cfg")), cat.StandardOutput);

        string outDir = tmp.File("out");
        Directory.CreateDirectory(outDir);
        CliHarness.RunOk("copy-out", image, "/", outDir);
        string mtoolsDir = tmp.File("mtools");
        FatTestImages.McopyOut(image, mtoolsDir);
        FatTestImages.AssertSameTree(FatTestImages.HostTree(mtoolsDir), FatTestImages.HostTree(outDir), "copy-out vs mcopy -s");
        Assert.True(File.Exists(Path.Combine(outDir, "A long directory name", "nested deeper", "and deeper still", "leaf.dat")));
    }

    [Fact]
    public void MkfsFat32_SmallImage_ExitCode1WithReason()
    {
        using var tmp = new TempDirectory();
        CliResult r = CliHarness.Run("mkfs", "--size", "4M", "fat32", tmp.File("x.img"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("FAT32", r.StandardError, StringComparison.Ordinal);
    }
}
