using System.Runtime.Versioning;
using System.Text;
using DiskImage.Archives.Cpio;
using DiskImage.Cli;
using DiskImage.FileSystems;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.FileSystems.Names;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Cli;

/// <summary>
/// Names that are not valid UTF-8, hold newlines or are 255 bytes long, through <c>make-fs</c>, <c>copy-in</c>,
/// <c>copy-out</c>, <c>cat</c>, <c>ls</c>, <c>mkinitramfs</c>, <c>lsinitramfs</c> and <c>unpack-initramfs</c>, compared
/// by raw bytes with the source tree as e2fsprogs 1.47 (debugfs rdump, ls -p; mke2fs -d) and GNU cpio 2.13 see it.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class RawNameCliTests
{
    private static readonly string Xfd = UnixPathEncoding.GetString([0x78, 0xFD]);

    [SkippableFact]
    public void MakeFs_RawNames_DebugfsSeesSameBytes()
    {
        Oracle.Require("debugfs");
        using var tmp = new TempDirectory();
        string src = MakeSource(tmp), image = tmp.File("fs.img"), dump = tmp.File("dump");
        Directory.CreateDirectory(dump);

        CliHarness.RunOk("make-fs", src, image);
        E2fsckClean(image);
        RawTree.RunOk("debugfs -R \"rdump / $2\" \"$1\" 2>/dev/null", image, dump);
        RawTree.AssertSame(src, dump);

        // debugfs ls -p prints each name's bytes between slashes: "/ino/mode/uid/gid/NAME/size/".
        byte[] listing = RawTree.RunOk("debugfs -R 'ls -p /' \"$1\" 2>/dev/null", image).StandardOutput;
        Assert.True(Contains(listing, [(byte)'/', 0x78, 0xFD, (byte)'/']), RawTree.Describe(listing));
        Assert.True(Contains(listing, [(byte)'/', 0x78, 0xFC, (byte)'/']), RawTree.Describe(listing));
        Assert.True(Contains(listing, [(byte)'/', 0xFF, 0xFE, (byte)'/']), RawTree.Describe(listing));
        Assert.True(Contains(listing, [(byte)'/', 0xC3, (byte)'/']), RawTree.Describe(listing));
    }

    [SkippableFact]
    public void MakeFsAndCopyIn_RawNames_KernelMountSeesSameBytes()
    {
        Ext4KernelMount.Require();
        using var tmp = new TempDirectory();
        string src = MakeSource(tmp), built = tmp.File("built.img"), copied = tmp.File("copied.img");
        CliHarness.RunOk("make-fs", src, built);
        CliHarness.RunOk("mkfs", "--size", "16M", "ext4", copied);
        CliHarness.RunOk("copy-in", copied, src, "/");

        using (Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(built, tmp.File("mnt1")))
        {
            RawTree.AssertSame(src, tmp.File("mnt1"));
        }

        using (Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(copied, tmp.File("mnt2")))
        {
            RawTree.AssertSame(src, Path.Combine(tmp.File("mnt2"), "src"));
        }
    }

    [SkippableFact]
    public void CopyIn_RawNames_DebugfsSeesSameBytes()
    {
        Oracle.Require("debugfs");
        using var tmp = new TempDirectory();
        string src = MakeSource(tmp), image = tmp.File("fs.img"), dump = tmp.File("dump");
        Directory.CreateDirectory(dump);

        CliHarness.RunOk("mkfs", "--size", "16M", "ext4", image);
        CliHarness.RunOk("copy-in", image, src, "/");
        E2fsckClean(image);
        RawTree.RunOk("debugfs -R \"rdump /src $2\" \"$1\" 2>/dev/null", image, dump);
        RawTree.AssertSame(src, Path.Combine(dump, "src"));
    }

    [SkippableFact]
    public void CopyOut_Mke2fsImageWithRawNames_SameBytesAndCatReadsEachFile()
    {
        Oracle.Require("mke2fs");
        using var tmp = new TempDirectory();
        string src = MakeSource(tmp), image = tmp.File("fs.img"), output = tmp.File("out");
        Directory.CreateDirectory(output);
        RawTree.RunOk("mke2fs -q -F -t ext4 -d \"$2\" \"$1\" 16M", image, src);

        CliHarness.RunOk("copy-out", image, "/", output);
        RawTree.AssertSame(src, output);

        // x\xfd and x\xfc used to be one name: each must give its own content.
        Assert.Equal("first", Cat(image, "/" + Xfd));
        Assert.Equal("second", Cat(image, "/" + UnixPathEncoding.GetString([0x78, 0xFC])));

        // ls prints the raw bytes (a name holding a newline prints it, as GNU cpio -t and ls to a pipe do).
        byte[] ls = RunToBytes("ls", image, "/");
        Assert.True(Contains(ls, [(byte)'\n', 0x78, 0xFD, (byte)'\n']), RawTree.Describe(ls));
        Assert.True(Contains(ls, [(byte)'\n', 0xFF, 0xFE, (byte)'\n']), RawTree.Describe(ls));
    }

    [SkippableFact]
    public void Mkinitramfs_RawNames_GnuCpioListsAndExtractsSameBytes()
    {
        Oracle.Require("cpio");
        using var tmp = new TempDirectory();
        string src = MakeSource(tmp), archive = tmp.File("initrd.img"), gnu = tmp.File("gnu"), ours = tmp.File("ours");
        Directory.CreateDirectory(gnu);

        CliHarness.RunOk("mkinitramfs", src, "-o", archive, "--compress", "none");

        // cpio -t prints one name per line; a name with a newline splits alike in both listings.
        const string Lines = "LC_ALL=C sort | grep -vx '\\.' || true";
        byte[] expected = RawTree.RunOk($"cd \"$1\" && find . -mindepth 1 -printf '%P\\n' | {Lines}", src).StandardOutput;
        byte[] listed = RawTree.RunOk($"cpio -it --quiet < \"$1\" | {Lines}", archive).StandardOutput;
        Assert.True(expected.AsSpan().SequenceEqual(listed), $"expected:\n{RawTree.Describe(expected)}\ncpio -t:\n{RawTree.Describe(listed)}");

        RawTree.RunOk("cd \"$2\" && cpio -id --quiet < \"$1\"", archive, gnu);
        RawTree.AssertSame(src, gnu);

        CliHarness.RunOk("unpack-initramfs", archive, ours);
        RawTree.AssertSame(src, ours);

        byte[] ourListing = RawTree.RunOk($"cat \"$1\" | {Lines}", WriteBytes(tmp.File("ls.txt"), RunToBytes("lsinitramfs", archive))).StandardOutput;
        Assert.True(expected.AsSpan().SequenceEqual(ourListing), $"expected:\n{RawTree.Describe(expected)}\nlsinitramfs:\n{RawTree.Describe(ourListing)}");
    }

    [SkippableFact]
    public void UnpackInitramfs_GnuCpioArchiveWithRawNames_SameBytes()
    {
        Oracle.Require("cpio");
        using var tmp = new TempDirectory();
        // The archive's own name is not UTF-8 either (made by printf, named here by its escape).
        string src = MakeSource(tmp), archive = tmp.File("gnu" + Xfd + ".cpio"), ours = tmp.File("ours");
        RawTree.RunOk("cd \"$1\" && find . -mindepth 1 -print0 | cpio -o -0 -H newc --quiet > \"$2/$(printf 'gnux\\375.cpio')\"", src, tmp.Path);

        CliHarness.RunOk("unpack-initramfs", archive, ours);
        RawTree.AssertSame(src, ours);
    }

    [SkippableFact]
    public void Cat_ArgumentWithInvalidUtf8InProcessArgv_ReadsThatFile()
    {
        string dotnet = Oracle.Require("dotnet");
        Oracle.Require("mke2fs");
        using var tmp = new TempDirectory();
        string src = MakeSource(tmp), image = tmp.File("fs.img");
        RawTree.RunOk("mke2fs -q -F -t ext4 -d \"$2\" \"$1\" 16M", image, src);
        string cli = typeof(DiskImage.Cli.Cli).Assembly.Location;

        RawResult r = RawTree.RunOk("\"$2\" \"$3\" cat \"$1\" \"$(printf '/x\\374')\" \"$(printf '/\\303/new\\nline')\"", image, dotnet, cli);
        Assert.Equal("secondnested", Encoding.UTF8.GetString(r.StandardOutput));
    }

    [Fact]
    public void HostTreeSource_FileVanishesBeforeRead_ErrorNamesThePath()
    {
        using var tmp = new TempDirectory();
        string src = MakeSource(tmp);
        var source = new HostDirectoryTreeSource(src);
        List<CpioTreeItem> items = source.EnumerateItems().ToList();
        CpioTreeItem item = items.Single(i => i.Path == Xfd);
        string host = src + "/" + Xfd;
        RawTree.RunOk("rm -- \"$1/$(printf 'x\\375')\"", src);

        IOException e = Assert.ThrowsAny<IOException>(() => item.OpenData!().Dispose());
        Assert.Contains(host, e.Message, StringComparison.Ordinal);
    }

    private static string MakeSource(TempDirectory tmp)
    {
        string src = tmp.File("src");
        Directory.CreateDirectory(src);
        RawTree.Create(src);
        return src;
    }

    private static void E2fsckClean(string image)
    {
        ToolResult r = Oracle.Run("e2fsck", "-fn", image);
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private static string Cat(string image, string path)
    {
        using var bytes = new MemoryStream();
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = DiskImage.Cli.Cli.Run(["cat", image, path], stdout, stderr, bytes);
        Assert.True(code == 0, stderr.ToString());
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>Runs a verb in-process with standard output encoded as the real console is.</summary>
    private static byte[] RunToBytes(params string[] args)
    {
        using var bytes = new MemoryStream();
        using var stderr = new StringWriter();
        int code;
        using (var stdout = new StreamWriter(bytes, RawNameConsoleEncoding.Instance, 1024, leaveOpen: true))
        {
            code = DiskImage.Cli.Cli.Run(args, stdout, stderr, bytes);
        }

        Assert.True(code == 0, stderr.ToString());
        return bytes.ToArray();
    }

    private static string WriteBytes(string path, byte[] content)
    {
        File.WriteAllBytes(path, content);
        return path;
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}
