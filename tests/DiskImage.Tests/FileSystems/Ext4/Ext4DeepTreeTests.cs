using System.Text;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.Formats;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Archives.CpioTestSupport;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// No depth limit below the kernel's (issue 9): a 700-level tree round-trips through make-fs, copy-in,
/// copy-out and ls -R (judged by e2fsck -fn and debugfs of e2fsprogs 1.47, and by comparing host trees),
/// and a real directory cycle (an entry pointing at an ancestor, made by debugfs <c>link</c>) is refused
/// by inode identity with <see cref="InvalidDataException"/>, quickly.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class Ext4DeepTreeTests
{
    private const int Depth = 700;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);

    [SkippableFact]
    public void DeepTree_MakeFsCopyInCopyOutLs_RoundTrips()
    {
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        using var tmp = new TempDirectory();
        string src = tmp.File("src");
        string deepest = MakeDeepTree(src);
        string guestDeepest = "/" + Path.GetRelativePath(src, deepest).Replace('\\', '/');

        // make-fs builds it; e2fsck and debugfs read it back.
        string made = tmp.File("made.img");
        CliHarness.RunOk("make-fs", src, made);
        E2fsck(made);
        Assert.Equal("bottom\n", Oracle.RunOk("debugfs", "-R", "cat " + guestDeepest + "/leaf", made).StandardOutput);

        // ls -R lists every level.
        CliResult ls = CliHarness.RunOk("ls", "-R", made);
        Assert.Contains(guestDeepest + "/leaf\n", ls.StandardOutput, StringComparison.Ordinal);

        // copy-out gives the same host tree.
        string output = tmp.File("out");
        Directory.CreateDirectory(output);
        CliHarness.RunOk("copy-out", made, "/", output);
        Directory.Delete(Path.Combine(output, "lost+found"));
        AssertSameTree(src, output);

        // copy-in into a new file system: e2fsck clean, debugfs reads the bottom.
        string image = tmp.File("in.img");
        CliHarness.RunOk("mkfs", "--size", "32M", "ext4", image);
        CliHarness.RunOk("copy-in", image, Path.Combine(src, "d"), "/");
        E2fsck(image);
        Assert.Equal("bottom\n", Oracle.RunOk("debugfs", "-R", "cat " + guestDeepest + "/leaf", image).StandardOutput);
        string again = tmp.File("again");
        Directory.CreateDirectory(again);
        CliHarness.RunOk("copy-out", image, "/d", again);
        AssertSameTree(src, again);
    }

    [SkippableFact]
    public void DirectoryCycle_LsCopyOutCopyIn_RefusedQuickly()
    {
        Oracle.Require("debugfs");
        using var tmp = new TempDirectory();
        string src = tmp.File("src");
        Directory.CreateDirectory(Path.Combine(src, "a", "b"));
        File.WriteAllText(Path.Combine(src, "a", "b", "f"), "x");
        string img = tmp.File("cycle.img");
        Ext4TestImages.Build(src, img, 4096, "-t", "ext4");
        ToolResult link = Oracle.Run("debugfs", ["-w", "-R", "link /a /a/b/loop", img], TimeSpan.FromMinutes(1));
        Assert.True(link.ExitCode == 0, link.ToString());
        Assert.Contains("loop", Oracle.RunOk("debugfs", "-R", "ls /a/b", img).StandardOutput, StringComparison.Ordinal);

        CliResult ls = RunWithin("ls", "-R", img);
        Assert.True(ls.ExitCode != 0, ls.ToString());
        Assert.Contains("cycle", ls.StandardError, StringComparison.Ordinal);
        Assert.Contains("/a/b/loop", ls.StandardError, StringComparison.Ordinal);

        string output = tmp.File("out");
        Directory.CreateDirectory(output);
        CliResult copy = RunWithin("copy-out", img, "/a", output);
        Assert.True(copy.ExitCode != 0, copy.ToString());
        Assert.Contains("cycle", copy.StandardError, StringComparison.Ordinal);

        // The library: copying out or between file systems throws InvalidDataException naming the cycle.
        using DiskImageFile file = DiskImageFile.Open(img);
        using Ext4FileSystem fs = Ext4FileSystem.Open(file.Content, leaveOpen: true);
        var ex = Assert.Throws<InvalidDataException>(() => FileSystemCopy.CopyToHost(fs, "/a", tmp.File("out")));
        Assert.Contains("/a/b/loop", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'/a'", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>src/d/d/.../d (700 levels) with a file at the bottom; returns the deepest directory.</summary>
    private static string MakeDeepTree(string src)
    {
        var path = new StringBuilder(src);
        for (int i = 0; i < Depth; i++)
        {
            path.Append("/d");
        }

        string deepest = path.ToString();
        Directory.CreateDirectory(deepest);
        File.WriteAllText(Path.Combine(deepest, "leaf"), "bottom\n");
        File.WriteAllText(Path.Combine(src, "d", "top"), "top\n");
        return deepest;
    }

    private static void E2fsck(string image)
    {
        ToolResult r = Oracle.Run("e2fsck", "-fn", image);
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private static CliResult RunWithin(params string[] args)
    {
        var task = Task.Run(() => CliHarness.Run(args));
        Assert.True(task.Wait(Budget), $"diskimage {string.Join(' ', args)} did not finish within {Budget} (a hang)");
        return task.Result;
    }
}
