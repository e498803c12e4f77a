using System.Runtime.Versioning;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.Ext4CliTests;

namespace DiskImage.Tests.Cli;

/// <summary>
/// Ctrl+C and SIGTERM sent to the real CLI process while a long verb runs: it stops, prints one line on
/// stderr, exits 128 + the signal, removes the output it created (never a file that existed before), and
/// leaves a file system it was changing consistent (e2fsck -fn).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class CancellationCliTests
{
    private const int Files = 48;
    private const int FileSize = 4 << 20;

    [SkippableTheory]
    [InlineData("INT", 130)]
    [InlineData("TERM", 143)]
    public void MakeFs_Interrupted_ExitsWithSignalCodeAndLeavesNoImage(string signal, int exitCode)
    {
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), image = tmp.File("out.img");
        WriteBigTree(src);

        using CliProcess cli = CliProcess.Start("make-fs", src, image);
        cli.WaitUntil(() => File.Exists(image), "the image was created");
        cli.Signal(signal);
        CliResult r = cli.WaitForExit();

        Assert.True(r.ExitCode == exitCode, r.ToString());
        Assert.Equal("diskimage: Interrupted\n", r.StandardError);
        Assert.False(File.Exists(image), "make-fs left a half-built image");
    }

    [SkippableFact]
    public void MkInitramfs_Interrupted_LeavesNoTemporaryAndKeepsTheExistingOutput()
    {
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), output = tmp.File("initrd.img");
        WriteBigTree(src, files: 12);
        File.WriteAllText(output, "previous image");

        // 48 MiB of random data keep the bzip2 writer busy for seconds (about 15 MB/s per core).
        using CliProcess cli = CliProcess.Start("mkinitramfs", src, "-o", output, "--compress", "bzip2");
        cli.WaitUntil(() => Directory.GetFiles(tmp.Path, "initrd.img.tmp-*").Length > 0, "the temporary output was created");
        cli.Signal("INT");
        CliResult r = cli.WaitForExit();

        Assert.True(r.ExitCode == 130, r.ToString());
        Assert.Equal("diskimage: Interrupted\n", r.StandardError);
        Assert.Equal([output], Directory.GetFiles(tmp.Path));
        Assert.Equal("previous image", File.ReadAllText(output));
    }

    [SkippableFact]
    public void CopyOut_Interrupted_RemovesWhatItCreatedAndKeepsWhatWasThere()
    {
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), image = tmp.File("fs.img"), dst = tmp.File("dst");
        WriteBigTree(Path.Combine(src, "tree"));
        CliHarness.RunOk("make-fs", src, image);
        Directory.CreateDirectory(Path.Combine(dst, "tree"));
        File.WriteAllText(Path.Combine(dst, "keep.txt"), "mine");
        File.WriteAllText(Path.Combine(dst, "tree", "mine.txt"), "mine too");

        using CliProcess cli = CliProcess.Start("copy-out", image, "/", dst);
        cli.WaitUntil(() => Directory.GetFiles(Path.Combine(dst, "tree")).Length > 1, "the first file was created");
        cli.Signal("INT");
        CliResult r = cli.WaitForExit();

        Assert.True(r.ExitCode == 130, r.ToString());
        Assert.Equal("diskimage: Interrupted\n", r.StandardError);
        string[] left = Directory.GetFileSystemEntries(dst, "*", SearchOption.AllDirectories);
        Array.Sort(left, StringComparer.Ordinal);
        Assert.Equal([Path.Combine(dst, "keep.txt"), Path.Combine(dst, "tree"), Path.Combine(dst, "tree", "mine.txt")], left);
        Assert.Equal("mine too", File.ReadAllText(Path.Combine(dst, "tree", "mine.txt")));
    }

    [SkippableFact]
    public void CopyIn_Interrupted_FileSystemStaysCleanAndHoldsOnlyWholeFiles()
    {
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), image = tmp.File("fs.img"), back = tmp.File("back");
        WriteBigTree(src);
        CliHarness.RunOk("mkfs", "--size", "512M", "ext4", image);
        DateTime formatted = File.GetLastWriteTimeUtc(image);

        using CliProcess cli = CliProcess.Start("copy-in", image, src, "/");
        // The first write marks the file system not clean, just before the first entry: interrupt there,
        // while the data of the 192 MiB tree is still to come (a fixed sleep let a quiet machine finish).
        cli.WaitUntil(() => File.GetLastWriteTimeUtc(image) != formatted, "the image was written to");
        cli.Signal("INT");
        CliResult r = cli.WaitForExit();

        Assert.True(r.ExitCode == 130, r.ToString());
        Assert.Equal("diskimage: Interrupted\n", r.StandardError);
        E2fsckClean(image);

        // Every file that made it in is whole: the one being copied at the interrupt was removed.
        Directory.CreateDirectory(back);
        CliHarness.RunOk("copy-out", image, "/src", back);
        string[] copied = Directory.GetFiles(Path.Combine(back, "src"));
        Assert.True(copied.Length < Files, $"copy-in finished all {Files} files before the interrupt");
        foreach (string file in copied)
        {
            Assert.True(File.ReadAllBytes(file).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(src, Path.GetFileName(file)))), $"{file} differs from its source");
        }
    }

    [SkippableFact]
    public void UnpackInitramfs_Interrupted_RemovesTheDirectoryItCreated()
    {
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), archive = tmp.File("initrd.img"), dst = tmp.File("dst");
        WriteBigTree(src);
        CliHarness.RunOk("mkinitramfs", src, "-o", archive, "--compress", "none");

        using CliProcess cli = CliProcess.Start("unpack-initramfs", archive, dst);
        cli.WaitUntil(() => Directory.Exists(dst) && Directory.GetFiles(dst).Length > 1, "the first file was unpacked");
        cli.Signal("INT");
        CliResult r = cli.WaitForExit();

        Assert.True(r.ExitCode == 130, r.ToString());
        Assert.False(Directory.Exists(dst), "unpack-initramfs left the directory it created");
    }

    /// <summary><paramref name="files"/> files of 4 MiB of incompressible data (fixed seed), each different.</summary>
    private static void WriteBigTree(string root, int files = Files)
    {
        Directory.CreateDirectory(root);
        byte[] data = new byte[FileSize];
        new Random(9).NextBytes(data);
        for (int i = 0; i < files; i++)
        {
            data[0] = (byte)i;
            File.WriteAllBytes(Path.Combine(root, $"f{i:D2}.bin"), data);
        }
    }
}
