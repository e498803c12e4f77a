using System.Globalization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Format profiles and the resize inode judged against mke2fs on the same size (dumpe2fs -h fields), by e2fsck -fn
/// and by resize2fs growing our image into the reserved descriptor blocks.
/// </summary>
public sealed class Ext4FormatProfileTests
{
    private static readonly Guid FixedUuid = new("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    private static readonly Guid FixedHashSeed = new("11223344-5566-7788-99aa-bbccddeeff00");
    private static readonly DateTimeOffset FixedTime = new(2024, 5, 6, 7, 8, 9, TimeSpan.Zero);

    private static readonly string[] ComparedFields =
    [
        "Filesystem features", "Block size", "Block count", "Inode count", "Reserved block count", "Free blocks",
        "Free inodes", "First block", "Reserved GDT blocks", "Blocks per group", "Inodes per group", "Inode size",
        "Flex block group size", "Journal size", "Total journal size", "Default mount options", "Filesystem flags",
        "Default directory hash", "Required extra isize", "Desired extra isize", "Journal backup", "Checksum type",
        "Checksum seed", "Orphan file inode", "Inode blocks per group",
    ];

    private static Ext4FormatOptions Options(Ext4FormatProfile profile, int? blockSize = null) => new()
    {
        Profile = profile,
        BlockSize = blockSize,
        Uuid = FixedUuid,
        HashSeed = FixedHashSeed,
        Timestamp = FixedTime,
    };

    private static string[] Mke2fsFeatures(Ext4FormatProfile profile) => profile switch
    {
        Ext4FormatProfile.Rhel7 => ["-O", "^metadata_csum,^64bit,uninit_bg,^metadata_csum_seed,^orphan_file"],
        Ext4FormatProfile.Upstream => ["-O", "metadata_csum_seed,orphan_file"],
        _ => ["-O", "^metadata_csum_seed,^orphan_file"],
    };

    private static Dictionary<string, string> DumpHeader(string path)
    {
        ToolResult r = Oracle.Run("dumpe2fs", "-h", path);
        Assert.True(r.ExitCode == 0, r.ToString());
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in r.StandardOutput.Split('\n'))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                fields.TryAdd(line[..colon].Trim(), line[(colon + 1)..].Trim());
            }
        }

        return fields;
    }

    private static void AssertFsckClean(string path)
    {
        ToolResult r = Oracle.Run("e2fsck", "-fn", path);
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private static void AssertHeadersEqual(string ours, string theirs)
    {
        Dictionary<string, string> a = DumpHeader(ours);
        Dictionary<string, string> b = DumpHeader(theirs);
        foreach (string field in ComparedFields)
        {
            Assert.True(a.GetValueOrDefault(field) == b.GetValueOrDefault(field), $"{field}: ours '{a.GetValueOrDefault(field)}', mke2fs '{b.GetValueOrDefault(field)}'");
        }
    }

    /// <summary>Mode, flags, size, links and block count of a special inode as debugfs shows them.</summary>
    private static void AssertSpecialInodeEqual(string ours, string theirs, int ino)
    {
        string[] a = SpecialInodeFacts(ours, ino);
        string[] b = SpecialInodeFacts(theirs, ino);
        Assert.True(a.AsSpan().SequenceEqual(b), $"inode {ino}: ours [{string.Join(", ", a)}], mke2fs [{string.Join(", ", b)}]");
    }

    private static string[] SpecialInodeFacts(string image, int ino)
    {
        string stat = Oracle.RunOk("debugfs", "-R", $"stat <{ino}>", image).StandardOutput;
        var facts = new List<string>();
        foreach (string key in new[] { "Type:", "Mode:", "Flags:", "Size:", "Links:", "Blockcount:" })
        {
            int at = stat.IndexOf(key, StringComparison.Ordinal);
            facts.Add(at < 0 ? key + "?" : key + stat[(at + key.Length)..].TrimStart().Split(' ', '\n')[0]);
        }

        return [.. facts];
    }

    private static string Mke2fs(string path, long size, Ext4FormatProfile profile, int? blockSize)
    {
        using (FileBlockDevice.Create(path, size))
        {
        }

        var args = new List<string> { "-q", "-F", "-t", "ext4", "-U", FixedUuid.ToString(), "-E", "lazy_itable_init=1,hash_seed=" + FixedHashSeed };
        args.AddRange(Mke2fsFeatures(profile));
        if (blockSize is int bs)
        {
            args.Add("-b");
            args.Add(bs.ToString(CultureInfo.InvariantCulture));
        }

        args.Add(path);
        ToolResult mk = Oracle.Run("mke2fs", [.. args]);
        Assert.True(mk.ExitCode == 0, mk.ToString());
        return path;
    }

    [SkippableTheory]
    [InlineData(8L << 20, Ext4FormatProfile.Debian12, null)]
    [InlineData(8L << 20, Ext4FormatProfile.Debian12, 2048)]
    [InlineData(8L << 20, Ext4FormatProfile.Debian12, 4096)]
    [InlineData(64L << 20, Ext4FormatProfile.Debian12, null)]
    [InlineData(64L << 20, Ext4FormatProfile.Debian12, 4096)]
    [InlineData(1L << 30, Ext4FormatProfile.Debian12, null)]
    [InlineData(1L << 30, Ext4FormatProfile.Debian12, 1024)]
    [InlineData(20L << 30, Ext4FormatProfile.Debian12, null)]
    [InlineData(2L << 40, Ext4FormatProfile.Debian12, null)]
    [InlineData(8L << 20, Ext4FormatProfile.Rhel7, null)]
    [InlineData(64L << 20, Ext4FormatProfile.Rhel7, 4096)]
    [InlineData(1L << 30, Ext4FormatProfile.Rhel7, null)]
    [InlineData(20L << 30, Ext4FormatProfile.Rhel7, null)]
    [InlineData(2L << 40, Ext4FormatProfile.Rhel7, null)]
    [InlineData(1L << 30, Ext4FormatProfile.Rhel8, null)]
    [InlineData(64L << 20, Ext4FormatProfile.Rhel9, null)]
    [InlineData(8L << 20, Ext4FormatProfile.Upstream, null)]
    [InlineData(64L << 20, Ext4FormatProfile.Upstream, null)]
    [InlineData(1L << 30, Ext4FormatProfile.Upstream, null)]
    [InlineData(20L << 30, Ext4FormatProfile.Upstream, null)]
    [InlineData(2L << 40, Ext4FormatProfile.Upstream, null)]
    public void Format_Profile_HeaderMatchesMke2fsAndE2fsckClean(long size, Ext4FormatProfile profile, int? blockSize)
    {
        Oracle.Require("mke2fs");
        using var dir = new TempDirectory();
        string ours = dir.File("ours.img");
        using (FileBlockDevice device = FileBlockDevice.Create(ours, size))
        {
            Ext4FileSystem.Format(device, Options(profile, blockSize));
            Skip.If(size > 1L << 30 && device.AllocatedSize >= device.Length, "The host file system does not support sparse files.");
        }

        AssertFsckClean(ours);
        string theirs = Mke2fs(dir.File("mke2fs.img"), size, profile, blockSize);
        AssertHeadersEqual(ours, theirs);
        AssertSpecialInodeEqual(ours, theirs, 7);
        if (profile == Ext4FormatProfile.Upstream)
        {
            AssertSpecialInodeEqual(ours, theirs, 12);
        }

        using FileBlockDevice ro = FileBlockDevice.Open(ours);
        using Ext4FileSystem fs = Ext4FileSystem.Open(ro, leaveOpen: true);
        Assert.Equal(UnixFileType.Directory, fs.GetEntry("/lost+found").Type);
    }

    [SkippableTheory]
    [InlineData(Ext4FormatProfile.Debian12, 1024, 16L << 20, 512L << 20)]
    [InlineData(Ext4FormatProfile.Debian12, 4096, 64L << 20, 12L << 30)]
    [InlineData(Ext4FormatProfile.Rhel7, 4096, 64L << 20, 20L << 30)]
    [InlineData(Ext4FormatProfile.Upstream, 4096, 256L << 20, 10L << 30)]
    public void Format_ResizeInode_Resize2fsGrowsCleanly(Ext4FormatProfile profile, int blockSize, long size, long grownSize)
    {
        Oracle.Require("resize2fs");
        using var dir = new TempDirectory();
        string image = dir.File("fs.img");
        using (FileBlockDevice device = FileBlockDevice.Create(image, size))
        {
            Ext4FileSystem.Format(device, Options(profile, blockSize));
        }

        AssertFsckClean(image);
        long reservedBefore = long.Parse(DumpHeader(image)["Reserved GDT blocks"], CultureInfo.InvariantCulture);
        Assert.True(reservedBefore > 0);
        using (var f = new FileStream(image, FileMode.Open, FileAccess.ReadWrite))
        {
            f.SetLength(grownSize);
        }

        ToolResult r = Oracle.Run("resize2fs", image);
        Assert.True(r.ExitCode == 0, r.ToString());
        AssertFsckClean(image);
        Dictionary<string, string> h = DumpHeader(image);
        Assert.Equal(grownSize / blockSize, long.Parse(h["Block count"], CultureInfo.InvariantCulture));
        Assert.True(long.Parse(h["Reserved GDT blocks"], CultureInfo.InvariantCulture) < reservedBefore, "resize2fs did not use the reserved descriptor blocks");
    }

    [Fact]
    public void Format_ResizeInodeOff_NoFeatureNoReservedBlocks()
    {
        byte[] a = new byte[16 << 20];
        using var device = new MemoryBlockDevice(a, writable: true);
        Ext4FileSystem.Format(device, new Ext4FormatOptions { ResizeInode = false, Uuid = FixedUuid, HashSeed = FixedHashSeed, Timestamp = FixedTime });
        using Ext4FileSystem fs = Ext4FileSystem.Open(new MemoryBlockDevice(a, writable: false));
        Assert.Equal(UnixFileType.Directory, fs.GetEntry("/lost+found").Type);
        uint compat = BitConverter.ToUInt32(a, 1024 + 0x5C);
        Assert.Equal(0u, compat & 0x10);
        Assert.Equal(0, BitConverter.ToUInt16(a, 1024 + 0xCE));
    }

    [SkippableTheory]
    [InlineData(Ext4FormatProfile.Debian12)]
    [InlineData(Ext4FormatProfile.Upstream)]
    public void Format_SixteenTiBSparse_FastAndMetadataOnly(Ext4FormatProfile profile)
    {
        Oracle.Require("dumpe2fs");
        using var dir = new TempDirectory();
        string image = dir.File("huge.img");
        long size = (16L << 40) - (1L << 20);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            using FileBlockDevice device = FileBlockDevice.Create(image, size);
            Ext4FileSystem.Format(device, Options(profile));
            Skip.If(device.AllocatedSize >= device.Length, "The host file system does not support sparse files.");
            Assert.True(device.AllocatedSize < 1L << 30, $"allocated {device.AllocatedSize} bytes");
        }
        catch (IOException e) when (e.Message.Contains("too large", StringComparison.OrdinalIgnoreCase))
        {
            Skip.If(true, "The host file system does not allow a 16 TiB file.");
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"format took {watch.Elapsed}");
        AssertFsckClean(image);
        string theirs = Mke2fs(dir.File("mke2fs.img"), size, profile, null);
        AssertHeadersEqual(image, theirs);
        using FileBlockDevice ro = FileBlockDevice.Open(image);
        using Ext4FileSystem fs = Ext4FileSystem.Open(ro, leaveOpen: true);
        Assert.Equal(UnixFileType.Directory, fs.GetEntry("/lost+found").Type);
    }

    [SkippableTheory]
    [InlineData(Ext4FormatProfile.Upstream, 1024)]
    [InlineData(Ext4FormatProfile.Upstream, 4096)]
    [InlineData(Ext4FormatProfile.Rhel8, 4096)]
    [InlineData(Ext4FormatProfile.Rhel9, 2048)]
    public void Build_Profile_E2fsckCleanAndOrphanFileAfterTree(Ext4FormatProfile profile, int blockSize)
    {
        Oracle.Require("e2fsck");
        var mem = new InMemoryFileSystem();
        ConformanceTree.Populate(mem);
        var options = new Ext4BuildOptions { Format = Options(profile, blockSize), ExtraBytes = 16L << 20 };
        using var dir = new TempDirectory();
        string image = dir.File("fs.img");
        using (FileBlockDevice device = FileBlockDevice.Create(image, Ext4FileSystem.ComputeBuildSize(mem, options)))
        {
            Ext4FileSystem.Build(device, mem, options);
        }

        AssertFsckClean(image);
        Dictionary<string, string> h = DumpHeader(image);
        Assert.Contains("resize_inode", h["Filesystem features"], StringComparison.Ordinal);
        if (profile == Ext4FormatProfile.Upstream)
        {
            Assert.Contains("orphan_file", h["Filesystem features"], StringComparison.Ordinal);
            Assert.Contains("metadata_csum_seed", h["Filesystem features"], StringComparison.Ordinal);
            long inodes = long.Parse(h["Inode count"], CultureInfo.InvariantCulture) - long.Parse(h["Free inodes"], CultureInfo.InvariantCulture);
            Assert.Equal(inodes, long.Parse(h["Orphan file inode"], CultureInfo.InvariantCulture));
        }
        else
        {
            Assert.False(h.ContainsKey("Orphan file inode"));
        }

        using FileBlockDevice ro = FileBlockDevice.Open(image);
        using Ext4FileSystem fs = Ext4FileSystem.Open(ro, leaveOpen: true);
        Assert.Equal(ConformanceTree.HelloContent, ReadAll(fs, "/hello.txt"));
    }

    [Theory]
    [InlineData(Ext4FormatProfile.Upstream, 1024)]
    [InlineData(Ext4FormatProfile.Rhel9, 4096)]
    public void Format_SameOptions_ByteIdenticalImages(Ext4FormatProfile profile, int blockSize)
    {
        byte[] a = new byte[24 << 20];
        byte[] b = new byte[24 << 20];
        Ext4FileSystem.Format(new MemoryBlockDevice(a, writable: true), Options(profile, blockSize));
        Ext4FileSystem.Format(new MemoryBlockDevice(b, writable: true), Options(profile, blockSize));
        Assert.True(a.AsSpan().SequenceEqual(b), "two formats with the same options differ");
    }

    [Fact]
    public void Format_UnknownProfile_ThrowsArgumentException()
    {
        byte[] a = new byte[8 << 20];
        Assert.Throws<ArgumentException>(() => Ext4FileSystem.Format(new MemoryBlockDevice(a, writable: true), new Ext4FormatOptions { Profile = (Ext4FormatProfile)99 }));
    }

    [SkippableFact]
    public void Format_UpstreamWithoutJournal_NoOrphanFileE2fsckClean()
    {
        Oracle.Require("e2fsck");
        using var dir = new TempDirectory();
        string image = dir.File("fs.img");
        using (FileBlockDevice device = FileBlockDevice.Create(image, 32L << 20))
        {
            Ext4FileSystem.Format(device, new Ext4FormatOptions { Profile = Ext4FormatProfile.Upstream, JournalBlocks = 0, Uuid = FixedUuid, HashSeed = FixedHashSeed, Timestamp = FixedTime });
        }

        AssertFsckClean(image);
        Dictionary<string, string> h = DumpHeader(image);
        Assert.DoesNotContain("orphan_file", h["Filesystem features"], StringComparison.Ordinal);
        Assert.Contains("metadata_csum_seed", h["Filesystem features"], StringComparison.Ordinal);
    }

    private static byte[] ReadAll(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }
}
