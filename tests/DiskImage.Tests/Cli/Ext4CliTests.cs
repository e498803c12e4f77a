using System.Globalization;
using System.Runtime.Versioning;
using System.Text;
using DiskImage.Archives.Cpio;
using DiskImage.Interop;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Archives.CpioTestSupport;

namespace DiskImage.Tests.Cli;

/// <summary>
/// The file-system verbs (mkfs, ls, cat, copy-out), judged by e2fsprogs 1.47 (mke2fs -d builds the
/// images read, e2fsck -fn / dumpe2fs / debugfs judge what is written) and qemu-img (qcow2 to raw).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class Ext4CliTests
{
    [SkippableTheory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    public void Mkfs_NewImageWithLabelAndUuid_E2fsckClean(string format)
    {
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string image = tmp.File("fs." + format);
        CliResult r = CliHarness.RunOk("mkfs", "--size", "64M", "-f", format, "-L", "data", "-U", "0f6a3c1e-5d2b-4c8a-9e7f-112233445566", "ext4", image);
        Assert.Equal("", r.StandardOutput + r.StandardError);
        Assert.Equal(format, ImageFormat(image));
        string raw = AsRaw(tmp, image, format);
        Assert.Equal(64L << 20, new FileInfo(raw).Length);
        E2fsckClean(raw);
        string header = Oracle.RunOk("dumpe2fs", "-h", raw).StandardOutput;
        Assert.Matches(@"Filesystem volume name:\s+data\n", header);
        Assert.Matches(@"Filesystem UUID:\s+0f6a3c1e-5d2b-4c8a-9e7f-112233445566\n", header);
        Assert.Contains("metadata_csum", header, StringComparison.Ordinal);
        Assert.Equal("lost+found\n", CliHarness.RunOk("ls", image, "/").StandardOutput);
    }

    [SkippableFact]
    public void Mkfs_ExistingRawImageRhel7OneKiBBlocks_E2fsckClean()
    {
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string image = tmp.File("fs.img");
        CliHarness.RunOk("create", "-q", "-f", "raw", image, "32M");
        CliHarness.RunOk("mkfs", "-T", "rhel7", "-b", "1024", "-I", "128", "-m", "0", "-O", "^has_journal", "ext4", image);
        E2fsckClean(image);
        string header = Oracle.RunOk("dumpe2fs", "-h", image).StandardOutput;
        Assert.Matches(@"Block size:\s+1024\n", header);
        Assert.Matches(@"Inode size:\s+128\n", header);
        Assert.Matches(@"Reserved block count:\s+0\n", header);
        Assert.DoesNotContain("metadata_csum", header, StringComparison.Ordinal);
        Assert.DoesNotContain("has_journal", header, StringComparison.Ordinal);
        Assert.Contains("uninit_bg", header, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Mkfs_ExistingQcow2Image_FormatsItsContent()
    {
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string image = tmp.File("fs.qcow2");
        CliHarness.RunOk("create", "-q", "-f", "qcow2", image, "100M");
        CliHarness.RunOk("mkfs", "-t", "ext4", image);
        Assert.Equal("qcow2", ImageFormat(image));
        string raw = AsRaw(tmp, image, "qcow2");
        E2fsckClean(raw);
        Assert.Equal("", CliHarness.RunOk("check", "-q", image).StandardOutput);
    }

    [SkippableFact]
    public void Mkfs_FixedIdsAndSourceDateEpoch_ByteIdentical()
    {
        using var tmp = new TempDirectory();
        string a = tmp.File("a.img"), b = tmp.File("b.img");
        string[] ids = ["-U", "11111111-2222-3333-4444-555555555555", "-E", "hash_seed=66666666-7777-8888-9999-aaaaaaaaaaaa"];
        string? saved = Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
        try
        {
            // 0 is also what the other SOURCE_DATE_EPOCH readers assume when it is unset.
            Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", "0");
            CliHarness.RunOk(["mkfs", "--size", "16M", .. ids, "ext4", a]);
            CliHarness.RunOk(["mkfs", "--size", "16M", .. ids, "ext4", b]);
        }
        finally
        {
            Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", saved);
        }

        Assert.True(File.ReadAllBytes(a).AsSpan().SequenceEqual(File.ReadAllBytes(b)));
    }

    [Theory]
    [InlineData(new[] { "mkfs", "--size", "16M", "btrfs", "x.img" }, "file system type 'btrfs' is not supported")]
    [InlineData(new[] { "mkfs", "--size", "16M", "foo", "x.img" }, "unknown file system type 'foo'")]
    [InlineData(new[] { "mkfs", "ext4", "missing.img" }, "Could not open 'missing.img'")]
    [InlineData(new[] { "mkfs", "-b", "8192", "--size", "16M", "ext4", "x.img" }, "invalid block size '8192'")]
    [InlineData(new[] { "mkfs", "-T", "suse", "--size", "16M", "ext4", "x.img" }, "unknown profile 'suse'")]
    [InlineData(new[] { "mkfs", "-L", "a-label-longer-than-16", "--size", "16M", "ext4", "x.img" }, "too long")]
    [InlineData(new[] { "mkfs", "--size", "1k", "ext4", "x.img" }, "x.img: ")]
    [InlineData(new[] { "mkfs", "ext4" }, "Expecting a file system type (ext4) and an image file name")]
    [InlineData(new[] { "ls" }, "Expecting an image file name")]
    [InlineData(new[] { "cat", "x.img" }, "Expecting an image file name and a file path")]
    [InlineData(new[] { "copy-out", "x.img", "/" }, "Expecting an image file name, one or more paths")]
    public void FileSystemVerbs_BadArguments_ExitCode1(string[] args, string message)
    {
        using var tmp = new TempDirectory();
        string previous = Environment.CurrentDirectory;
        string[] inTmp = [.. args.Select(a => a.EndsWith(".img", StringComparison.Ordinal) ? tmp.File(a) : a)];
        CliResult r = CliHarness.Run(inTmp);
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.StartsWith("diskimage: ", r.StandardError, StringComparison.Ordinal);
        Assert.Contains(message.Replace("missing.img", tmp.File("missing.img"), StringComparison.Ordinal).Replace("x.img", tmp.File("x.img"), StringComparison.Ordinal), r.StandardError, StringComparison.Ordinal);
        Assert.Equal(previous, Environment.CurrentDirectory);
    }

    [Fact]
    public void Ls_ImageWithoutExt4_ExitCode1()
    {
        using var tmp = new TempDirectory();
        string image = tmp.File("zero.img");
        CliHarness.RunOk("create", "-q", image, "4M");
        CliResult r = CliHarness.Run("ls", image, "/");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no ext4 or XFS file system found", r.StandardError, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    public void Ls_MkeFsTree_SameEntriesAsDebugfs(string format)
    {
        Oracle.Require("debugfs");
        using var tmp = new TempDirectory();
        string src = tmp.File("src");
        Directory.CreateDirectory(src);
        MakeTree(src);
        string image = BuildImage(tmp, src, format);
        string raw = AsRaw(tmp, image, format);

        string[] names = Lines(CliHarness.RunOk("ls", image).StandardOutput);
        Assert.Equal(Directory.EnumerateFileSystemEntries(src).Select(Path.GetFileName).Append("lost+found").Order(StringComparer.Ordinal), names);

        foreach (string dir in new[] { "/", "/etc", "/usr/lib" })
        {
            Dictionary<string, DebugfsEntry> expected = DebugfsList(raw, dir);
            string[] lines = Lines(CliHarness.RunOk("ls", "-l", image, dir).StandardOutput);
            Assert.Equal(expected.Count, lines.Length);
            foreach (string line in lines)
            {
                string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                bool device = f[0][0] is 'c' or 'b';
                int d = device ? 6 : 5;
                string name = f[d + 2];
                Assert.True(expected.TryGetValue(name, out DebugfsEntry? e), $"{dir}: unexpected '{line}'");
                Assert.Equal(e.Mode, ModeBits(f[0]));
                Assert.Equal(e.Uid.ToString(CultureInfo.InvariantCulture), f[2]);
                Assert.Equal(e.Gid.ToString(CultureInfo.InvariantCulture), f[3]);
                if (f[0][0] is '-' or 'l')
                {
                    Assert.Equal(e.Size, f[4]);
                }

                if (name != "lost+found")
                {
                    var info = new FileInfo(Path.Combine(src, dir.TrimStart('/'), name));
                    Assert.Equal(info.LastWriteTimeUtc.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), $"{f[d]} {f[d + 1]}");
                    if (f[0][0] == 'l')
                    {
                        Assert.Equal(("->", info.LinkTarget), (f[d + 3], f[d + 4]));
                    }
                }
            }
        }

        // -R: every path below, as full paths; the same set as on the host.
        string[] all = Lines(CliHarness.RunOk("ls", "-R", image, "/usr").StandardOutput);
        string[] hostAll = [.. Directory.EnumerateFileSystemEntries(Path.Combine(src, "usr"), "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(p => "/" + Path.GetRelativePath(src, p)).Order(StringComparer.Ordinal)];
        Assert.Equal(hostAll, all.Order(StringComparer.Ordinal));
        Assert.Contains("/usr/lib/deep/er", all);
        Assert.Contains(Lines(CliHarness.RunOk("ls", "-lR", image, "/usr").StandardOutput), l => l.StartsWith("lrwxrwxrwx", StringComparison.Ordinal) && l.EndsWith(" /usr/lib/link-rel -> ../../etc/conf.d/x.conf", StringComparison.Ordinal));

        // A file operand is listed itself; a missing one is an error in ls's words.
        Assert.Equal("/etc/conf.d/x.conf\n", CliHarness.RunOk("ls", image, "/etc/conf.d/x.conf").StandardOutput);
        CliResult missing = CliHarness.Run("ls", image, "/nope");
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal("diskimage: /nope: No such file or directory\n", missing.StandardError);
    }

    [SkippableFact]
    public void Ls_SeveralOperands_FilesFirstThenEachDirectory()
    {
        using var tmp = new TempDirectory();
        string src = tmp.File("src");
        Directory.CreateDirectory(src);
        MakeTree(src, specials: false);
        string image = BuildImage(tmp, src, "raw");
        CliResult r = CliHarness.RunOk("ls", image, "/etc/conf.d", "/empty.txt", "/usr/lib/deep", "/abs-link");
        Assert.Equal("/empty.txt\n/abs-link\n\n/etc/conf.d:\nx.conf\n\n/usr/lib/deep:\ner\n", r.StandardOutput);
    }

    [SkippableFact]
    public void Ls_JournalNeedsRecovery_RefusedUnlessSkipJournal()
    {
        Oracle.Require("debugfs");
        using var tmp = new TempDirectory();
        string src = tmp.File("src");
        Directory.CreateDirectory(src);
        MakeTree(src, specials: false);
        string image = BuildImage(tmp, src, "raw");
        Oracle.RunOk("debugfs", "-w", "-R", "feature needs_recovery", image);

        CliResult refused = CliHarness.Run("ls", image, "/etc/conf.d");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("journal needs recovery", refused.StandardError, StringComparison.Ordinal);
        Assert.Contains("--skip-journal", refused.StandardError, StringComparison.Ordinal);
        Assert.Equal("x.conf\n", CliHarness.RunOk("ls", "--skip-journal", image, "/etc/conf.d").StandardOutput);
        Assert.Equal("key=value\n", CliHarness.RunOk("cat", "--skip-journal", image, "/etc/conf.d/x.conf").StandardOutput);

        // A writing verb replays the (here empty) journal, as a kernel mount does, and goes ahead.
        CliHarness.RunOk("copy-in", image, Path.Combine(src, "empty.txt"), "/");
        Assert.Equal("x.conf\n", CliHarness.RunOk("ls", image, "/etc/conf.d").StandardOutput);
        Assert.Equal(0, Oracle.Run("e2fsck", "-fn", image).ExitCode);
    }

    [SkippableTheory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    public void Cat_Files_SameBytesAsHost(string format)
    {
        using var tmp = new TempDirectory();
        string src = tmp.File("src");
        Directory.CreateDirectory(src);
        MakeTree(src, specials: false);
        byte[] big = new byte[300_000];
        new Random(4).NextBytes(big);
        File.WriteAllBytes(Path.Combine(src, "big.bin"), big);
        string image = BuildImage(tmp, src, format);

        using var bytes = new MemoryStream();
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = DiskImage.Cli.Cli.Run(["cat", image, "/big.bin", "/usr/lib/link-rel"], stdout, stderr, bytes);
        Assert.True(code == 0, stderr.ToString());
        byte[] expected = [.. big, .. File.ReadAllBytes(Path.Combine(src, "etc/conf.d/x.conf"))];
        Assert.True(expected.AsSpan().SequenceEqual(bytes.ToArray()));
        Assert.Equal("", stdout.ToString());

        Assert.Equal("#!/bin/sh\necho hi\n", CliHarness.RunOk("cat", image, "/usr/lib/script.sh").StandardOutput);
        CliResult directory = CliHarness.Run("cat", image, "/etc");
        Assert.Equal((1, "diskimage: /etc: Is a directory\n"), (directory.ExitCode, directory.StandardError));
        CliResult missing = CliHarness.Run("cat", image, "/etc/none");
        Assert.Equal((1, "diskimage: /etc/none: No such file or directory\n"), (missing.ExitCode, missing.StandardError));
        CliResult relative = CliHarness.Run("cat", image, "etc/conf.d/x.conf");
        Assert.Equal(1, relative.ExitCode);
        Assert.Contains("must be absolute", relative.StandardError, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    public void CopyOut_Root_SameTreeAsSource(string format)
    {
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), output = tmp.File("out");
        Directory.CreateDirectory(src);
        Directory.CreateDirectory(output);
        MakeTree(src);
        using (var sparse = new FileStream(Path.Combine(src, "sparse.bin"), FileMode.CreateNew))
        {
            sparse.Seek(5 << 20, SeekOrigin.Begin);
            sparse.Write("tail"u8);
        }

        File.SetLastWriteTimeUtc(Path.Combine(src, "etc/conf.d/x.conf"), new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc));
        File.SetUnixFileMode(Path.Combine(src, "empty"), (UnixFileMode)0x1C0);
        string image = BuildImage(tmp, src, "raw");

        // mke2fs -d keeps whole seconds only: give one file nanoseconds (i_mtime_extra = ns << 2).
        Oracle.RunOk("debugfs", "-w", "-R", "sif /etc/conf.d/x.conf mtime_extra 493827068", image);
        if (format == "qcow2")
        {
            string qcow2 = tmp.File("built.qcow2");
            Oracle.RunOk("qemu-img", "convert", "-f", "raw", "-O", "qcow2", image, qcow2);
            image = qcow2;
        }

        CliResult r = CliHarness.RunOk("copy-out", image, "/", output);
        Assert.Equal("", r.StandardOutput);
        Assert.True(Directory.Exists(Path.Combine(output, "lost+found")));
        Directory.Delete(Path.Combine(output, "lost+found"));
        if (Environment.IsPrivilegedProcess)
        {
            Assert.Equal("", r.StandardError);
        }

        AssertSameTree(src, output, withTimes: true);
        Assert.Equal(new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc).AddTicks(1234567), File.GetLastWriteTimeUtc(Path.Combine(output, "etc/conf.d/x.conf")));
        DateTime sourceDirectoryTime = File.GetLastWriteTimeUtc(Path.Combine(src, "usr/lib"));
        Assert.Equal(sourceDirectoryTime.AddTicks(-(sourceDirectoryTime.Ticks % TimeSpan.TicksPerSecond)), File.GetLastWriteTimeUtc(Path.Combine(output, "usr/lib")));
        Assert.Equal((UnixFileMode)0x1C0, File.GetUnixFileMode(Path.Combine(output, "empty")));
        Assert.True(UnixNative.TryLStat(Path.Combine(output, "hard-a"), out UnixStat hard) && hard.NLink == 3);
        Assert.True(UnixNative.TryLStat(Path.Combine(output, "sparse.bin"), out UnixStat sparseStat) && sparseStat.Size == (5 << 20) + 4);
        Assert.True(new FileInfo(Path.Combine(output, "sparse.bin")).Length == (5 << 20) + 4);
    }

    [SkippableFact]
    public void CopyOut_SeveralPaths_EachUnderHostDirectory()
    {
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), output = tmp.File("out");
        Directory.CreateDirectory(src);
        Directory.CreateDirectory(output);
        MakeTree(src, specials: false);
        string image = BuildImage(tmp, src, "raw");

        CliHarness.RunOk("copy-out", image, "/etc/conf.d/x.conf", "/usr", "/abs-link", output);
        Assert.Equal(["abs-link", "usr", "x.conf"], Directory.EnumerateFileSystemEntries(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal("key=value\n", File.ReadAllText(Path.Combine(output, "x.conf")));
        Assert.Equal("/etc/hostname", new FileInfo(Path.Combine(output, "abs-link")).LinkTarget);
        // Only one of the three names of the hard-linked file is copied: compare without the link groups.
        Assert.Equal(WithoutLinkGroups(Snapshot(Path.Combine(src, "usr"), withTimes: true)), WithoutLinkGroups(Snapshot(Path.Combine(output, "usr"), withTimes: true)));

        CliResult missing = CliHarness.Run("copy-out", image, "/nope", output);
        Assert.Equal((1, "diskimage: /nope: No such file or directory\n"), (missing.ExitCode, missing.StandardError));
        CliResult noDir = CliHarness.Run("copy-out", image, "/etc", tmp.File("absent"));
        Assert.Equal(1, noDir.ExitCode);
        Assert.Contains("does not exist or is not a directory", noDir.StandardError, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void CopyOut_SymbolicLinksInHostDirectory_ReplacedNeverFollowed()
    {
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), output = tmp.File("out"), outside = tmp.File("outside");
        Directory.CreateDirectory(src);
        Directory.CreateDirectory(output);
        Directory.CreateDirectory(outside);
        MakeTree(src, specials: false);
        string image = BuildImage(tmp, src, "raw");
        File.WriteAllText(Path.Combine(outside, "x.conf"), "outside\n");
        File.CreateSymbolicLink(Path.Combine(output, "etc"), outside);
        File.CreateSymbolicLink(Path.Combine(output, "hard-a"), Path.Combine(outside, "x.conf"));

        CliHarness.RunOk("copy-out", image, "/etc", "/hard-a", output);
        Assert.Null(new DirectoryInfo(Path.Combine(output, "etc")).LinkTarget);
        Assert.Equal("key=value\n", File.ReadAllText(Path.Combine(output, "etc/conf.d/x.conf")));
        Assert.Null(new FileInfo(Path.Combine(output, "hard-a")).LinkTarget);
        Assert.Equal(["x.conf"], Directory.EnumerateFileSystemEntries(outside).Select(Path.GetFileName));
        Assert.Equal("outside\n", File.ReadAllText(Path.Combine(outside, "x.conf")));
    }

    [SkippableTheory]
    [InlineData("../../evil")]
    [InlineData("..%evil%..")]
    [InlineData("x/../evil")]
    [InlineData("..")]
    [InlineData(".")]
    public void CopyOut_CorruptNameInImage_RefusedNothingWrittenOutside(string hostileName)
    {
        Oracle.Require("mke2fs");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), output = tmp.File("a/b/out");
        Directory.CreateDirectory(Path.Combine(src, "d"));
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(src, "d/EVILNAMEXX"), "payload\n");
        string image = tmp.File("fs.img");

        // Without metadata_csum the directory block has no checksum to betray the edited name.
        Oracle.RunOk("mke2fs", "-q", "-F", "-t", "ext4", "-O", "^metadata_csum", "-d", src, image, "16M");
        byte[] bytes = File.ReadAllBytes(image);
        byte[] name = Encoding.ASCII.GetBytes("EVILNAMEXX");
        int at = bytes.AsSpan().IndexOf(name);
        Assert.True(at > 0 && bytes.AsSpan(at + 1).IndexOf(name) < 0);
        Encoding.ASCII.GetBytes(hostileName.Replace('%', '/')).CopyTo(bytes, at);
        bytes[at - 2] = (byte)hostileName.Length; // ext4_dir_entry_2.name_len
        File.WriteAllBytes(image, bytes);

        // The reader or the copy refuses the name (exit code 1), or the reader hides a "." or ".." entry it
        // does not list; either way nothing lands outside the output directory.
        CliResult r = CliHarness.Run("copy-out", image, "/", output);
        Assert.True(r.ExitCode == (hostileName is "." or ".." ? 0 : 1), r.ToString());
        string[] outside = [.. Directory.EnumerateFileSystemEntries(tmp.Path, "*", SearchOption.AllDirectories)
            .Where(p => !p.StartsWith(src, StringComparison.Ordinal) && !p.StartsWith(output + "/", StringComparison.Ordinal) && p != image)];
        Assert.Equal([tmp.File("a"), tmp.File("a/b"), output], outside.Order(StringComparer.Ordinal));
    }

    private sealed record DebugfsEntry(int Mode, uint Uid, uint Gid, string Size);

    /// <summary>Parses <c>debugfs -R "ls -p dir"</c>: <c>/inode/mode/uid/gid/name/size/</c> per entry, without . and ..</summary>
    private static Dictionary<string, DebugfsEntry> DebugfsList(string raw, string dir)
    {
        ToolResult r = Oracle.RunOk("debugfs", "-R", $"ls -p {dir}", raw);
        var result = new Dictionary<string, DebugfsEntry>(StringComparer.Ordinal);
        foreach (string line in Lines(r.StandardOutput))
        {
            string[] f = line.Split('/');
            if (f.Length < 7 || f[5] is "." or "..")
            {
                continue;
            }

            int mode = Convert.ToInt32(f[2], 8);
            result[f[5]] = new DebugfsEntry(mode & 0xFFF, uint.Parse(f[3], CultureInfo.InvariantCulture), uint.Parse(f[4], CultureInfo.InvariantCulture), f[6]);
        }

        return result;
    }

    private static int ModeBits(string s)
    {
        int mode = 0;
        for (int i = 0; i < 9; i++)
        {
            char c = s[i + 1];
            if (c is not '-' and not 'S' and not 'T')
            {
                mode |= 1 << (8 - i);
            }
        }

        mode |= s[3] is 's' or 'S' ? 0x800 : 0;
        mode |= s[6] is 's' or 'S' ? 0x400 : 0;
        mode |= s[9] is 't' or 'T' ? 0x200 : 0;
        return mode;
    }

    /// <summary>mke2fs -d of <paramref name="src"/> (64 MiB, 4 KiB blocks); converted by qemu-img for qcow2.</summary>
    internal static string BuildImage(TempDirectory tmp, string src, string format)
    {
        Oracle.Require("mke2fs");
        string raw = tmp.File("built.raw");
        Oracle.RunOk("mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-d", src, raw, "64M");
        if (format == "raw")
        {
            return raw;
        }

        string qcow2 = tmp.File("built.qcow2");
        Oracle.RunOk("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2);
        return qcow2;
    }

    /// <summary>The image itself for raw; a raw copy made by qemu-img for qcow2.</summary>
    internal static string AsRaw(TempDirectory tmp, string image, string format)
    {
        if (format == "raw")
        {
            return image;
        }

        string raw = image + ".raw";
        Oracle.RunOk("qemu-img", "convert", "-f", "qcow2", "-O", "raw", image, raw);
        return raw;
    }

    internal static string ImageFormat(string image)
    {
        string json = Oracle.RunOk("qemu-img", "info", "--output=json", image).StandardOutput;
        return json.Contains("\"format\": \"qcow2\"", StringComparison.Ordinal) ? "qcow2" : "raw";
    }

    internal static void E2fsckClean(string raw)
    {
        ToolResult r = Oracle.Run("e2fsck", "-fn", raw);
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private static SortedDictionary<string, string> WithoutLinkGroups(SortedDictionary<string, string> snapshot)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach ((string path, string desc) in snapshot)
        {
            int group = desc.IndexOf(" group=", StringComparison.Ordinal);
            int end = group < 0 ? -1 : desc.IndexOf(' ', group + 1);
            result[path] = group < 0 ? desc : desc[..group] + (end < 0 ? "" : desc[end..]);
        }

        return result;
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
