using System.Runtime.Versioning;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.FileSystems.Names;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Cli;

/// <summary>
/// One tree holding everything at once (issue 9, acceptance 4): names that are not valid UTF-8, names with
/// newlines and 255-byte names, both at the top and at the bottom of a 700-level directory chain, through
/// <c>make-fs</c>, <c>copy-in</c>, <c>copy-out</c>, <c>mkinitramfs</c> and <c>unpack-initramfs</c>; compared by raw
/// bytes (type, name, mode, size, content, link target of every entry) with the kernel's view of the images
/// (loop mounts) and with GNU cpio's listing and extraction of the archive.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class RawDeepTreeCliTests
{
    private const int Depth = 700;

    [SkippableFact]
    public void RawNamesAtTopAnd700LevelsDown_EveryVerb_KernelAndGnuCpioSeeTheSameBytes()
    {
        Ext4KernelMount.Require();
        Oracle.Require("cpio");
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string src = tmp.File("src");
        Directory.CreateDirectory(src);
        RawTree.Create(src);
        RawTree.RunOk($"cd \"$1\" && for i in $(seq {Depth}); do mkdir d && cd d; done", src);
        string deepest = src + string.Concat(Enumerable.Repeat("/d", Depth));
        RawTree.Create(deepest);

        // make-fs: e2fsck clean, the kernel sees the same bytes, copy-out gives them back.
        string built = tmp.File("built.img");
        CliHarness.RunOk("make-fs", src, built);
        E2fsckClean(built);
        using (Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(built, tmp.File("mnt1")))
        {
            RawTree.AssertSame(src, tmp.File("mnt1"));
        }

        string output = tmp.File("out");
        Directory.CreateDirectory(output);
        CliHarness.RunOk("copy-out", built, "/", output);
        Directory.Delete(Path.Combine(output, "lost+found"));
        RawTree.AssertSame(src, output);

        // copy-in into a fresh file system: e2fsck clean, the kernel sees the same bytes.
        string copied = tmp.File("copied.img");
        CliHarness.RunOk("mkfs", "--size", "32M", "ext4", copied);
        CliHarness.RunOk("copy-in", copied, src, "/");
        E2fsckClean(copied);
        using (Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(copied, tmp.File("mnt2")))
        {
            RawTree.AssertSame(src, Path.Combine(tmp.File("mnt2"), "src"));
        }

        // mkinitramfs: GNU cpio lists exactly the source's names and extracts the same bytes; unpack-initramfs too.
        string archive = tmp.File("initrd.img");
        CliHarness.RunOk("mkinitramfs", src, "-o", archive, "--compress", "none");
        const string Lines = "LC_ALL=C sort | grep -vx '\\.' || true";
        byte[] expected = RawTree.RunOk($"cd \"$1\" && find . -mindepth 1 -printf '%P\\n' | {Lines}", src).StandardOutput;
        byte[] listed = RawTree.RunOk($"cpio -it --quiet < \"$1\" | {Lines}", archive).StandardOutput;
        Assert.True(expected.AsSpan().SequenceEqual(listed), "GNU cpio's listing differs from the source tree's names");

        string gnu = tmp.File("gnu");
        Directory.CreateDirectory(gnu);
        RawTree.RunOk("cd \"$2\" && cpio -id --quiet < \"$1\"", archive, gnu);
        RawTree.AssertSame(src, gnu);

        string unpacked = tmp.File("unpacked");
        CliHarness.RunOk("unpack-initramfs", archive, unpacked);
        RawTree.AssertSame(src, unpacked);
    }

    private static void E2fsckClean(string image)
    {
        ToolResult r = Oracle.Run("e2fsck", "-fn", image);
        Assert.True(r.ExitCode == 0, r.ToString());
    }
}
