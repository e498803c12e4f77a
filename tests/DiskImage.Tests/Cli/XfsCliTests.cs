using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Host;
using DiskImage.Tests.FileSystems;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.FileSystems.Xfs;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Cli;

/// <summary>
/// The read-only file-system verbs on XFS images (raw and qcow2): <c>ls</c>, <c>cat</c> and <c>copy-out</c>
/// give what the kernel reads through a loop mount of the same image; <c>copy-in</c> writes (xfs_repair clean) or refuses clearly.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class XfsCliTests
{
    [SkippableTheory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    public void CopyOut_KernelFilledXfs_EqualsKernelView(string format)
    {
        Oracle.Require("mkfs.xfs");
        Oracle.Require("qemu-img");
        Ext4KernelMount.Require();
        using var tmp = new TempDirectory();
        string raw = tmp.File("xfs.img");
        XfsTestImages.Format(raw);
        XfsTestImages.Fill(raw, tmp.File("rw"), root => HostTreeGenerator.Generate(root, 11, new HostTreeShape { BigDirectoryEntries = 600 }));
        RandomTreeSnapshot kernel = XfsTestImages.KernelSnapshot(raw, tmp.File("ro"));
        string image = raw;
        if (format == "qcow2")
        {
            image = tmp.File("xfs.qcow2");
            Oracle.RunOk("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, image);
        }

        string output = tmp.File("out");
        Directory.CreateDirectory(output);
        CliHarness.RunOk("copy-out", image, "/files", "/links", "/xattrs", output);
        using var host = new HostDirectoryFileSystem(output);
        RandomTreeSnapshot copied = RandomTreeSnapshot.FromFileSystem(host);
        foreach (string top in new[] { "/files", "/links", "/xattrs" })
        {
            foreach ((string path, RandomTreeSnapshot.Entry e) in kernel.Entries)
            {
                if (path == top || path.StartsWith(top + "/", StringComparison.Ordinal))
                {
                    Assert.True(copied.Entries.TryGetValue(path, out RandomTreeSnapshot.Entry? got), $"copy-out lacks {path}");
                    Assert.Equal(e.Type, got.Type);
                    Assert.Equal(e.ContentHash, got.ContentHash);
                    Assert.Equal(e.LinkTarget, got.LinkTarget);
                    Assert.Equal(e.Mode, got.Mode);
                }
            }
        }

        string listing = CliHarness.RunOk("ls", image, "/files").StandardOutput;
        string[] expected = [.. kernel.Entries.Keys.Where(p => p.StartsWith("/files/", StringComparison.Ordinal) && p.Count(c => c == '/') == 2).Select(p => p["/files/".Length..]).Order(StringComparer.Ordinal)];
        Assert.Equal(expected, listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
        Assert.Equal("non-ASCII name\n", CliHarness.RunOk("cat", image, "/files/ünïcødé-日本.txt").StandardOutput);
    }

    [SkippableFact]
    public void CopyOut_OneTebibyteSparseFile_SkipsTheHolesAndKeepsTheBytes()
    {
        Oracle.Require("mkfs.xfs");
        Ext4KernelMount.Require();
        using var tmp = new TempDirectory();
        string image = tmp.File("xfs.img");
        XfsTestImages.Format(image);
        byte[] data = new byte[8192];
        new Random(5).NextBytes(data);
        const long At = 512L << 30;
        XfsTestImages.Fill(image, tmp.File("rw"), root =>
        {
            using var f = new FileStream(Path.Combine(root, "sparse"), FileMode.CreateNew);
            f.SetLength(1L << 40);
            f.Position = At;
            f.Write(data);
        });

        string output = tmp.File("out");
        Directory.CreateDirectory(output);
        // Reading 1 TiB of zeros would take many minutes: the copy must jump over the holes.
        Task copy = Task.Run(() => CliHarness.RunOk("copy-out", image, "/sparse", output));
        Assert.True(copy.Wait(TimeSpan.FromMinutes(2)), "copy-out read the holes instead of skipping them");
        using var copied = new FileStream(Path.Combine(output, "sparse"), FileMode.Open, FileAccess.Read);
        Assert.Equal(1L << 40, copied.Length);
        byte[] back = new byte[data.Length];
        copied.Position = At;
        copied.ReadExactly(back);
        Assert.Equal(data, back);
    }

    [SkippableFact]
    public void CopyIn_MkfsXfs_WrittenRepairCleanAndReadBack()
    {
        Oracle.Require("mkfs.xfs");
        Oracle.Require("xfs_repair");
        using var tmp = new TempDirectory();
        string image = tmp.File("xfs.img");
        XfsTestImages.Format(image, "-m", "crc=1,finobt=1,reflink=1,bigtime=1,inobtcount=1,rmapbt=0", "-i", "sparse=1");
        string src = tmp.File("hostname");
        File.WriteAllText(src, "guest\n");
        CliHarness.RunOk("copy-in", image, src, "/");
        XfsFormatTests.AssertRepairClean(image);
        Assert.Equal("hostname\n", CliHarness.RunOk("ls", image, "/").StandardOutput);
        Assert.Equal("guest\n", CliHarness.RunOk("cat", image, "/hostname").StandardOutput);
    }

    [SkippableFact]
    public void CopyIn_XfsWithRmapbt_WrittenRepairCleanAndReadBack()
    {
        Oracle.Require("mkfs.xfs");
        Oracle.Require("xfs_repair");
        using var tmp = new TempDirectory();
        string image = tmp.File("xfs.img");
        XfsTestImages.Format(image, "-m", "crc=1,rmapbt=1,reflink=1");
        string src = tmp.File("hostname");
        File.WriteAllText(src, "guest\n");
        CliHarness.RunOk("copy-in", image, src, "/");
        XfsFormatTests.AssertRepairClean(image);
        Assert.Equal("guest\n", CliHarness.RunOk("cat", image, "/hostname").StandardOutput);
    }

    [SkippableFact]
    public void CopyIn_XfsVersion4_RefusedNamingTheFeatureAndUnchanged()
    {
        Oracle.Require("mkfs.xfs");
        using var tmp = new TempDirectory();
        string image = tmp.File("xfs.img");
        XfsTestImages.Format(image, "-m", "crc=0");
        string src = tmp.File("hostname");
        File.WriteAllText(src, "guest\n");
        byte[] before = File.ReadAllBytes(image);
        CliResult r = CliHarness.Run("copy-in", image, src, "/");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("version 4", r.StandardError, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(image));
    }
}
