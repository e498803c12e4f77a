using System.Diagnostics;
using System.Globalization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Sizes read from an inode are checked against the file system's geometry before they drive a loop
/// (issue 9): an i_size past the largest file the file system can hold is refused at once, and a file
/// that is huge but sparse is copied out by skipping its holes, not by reading terabytes of zeros.
/// Images are made by mke2fs and their inodes edited by debugfs <c>sif</c> (e2fsprogs 1.47), which
/// keeps the inode checksum right.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class Ext4InodeBoundsTests
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(30);

    [SkippableFact]
    public void CatAndCopyOut_SizeBeyondMaximum_ThrowInvalidDataQuickly()
    {
        using var temp = new TempDirectory();
        string img = MakeImage(temp, "0x00FF000000000000");

        CliResult cat = RunWithin(Budget, "cat", img, "/f");
        Assert.True(cat.ExitCode != 0, cat.ToString());
        Assert.Contains("exceeds the largest file", cat.StandardError, StringComparison.Ordinal);

        string output = temp.File("out");
        Directory.CreateDirectory(output);
        CliResult copy = RunWithin(Budget, "copy-out", img, "/", output);
        Assert.True(copy.ExitCode != 0, copy.ToString());
        Assert.Contains("exceeds the largest file", copy.StandardError, StringComparison.Ordinal);

        using Ext4FileSystem fs = Ext4TestImages.Open(File.ReadAllBytes(img));
        Assert.Throws<InvalidDataException>(() => fs.OpenFile("/f", FileMode.Open, FileAccess.Read));
    }

    [SkippableFact]
    public void CopyOut_HugeSparseSizeWithinLimit_SkipsHolesAndKeepsLength()
    {
        // 1 KiB blocks: an extent-mapped file may reach 2^32 blocks (4 TiB); 3 TiB of it are a hole.
        using var temp = new TempDirectory();
        long size = 3L << 40;
        string img = MakeImage(temp, "0x" + size.ToString("X", CultureInfo.InvariantCulture));
        string output = temp.File("out");
        Directory.CreateDirectory(output);

        var clock = Stopwatch.StartNew();
        CliResult copy = RunWithin(Budget, "copy-out", img, "/f", output);
        Assert.True(copy.ExitCode == 0, copy.ToString());
        string copied = Path.Combine(output, "f");
        Assert.Equal(size, new FileInfo(copied).Length);
        using (FileStream s = File.OpenRead(copied))
        {
            byte[] head = new byte[5000];
            s.ReadExactly(head);
            Assert.Equal(Content(), head);
            s.Position = size - 4096;
            byte[] tail = new byte[4096];
            s.ReadExactly(tail);
            Assert.DoesNotContain(tail, b => b != 0);
        }

        Assert.True(clock.Elapsed < Budget, $"copy-out took {clock.Elapsed}");

        // The API stream reports the hole too.
        using Ext4FileSystem fs = Ext4TestImages.Open(File.ReadAllBytes(img));
        using Stream f = fs.OpenFile("/f", FileMode.Open, FileAccess.Read);
        Assert.Equal(size, f.Length);
        f.Position = size - 10;
        Assert.Equal(10, f.Read(new byte[100]));
    }

    private static byte[] Content()
    {
        byte[] b = new byte[5000];
        new Random(7).NextBytes(b);
        return b;
    }

    /// <summary>An ext4 image (1 KiB blocks) holding /f of 5000 bytes whose i_size debugfs then sets to <paramref name="size"/>.</summary>
    private static string MakeImage(TempDirectory temp, string size)
    {
        Oracle.Require("debugfs");
        string src = temp.File("src");
        Directory.CreateDirectory(src);
        File.WriteAllBytes(Path.Combine(src, "f"), Content());
        string img = temp.File("fs.img");
        Ext4TestImages.Build(src, img, 4096, "-t", "ext4", "-b", "1024");
        ToolResult r = Oracle.Run("debugfs", ["-w", "-R", "sif /f size " + size, img], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
        string stat = Oracle.Run("debugfs", ["-R", "stat /f", img], TimeSpan.FromMinutes(1)).StandardOutput;
        Assert.Contains("Size: " + Convert.ToUInt64(size, 16).ToString(CultureInfo.InvariantCulture), stat, StringComparison.Ordinal);
        return img;
    }

    private static CliResult RunWithin(TimeSpan budget, params string[] args)
    {
        var task = Task.Run(() => CliHarness.Run(args));
        Assert.True(task.Wait(budget), $"diskimage {string.Join(' ', args)} did not finish within {budget} (a hang)");
        return task.Result;
    }
}
