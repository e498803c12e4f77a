using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Reverse interop: trees generated here are packed by <c>mke2fs -d</c> (e2fsprogs, Debian 12: 1.47.0)
/// with many option sets, optionally re-indexed by <c>e2fsck -fyD</c> (htree directories), and the
/// managed reader must report every path, type, mode, owner, link count, time, link target, device
/// number, xattr and content byte of the source tree.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class Ext4ReverseInteropTests
{
    public static TheoryData<string, string, bool> OptionSets => new()
    {
        { "ext4 default", "-t ext4", true },
        { "ext4 1 KiB blocks", "-t ext4 -b 1024", true },
        { "ext4 2 KiB blocks 128-byte inodes", "-t ext4 -b 2048 -I 128", false },
        { "ext4 no metadata_csum", "-t ext4 -O ^metadata_csum", true },
        { "ext4 metadata_csum_seed orphan_file", "-t ext4 -O metadata_csum_seed,orphan_file", true },
        { "ext4 inline_data", "-t ext4 -O inline_data", false },
        { "ext4 no journal no 64bit no flex_bg", "-t ext4 -O ^has_journal,^64bit,^flex_bg", false },
        { "ext4 no extents (block maps)", "-t ext4 -O ^extent,^64bit -b 1024", false },
        { "ext4 meta_bg", "-t ext4 -O meta_bg,^resize_inode", false },
        { "ext4 sparse_super2", "-t ext4 -O sparse_super2", false },
        { "ext4 bigalloc", "-t ext4 -O bigalloc -C 16384", false },
        { "ext4 -T small", "-t ext4 -T small", false },
        { "ext3", "-t ext3", true },
        { "ext2 1 KiB blocks", "-t ext2 -b 1024", false },
        { "ext3 1 KiB blocks indexed", "-t ext3 -b 1024", true },
    };

    [SkippableTheory]
    [MemberData(nameof(OptionSets))]
    public void Open_MkfsFromRandomTree_ReadsSourceTreeExactly(string name, string options, bool reindex)
    {
        Oracle.Require("mke2fs");
        int seed = StableSeed(name);
        using var temp = new TempDirectory();
        string src = Path.Combine(temp.Path, "src");
        Directory.CreateDirectory(src);
        bool blockMaps = !options.StartsWith("-t ext4", StringComparison.Ordinal) || options.Contains("^extent", StringComparison.Ordinal);
        var shape = new HostTreeShape
        {
            // With 1 KiB block maps, 70 MiB reaches the triple-indirect block.
            SparseFarOffsetMiB = blockMaps && options.Contains("-b 1024", StringComparison.Ordinal) ? 70 : 5,
            SparseTrailingHole = !options.Contains("inline_data", StringComparison.Ordinal),
        };
        HostTreeExpectations expectations = HostTreeGenerator.Generate(src, seed, shape);
        string img = temp.File("fs.img");
        string[] args = options.Split(' ');
        byte[] image = Ext4TestImages.Build(src, img, options.Contains("bigalloc", StringComparison.Ordinal) ? 128 * 1024 : 32 * 1024, args);
        if (reindex)
        {
            ToolResult fsck = Oracle.Run("e2fsck", ["-fyD", img], TimeSpan.FromMinutes(2));
            Assert.True(fsck.ExitCode is 0 or 1, fsck.ToString());
            image = File.ReadAllBytes(img);
        }

        try
        {
            using Ext4FileSystem fs = Ext4TestImages.Open(image);
            int compared = Ext4TreeComparer.AssertMatches(src, fs, expectations);
            Assert.True(compared > 2000);
            if (reindex)
            {
                string stat = Oracle.Run("debugfs", ["-R", "stat /bigdir", img]).StandardOutput;
                int at = stat.IndexOf("Flags: 0x", StringComparison.Ordinal);
                uint flags = Convert.ToUInt32(stat[(at + 9)..].Split(' ', '\n')[0], 16);
                Assert.True((flags & 0x1000) != 0, "e2fsck -D did not index /bigdir:\n" + stat);
            }
        }
        catch (Exception ex) when (ex is not SkipException)
        {
            throw new Xunit.Sdk.XunitException($"option set '{name}' ({options}), seed {seed}: {ex}");
        }
    }

    [SkippableFact]
    public void Open_LargeDirectoryWithTwoLevelHtree_ReadsAllEntries()
    {
        Oracle.Require("mke2fs");
        const int seed = 4242;
        using var temp = new TempDirectory();
        string src = Path.Combine(temp.Path, "src");
        Directory.CreateDirectory(src);
        Directory.CreateDirectory(Path.Combine(src, "bigdir"));
        var rng = new Random(seed);
        for (int i = 0; i < 6000; i++)
        {
            File.WriteAllBytes(Path.Combine(src, "bigdir", $"{i:D5}-" + new string('n', 150 + rng.Next(50))), []);
        }

        string img = temp.File("fs.img");
        Ext4TestImages.Build(src, img, 64 * 1024, "-t", "ext4", "-b", "1024");
        ToolResult fsck = Oracle.Run("e2fsck", ["-fyD", img], TimeSpan.FromMinutes(2));
        Assert.True(fsck.ExitCode is 0 or 1, fsck.ToString());
        string htree = Oracle.Run("debugfs", ["-R", "htree_dump /bigdir", img], TimeSpan.FromMinutes(1)).StandardOutput;
        Assert.Contains("Indirect levels: 1", htree, StringComparison.Ordinal);
        using Ext4FileSystem fs = Ext4TestImages.Open(File.ReadAllBytes(img));
        var names = fs.EnumerateDirectory("/bigdir").Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(6000, names.Count);
        foreach (string? n in Directory.EnumerateFiles(Path.Combine(src, "bigdir")).Select(Path.GetFileName))
        {
            Assert.Contains(n!, names);
        }

        Assert.Equal(UnixFileType.RegularFile, fs.GetEntry("/bigdir/" + names.First()).Type);
    }

    [SkippableFact]
    public void Open_MkfsFromEtc_ReadsRealTreeExactly()
    {
        Oracle.Require("mke2fs");
        Skip.IfNot(Directory.Exists("/etc"), "No /etc on this machine.");
        Skip.IfNot(HostFiles.IsRoot, "Reading every file of /etc needs root.");
        using var temp = new TempDirectory();
        string img = temp.File("etc.img");
        byte[] image = Ext4TestImages.Build("/etc", img, 64 * 1024, "-t", "ext4");
        using Ext4FileSystem fs = Ext4TestImages.Open(image);
        Assert.True(Ext4TreeComparer.AssertMatches("/etc", fs, expectations: null) > 100);
    }

    [SkippableTheory]
    [InlineData("ext4 defaults", false, new[] { "-t", "ext4" })]
    [InlineData("1 KiB blocks, no metadata_csum/64bit, htree by e2fsck -fyD", true, new[] { "-t", "ext4", "-b", "1024", "-O", "^metadata_csum,^64bit" })]
    public void Open_MkfsFromDebootstrapTree_ReadsRealTreeExactly(string name, bool reindex, string[] options)
    {
        Oracle.Require("mke2fs");
        string tree = Fixtures.RequireDebootstrapTree();
        Skip.IfNot(HostFiles.IsRoot, "Reading every file of the debootstrap tree needs root.");
        using var temp = new TempDirectory();
        string img = temp.File("minbase.img");
        ToolResult mkfs = Oracle.Run("mke2fs", ["-q", "-F", .. options, "-d", tree, img, "400M"], TimeSpan.FromMinutes(3));
        Assert.True(mkfs.ExitCode == 0, name + ": " + mkfs);
        if (reindex)
        {
            ToolResult fsck = Oracle.Run("e2fsck", ["-fyD", img], TimeSpan.FromMinutes(2));
            Assert.True(fsck.ExitCode is 0 or 1, name + ": " + fsck);
        }

        using var device = FileBlockDevice.Open(img);
        using Ext4FileSystem fs = Ext4FileSystem.Open(device);
        Assert.True(Ext4TreeComparer.AssertMatches(tree, fs, expectations: null) > 5000, name);
    }

    [SkippableFact]
    public void GetEntry_ChangeAndCreationTimes_MatchDebugfs()
    {
        Oracle.Require("mke2fs");
        using var temp = new TempDirectory();
        string src = Path.Combine(temp.Path, "src");
        Directory.CreateDirectory(src);
        File.WriteAllText(Path.Combine(src, "a"), "a");
        Directory.CreateDirectory(Path.Combine(src, "d"));
        string img = temp.File("fs.img");
        byte[] image = Ext4TestImages.Build(src, img, 4096, "-t", "ext4");
        using Ext4FileSystem fs = Ext4TestImages.Open(image);
        foreach (string path in new[] { "/a", "/d", "/" })
        {
            string stat = Oracle.Run("debugfs", ["-R", "stat " + path, img]).StandardOutput;
            UnixFileInfo e = fs.GetEntry(path);
            Assert.Equal(DebugfsTime(stat, "ctime"), e.ChangeTime);
            Assert.Equal(DebugfsTime(stat, "crtime"), e.CreationTime);
            Assert.Equal(DebugfsTime(stat, "mtime"), e.ModificationTime);
            Assert.Contains($"Inode: {e.Inode} ", stat, StringComparison.Ordinal);
        }

        // mke2fs -d stores no nanoseconds or epoch bits; set them with debugfs (which keeps the inode
        // checksum right) to check the decoding of the extra words: ns, and times past 2038.
        Oracle.RunOk("debugfs", "-w", "-R", "sif /a mtime_extra 0x12345679", img);
        Oracle.RunOk("debugfs", "-w", "-R", "sif /a atime 0x80000001", img);
        Oracle.RunOk("debugfs", "-w", "-R", "sif /a crtime_extra 0xFFFFFFFE", img);
        string after = Oracle.Run("debugfs", ["-R", "stat /a", img]).StandardOutput;
        using Ext4FileSystem fs2 = Ext4TestImages.Open(File.ReadAllBytes(img));
        UnixFileInfo a = fs2.GetEntry("/a");
        Assert.Equal(DebugfsTime(after, "mtime"), a.ModificationTime);
        Assert.Equal(DebugfsTime(after, "atime"), a.AccessTime);
        Assert.Equal(DebugfsTime(after, "crtime"), a.CreationTime);
        Assert.Equal(0x12345679 >> 2, a.ModificationTime.Nanoseconds);
        Assert.Equal(999_999_999, a.CreationTime!.Value.Nanoseconds);
        Assert.True(a.ModificationTime.Seconds > uint.MaxValue, a.ModificationTime.ToString());
        Assert.True(a.AccessTime.Seconds > int.MaxValue, a.AccessTime.ToString());
    }

    private static UnixTime DebugfsTime(string stat, string field)
    {
        // " ctime: 0x6b0990d7:00000000 -- ..." : seconds (low 32 bits, signed) and the extra word.
        int i = stat.IndexOf(field + ": 0x", StringComparison.Ordinal);
        Assert.True(i >= 0, $"debugfs printed no {field}:\n{stat}");
        string hex = stat.Substring(i + field.Length + 4, 17);
        long seconds = (int)Convert.ToUInt32(hex[..8], 16);
        uint extra = Convert.ToUInt32(hex[9..], 16);
        // An out-of-range nanosecond field (≥ 10^9) is clamped by the reader, like this.
        return new UnixTime(seconds + ((long)(extra & 3) << 32), (int)Math.Min(extra >> 2, 999_999_999u));
    }

    private static int StableSeed(string s)
    {
        int h = 17;
        foreach (char c in s)
        {
            h = (h * 31) + c;
        }

        return h & 0x7FFFFFFF;
    }
}
