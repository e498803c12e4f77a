using System.Runtime.Versioning;
using DiskImage.Archives.Cpio;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Archives.CpioTestSupport;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>mkinitramfs</c> writes the root directory first as <c>.</c>, like <c>find . | cpio -o</c>, so its mode, owner
/// and time reach the unpacked tree (the kernel applies them to the root of rootfs); judged by GNU cpio.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class InitramfsRootEntryTests
{
    private static readonly DateTime RootTime = new(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc);

    [SkippableFact]
    public void MkInitramfs_RootDirectory_WrittenFirstAsDotLikeFindCpio()
    {
        Oracle.Require("cpio");
        using var tmp = new TempDirectory();
        string src = MakeRoot(tmp), ours = tmp.File("ours.cpio"), theirs = tmp.File("theirs.cpio");
        CliHarness.RunOk("mkinitramfs", src, "-o", ours, "--compress", "none");
        Shell($"cd {Quote(src)} && find . | LC_ALL=C sort | cpio -o --quiet -H newc > {Quote(theirs)}");

        // GNU cpio lists the same first line for both: mode, links, owner, time and the name ".".
        string ourFirst = Lines(Shell($"cpio -itv --quiet < {Quote(ours)}").StandardOutput)[0];
        string theirFirst = Lines(Shell($"cpio -itv --quiet < {Quote(theirs)}").StandardOutput)[0];
        Assert.Equal(theirFirst, ourFirst);
        Assert.StartsWith("drwxr-x---   4 ", ourFirst, StringComparison.Ordinal);
        Assert.EndsWith(" .", ourFirst, StringComparison.Ordinal);
        Assert.Equal(Lines(Shell($"cpio -it --quiet < {Quote(theirs)}").StandardOutput), Lines(CliHarness.RunOk("lsinitramfs", ours).StandardOutput));

        using (FileStream f = File.OpenRead(ours))
        {
            CpioEntry dot = Initramfs.List(f).First();
            Assert.Equal(".", dot.Name);
            Assert.Equal(CpioEntryType.Directory, dot.EntryType);
            Assert.Equal((UnixFileMode)0x1E8, dot.Mode);
            Assert.Equal(RootTime, dot.ModificationTime.UtcDateTime);
            Assert.Equal(4u, dot.NLink); // 2 + the subdirectories etc and bin
        }

        // Our unpacker gives the root's mode and time to the target directory, as GNU cpio -idm does.
        string unpacked = tmp.File("unpacked");
        CliHarness.RunOk("unpack-initramfs", ours, unpacked);
        Assert.Equal((UnixFileMode)0x1E8, File.GetUnixFileMode(unpacked));
        Assert.Equal(RootTime, Directory.GetLastWriteTimeUtc(unpacked));
    }

    [SkippableFact]
    public void MkInitramfs_ReproducibleRootOwner_DotClampedAndOwnedByRoot()
    {
        using var tmp = new TempDirectory();
        string src = MakeRoot(tmp), image = tmp.File("r.cpio");
        CliHarness.RunOk("mkinitramfs", src, "-o", image, "--compress", "none", "--reproducible", "--root-owner");
        using FileStream f = File.OpenRead(image);
        CpioEntry dot = Initramfs.List(f).First();
        Assert.Equal(".", dot.Name);
        Assert.Equal((UnixFileMode)0x1E8, dot.Mode);
        Assert.Equal(0u, dot.Uid);
        Assert.Equal(0u, dot.Gid);
        Assert.True(dot.ModificationTimeSeconds == 0 || Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH") is not null, $"mtime {dot.ModificationTimeSeconds}");
        Assert.Equal(1u, dot.Inode);
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private static string MakeRoot(TempDirectory tmp)
    {
        string src = tmp.File("src");
        Directory.CreateDirectory(Path.Combine(src, "etc"));
        Directory.CreateDirectory(Path.Combine(src, "bin"));
        File.WriteAllText(Path.Combine(src, "etc", "hostname"), "box\n");
        File.WriteAllText(Path.Combine(src, "init"), "#!/bin/sh\n");
        File.SetUnixFileMode(src, (UnixFileMode)0x1E8); // 0750
        Directory.SetLastWriteTimeUtc(src, RootTime);
        return src;
    }
}
