using DiskImage.FileSystems;
using DiskImage.FileSystems.Xfs;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// Reverse interop: <c>mkfs.xfs</c> (xfsprogs, Debian 12: 6.1) formats with each profile's options, the
/// running kernel fills the file system through a loop mount with a generated tree plus the XFS
/// structures it lacks (node directories, depth-2 block-map btrees, leaf/node attributes, remote
/// values and symlinks), and the managed reader must report exactly what the kernel reports through a
/// read-only mount: every path, type, mode, owner, link count, size, ns time, link target, device
/// number, xattr (POSIX ACLs included) and content byte.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class XfsReverseInteropTests
{
    public static TheoryData<string, string> Profiles => new()
    {
        { "default (xfsprogs 6.1: crc finobt sparse reflink bigtime inobtcount)", string.Empty },
        { "RHEL 8 (no bigtime, no inobtcount)", "-m bigtime=0,inobtcount=0" },
        { "RHEL 7 style (crc finobt; no sparse, no reflink)", "-m reflink=0,bigtime=0,inobtcount=0 -i sparse=0" },
        { "upstream 6.5 (rmapbt, nrext64)", "-m rmapbt=1 -i nrext64=1" },
        { "8 KiB directory blocks", "-n size=8192" },
        { "1 KiB inodes", "-i size=1024" },
        { "1 KiB blocks (4 KiB directory blocks span 4)", "-b size=1024" },
        { "two AGs", "-d agcount=2" },
        { "6 AGs", "-d agcount=6" },
    };

    [SkippableTheory]
    [MemberData(nameof(Profiles))]
    public void Open_KernelFilledImage_ReadsWhatTheKernelReads(string name, string options)
    {
        Oracle.Require("mkfs.xfs");
        Ext4KernelMount.Require();
        int seed = StableSeed(name);
        using var temp = new TempDirectory();
        string image = temp.File("xfs.img");
        XfsTestImages.Format(image, options.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        XfsTestImages.Fill(image, temp.File("rw"), root =>
        {
            HostTreeGenerator.Generate(root, seed, new HostTreeShape());
            XfsTestImages.AddXfsStructures(root, seed, deepBtree: name.StartsWith("default", StringComparison.Ordinal));
        });

        RandomTreeSnapshot kernel = XfsTestImages.KernelSnapshot(image, temp.File("ro"));
        if (name.StartsWith("default", StringComparison.Ordinal))
        {
            // The structure really is what the test means to read: a block-map btree of depth 2 (xfs_db).
            long ino = kernel.Entries["/fragmented.bin"].Inode;
            string db = Oracle.RunOk("xfs_db", "-r", "-c", $"inode {ino}", "-c", "print core.format u3.bmbt.level", image).StandardOutput;
            Assert.Contains("u3.bmbt.level = 2", db, StringComparison.Ordinal);
        }

        using XfsFileSystem fs = XfsTestImages.Open(image);
        RandomTreeSnapshot ours = RandomTreeSnapshot.FromFileSystem(fs);
        List<string> diffs = RandomTreeSnapshot.Compare(kernel, ours, new RandomTreeCompareOptions());
        Assert.True(diffs.Count == 0, $"{name} (seed {seed}, {XfsTestImages.MkfsVersion}): {diffs.Count} differences\n" + string.Join('\n', diffs));
        Assert.True(kernel.Entries.Count > 8000, $"only {kernel.Entries.Count} entries");
    }

    /// <summary>A seed that stays the same across runs for the same name (string.GetHashCode does not).</summary>
    private static int StableSeed(string s)
    {
        uint h = 2166136261;
        foreach (char c in s)
        {
            h = (h ^ c) * 16777619;
        }

        return (int)(h & 0x7FFFFFFF);
    }
}
