using System.Runtime.Versioning;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Archives.CpioTestSupport;

namespace DiskImage.Tests.Cli;

/// <summary>The initramfs verbs, judged by Debian's lsinitramfs and GNU cpio.</summary>
[SupportedOSPlatform("linux")]
public sealed class InitramfsCliTests
{
    [SkippableTheory]
    [InlineData("zstd")]
    [InlineData("gzip")]
    public void LsInitramfs_OurImage_SamePathsAsDebianLsinitramfs(string compression)
    {
        Oracle.Require("lsinitramfs");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), early = tmp.File("early"), image = tmp.File("initrd.img");
        Directory.CreateDirectory(src);
        MakeTree(src, specials: false);
        Directory.CreateDirectory(Path.Combine(early, "kernel/x86/microcode"));
        File.WriteAllBytes(Path.Combine(early, "kernel/x86/microcode/GenuineIntel.bin"), new byte[100]);
        CliHarness.RunOk("mkinitramfs", src, "-o", image, "--compress", compression, "--early", early, "--reproducible", "--root-owner");

        string[] expected = Lines(Shell($"lsinitramfs {Quote(image)}").StandardOutput);
        CliResult ours = CliHarness.RunOk("lsinitramfs", image);
        Assert.Equal(expected.Order(StringComparer.Ordinal), Lines(ours.StandardOutput).Order(StringComparer.Ordinal));
        Assert.Contains("kernel/x86/microcode/GenuineIntel.bin", expected);
        Assert.Contains("usr/lib/link-rel", expected);
        Assert.Equal("", ours.StandardError);

        CliResult longListing = CliHarness.RunOk("lsinitramfs", "-l", image);
        Assert.Contains(Lines(longListing.StandardOutput), l => l.StartsWith("lrwxrwxrwx", StringComparison.Ordinal) && l.EndsWith("usr/lib/link-rel -> ../../etc/conf.d/x.conf", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("zstd")]
    [InlineData("lz4")]
    [InlineData("bzip2")]
    public void UnpackInitramfs_OurImage_SameTree(string compression)
    {
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), dst = tmp.File("dst"), image = tmp.File("initrd.img");
        Directory.CreateDirectory(src);
        MakeTree(src, specials: false);
        CliHarness.RunOk("mkinitramfs", "--compress", compression, "-o", image, src);
        CliResult r = CliHarness.RunOk("unpack-initramfs", image, dst);
        Assert.Equal("", r.StandardOutput);
        AssertSameTree(src, dst, withTimes: true);
    }

    [SkippableTheory]
    [InlineData("newc")]
    [InlineData("crc")]
    public void MkInitramfs_CompressNone_GnuCpioListsIt(string format)
    {
        Oracle.Require("cpio");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), image = tmp.File("a.cpio");
        Directory.CreateDirectory(src);
        MakeTree(src, specials: false);
        CliHarness.RunOk("mkinitramfs", src, "-o", image, "--compress", "none", "--format", format);
        string[] expected = Lines(Shell($"cpio -it --quiet < {Quote(image)}").StandardOutput);
        Assert.Equal(expected, Lines(CliHarness.RunOk("lsinitramfs", image).StandardOutput));
        Assert.Contains("etc/conf.d/x.conf", expected);
    }

    [Fact]
    public void MkInitramfs_Reproducible_SameBytesTwice()
    {
        using var tmp = new TempDirectory();
        string a = tmp.File("a"), b = tmp.File("b");
        Directory.CreateDirectory(a);
        Directory.CreateDirectory(b);
        MakeTree(a, specials: false);
        MakeTree(b, reverse: true, specials: false);
        CliHarness.RunOk("mkinitramfs", a, "-o", tmp.File("a.img"), "--reproducible");
        CliHarness.RunOk("mkinitramfs", b, "-o", tmp.File("b.img"), "--reproducible");
        Assert.Equal(File.ReadAllBytes(tmp.File("a.img")), File.ReadAllBytes(tmp.File("b.img")));
    }

    [Theory]
    [InlineData("xz")]
    [InlineData("lzo")]
    public void MkInitramfs_ReadOnlyCompression_RefusedWithoutOutput(string compression)
    {
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), image = tmp.File("out.img");
        Directory.CreateDirectory(src);
        File.WriteAllText(Path.Combine(src, "init"), "#!/bin/sh\n");
        CliResult r = CliHarness.Run("mkinitramfs", src, "-o", image, "--compress", compression);
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("diskimage: ", r.StandardError, StringComparison.Ordinal);
        Assert.Contains(compression, r.StandardError, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("internal error", r.StandardError, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(tmp.Path, "out.img*"));
    }

    [Theory]
    [InlineData("mkinitramfs")]
    [InlineData("mkinitramfs", "dir")]
    [InlineData("mkinitramfs", "-o", "x.img")]
    [InlineData("mkinitramfs", "dir", "-o", "x.img", "--compress", "brotli")]
    [InlineData("mkinitramfs", "dir", "-o", "x.img", "--format", "odc")]
    [InlineData("mkinitramfs", "dir", "-o", "x.img", "--level", "high")]
    [InlineData("mkinitramfs", "dir", "-o", "x.img", "--bogus")]
    [InlineData("lsinitramfs")]
    [InlineData("lsinitramfs", "a", "b")]
    [InlineData("lsinitramfs", "-x", "a")]
    [InlineData("unpack-initramfs", "a")]
    [InlineData("unpack-initramfs", "a", "b", "c")]
    public void InitramfsVerbs_BadArguments_UsageExit1(params string[] args)
    {
        CliResult r = CliHarness.Run(args);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("", r.StandardOutput);
        Assert.Contains("Try 'diskimage --help'", r.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void UnpackInitramfs_Garbage_InvalidDataExit1()
    {
        using var tmp = new TempDirectory();
        string image = tmp.File("bad.img");
        File.WriteAllBytes(image, "070701zzzzzzzz this is not a cpio header at all, but long enough"u8.ToArray());
        CliResult r = CliHarness.Run("unpack-initramfs", image, tmp.File("dst"));
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("diskimage: ", r.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("internal error", r.StandardError, StringComparison.Ordinal);

        CliResult missing = CliHarness.Run("lsinitramfs", tmp.File("missing.img"));
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal($"diskimage: Could not open '{tmp.File("missing.img")}': No such file or directory\n", missing.StandardError);
    }

    [Fact]
    public void Help_ListsInitramfsVerbs()
    {
        string help = CliHarness.RunOk("--help").StandardOutput;
        Assert.Contains("mkinitramfs directory -o output_file", help, StringComparison.Ordinal);
        Assert.Contains("lsinitramfs [-l] initramfs_file", help, StringComparison.Ordinal);
        Assert.Contains("unpack-initramfs initramfs_file directory", help, StringComparison.Ordinal);
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
