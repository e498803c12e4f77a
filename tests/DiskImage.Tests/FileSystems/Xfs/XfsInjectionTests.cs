using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// Injection (issue 10, acceptance 3): a file written into <c>/etc</c> of an XFS image of the debootstrap tree, and
/// into a node-form directory of 50,000 entries, through <see cref="XfsFileSystem"/> opened writable:
/// <c>xfs_repair -n</c> clean, every other entry unchanged (ns times, owners, modes, xattrs, content), and the
/// kernel reads the result where it can mount.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class XfsInjectionTests
{
    private static readonly byte[] Injected = "nameserver 192.0.2.53\n"u8.ToArray();

    [SkippableFact]
    public void InjectIntoEtc_DebootstrapImage_RepairCleanRestUnchangedKernelReads()
    {
        Oracle.Require("xfs_repair");
        string tree = Fixtures.RequireDebootstrapTree();
        using var temp = new TempDirectory();
        string image = XfsBuildTests.BuildImage(tree, temp.File("debian.img"), XfsBuildTests.Options(extraPercent: 10));
        RandomTreeSnapshot before;
        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image)))
        {
            before = RandomTreeSnapshot.FromFileSystem(fs);
        }

        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image, writable: true), new XfsOpenOptions { Writable = true }))
        {
            using Stream s = fs.OpenFile("/etc/resolv.conf.injected", FileMode.CreateNew, FileAccess.Write);
            s.Write(Injected);
        }

        XfsFormatTests.AssertRepairClean(image);
        RandomTreeSnapshot after;
        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image)))
        {
            Assert.Equal(Injected, ReadAll(fs, "/etc/resolv.conf.injected"));
            after = RandomTreeSnapshot.FromFileSystem(fs, p => p == "/etc/resolv.conf.injected");
        }

        // /etc itself changed (a new entry: mtime, ctime); everything else is as it was.
        before.Entries.Remove("/etc");
        after.Entries.Remove("/etc");
        List<string> diffs = RandomTreeSnapshot.Compare(before, after, new RandomTreeCompareOptions());
        Assert.True(diffs.Count == 0, string.Join('\n', diffs));
        Assert.True(before.Entries.Count > 5000);

        if (Ext4KernelMount.UnavailableReason is null)
        {
            using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(image, temp.File("mnt"), "xfs", "ro,loop");
            Assert.Equal(Injected, File.ReadAllBytes(Path.Combine(m.MountPoint, "etc", "resolv.conf.injected")));
            ToolResult diff = Oracle.Run("diff", ["-r", "--no-dereference", "-x", "resolv.conf.injected", tree, m.MountPoint], TimeSpan.FromMinutes(5));
            Assert.True(diff.ExitCode == 0, diff.ToString());
        }
    }

    [SkippableFact]
    public void InjectIntoNodeDirectory_50000Entries_RepairCleanAndKernelReads()
    {
        Oracle.Require("xfs_repair");
        const int Count = 50_000;
        using var temp = new TempDirectory();
        var source = new InMemoryFileSystem();
        source.CreateDirectory("/big");
        for (int i = 0; i < Count; i++)
        {
            source.OpenFile($"/big/entry-{i:D6}-{new string('n', 20)}", FileMode.CreateNew, FileAccess.Write).Dispose();
        }

        string image = XfsBuildTests.BuildImage(source, temp.File("big.img"), XfsBuildTests.Options(extraPercent: 20));
        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image)))
        {
            // Node form: the directory's blocks reach past the leaf offset (32 GiB) into the free-index section.
            Assert.True(fs.GetEntry("/big").Size > 1 << 20);
        }

        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image, writable: true), new XfsOpenOptions { Writable = true }))
        {
            using Stream s = fs.OpenFile("/big/injected", FileMode.CreateNew, FileAccess.Write);
            s.Write(Injected);
        }

        XfsFormatTests.AssertRepairClean(image);
        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image)))
        {
            Assert.Equal(Count + 1, fs.EnumerateDirectory("/big").Count());
            Assert.Equal(Injected, ReadAll(fs, "/big/injected"));
            Assert.True(fs.Exists($"/big/entry-{Count - 1:D6}-{new string('n', 20)}"));
        }

        if (Ext4KernelMount.UnavailableReason is null)
        {
            using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(image, temp.File("mnt"), "xfs", "ro,loop");
            Assert.Equal(Injected, File.ReadAllBytes(Path.Combine(m.MountPoint, "big", "injected")));
            Assert.Equal(Count + 1, Directory.GetFileSystemEntries(Path.Combine(m.MountPoint, "big")).Length);
        }
    }

    private static byte[] ReadAll(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }
}
