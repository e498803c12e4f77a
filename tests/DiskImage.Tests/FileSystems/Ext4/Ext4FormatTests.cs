using System.Globalization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>Ext4FileSystem.Format judged by e2fsck -fn, dumpe2fs -h and debugfs (e2fsprogs), and by the managed reader.</summary>
public sealed class Ext4FormatTests
{
    private static readonly Guid FixedUuid = new("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    private static readonly Guid FixedHashSeed = new("11223344-5566-7788-99aa-bbccddeeff00");
    private static readonly DateTimeOffset FixedTime = new(2024, 5, 6, 7, 8, 9, TimeSpan.Zero);

    private static Ext4FormatOptions Options(Ext4FormatProfile profile, int blockSize, string label = "") => new()
    {
        Profile = profile,
        BlockSize = blockSize,
        Uuid = FixedUuid,
        HashSeed = FixedHashSeed,
        Timestamp = FixedTime,
        Label = label,
    };

    private static void FormatFile(string path, long size, Ext4FormatOptions options)
    {
        using FileBlockDevice device = FileBlockDevice.Create(path, size);
        Ext4FileSystem.Format(device, options);
    }

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

    [SkippableTheory]
    [InlineData(8L << 20, 1024, Ext4FormatProfile.Debian12)]
    [InlineData(8L << 20, 2048, Ext4FormatProfile.Debian12)]
    [InlineData(8L << 20, 4096, Ext4FormatProfile.Debian12)]
    [InlineData(64L << 20, 1024, Ext4FormatProfile.Debian12)]
    [InlineData(64L << 20, 4096, Ext4FormatProfile.Debian12)]
    [InlineData(1L << 30, 4096, Ext4FormatProfile.Debian12)]
    [InlineData(1L << 30, 1024, Ext4FormatProfile.Debian12)]
    [InlineData((1L << 30) + (123 * 4096), 4096, Ext4FormatProfile.Debian12)]
    [InlineData(8L << 20, 1024, Ext4FormatProfile.Rhel7)]
    [InlineData(64L << 20, 4096, Ext4FormatProfile.Rhel7)]
    [InlineData(1L << 30, 4096, Ext4FormatProfile.Rhel7)]
    public void Format_SizeAndBlockSize_E2fsckClean(long size, int blockSize, Ext4FormatProfile profile)
    {
        Oracle.Require("e2fsck");
        using var dir = new TempDirectory();
        string image = dir.File("fs.img");
        FormatFile(image, size, Options(profile, blockSize, "data"));

        AssertFsckClean(image);

        Dictionary<string, string> h = DumpHeader(image);
        string features = h["Filesystem features"];
        string[] expected = profile == Ext4FormatProfile.Debian12
            ? ["has_journal", "ext_attr", "resize_inode", "dir_index", "filetype", "extent", "64bit", "flex_bg", "sparse_super", "large_file", "huge_file", "dir_nlink", "extra_isize", "metadata_csum"]
            : ["has_journal", "ext_attr", "resize_inode", "dir_index", "filetype", "extent", "flex_bg", "sparse_super", "large_file", "huge_file", "uninit_bg", "dir_nlink", "extra_isize"];
        Assert.Equal(expected, features.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(blockSize.ToString(CultureInfo.InvariantCulture), h["Block size"]);
        Assert.Equal("256", h["Inode size"]);
        Assert.Equal("clean", h["Filesystem state"]);
        Assert.Equal("data", h["Filesystem volume name"]);
        Assert.Equal(FixedUuid.ToString(), h["Filesystem UUID"]);
        Assert.Equal(FixedHashSeed.ToString(), h["Directory Hash Seed"]);
        Assert.Equal("16", h["Flex block group size"]);
        Assert.Equal("8", h["Journal inode"]);
        Assert.Equal("0", h["Journal start"]);
        long blocks = long.Parse(h["Block count"], CultureInfo.InvariantCulture);
        Assert.InRange(blocks * blockSize, size - (blockSize * 8L * blockSize), size);
        long inodes = long.Parse(h["Inode count"], CultureInfo.InvariantCulture);
        Assert.Equal(inodes - 11, long.Parse(h["Free inodes"], CultureInfo.InvariantCulture));

        ToolResult ls = Oracle.Run("debugfs", "-R", "ls -l /lost+found", image);
        Assert.True(ls.ExitCode == 0 && ls.StandardOutput.Contains("40700", StringComparison.Ordinal), ls.ToString());

        using FileBlockDevice device = FileBlockDevice.Open(image);
        using Ext4FileSystem fs = Ext4FileSystem.Open(device, leaveOpen: true);
        var names = new List<string>();
        foreach (UnixFileInfo e in fs.EnumerateDirectory("/"))
        {
            names.Add(e.Name);
        }

        Assert.Equal(["lost+found"], names);
        UnixFileInfo lpf = fs.GetEntry("/lost+found");
        Assert.Equal(UnixFileType.Directory, lpf.Type);
        Assert.Equal(11L, (long)lpf.Inode);
        Assert.Equal(2L, (long)lpf.LinkCount);
        Assert.Empty(fs.EnumerateDirectory("/lost+found"));
        UnixFileInfo root = fs.GetEntry("/");
        Assert.Equal(3L, (long)root.LinkCount);
        Assert.Equal(FixedTime.ToUnixTimeSeconds(), root.ModificationTime.Seconds);
    }

    [SkippableTheory]
    [InlineData(8L << 20)]
    [InlineData(64L << 20)]
    [InlineData(1L << 30)]
    [InlineData(5L << 30)]
    public void Format_DefaultGeometry_MatchesMke2fs(long size)
    {
        Oracle.Require("mke2fs");
        using var dir = new TempDirectory();
        string ours = dir.File("ours.img");
        string theirs = dir.File("mke2fs.img");
        FormatFile(ours, size, new Ext4FormatOptions { Uuid = FixedUuid, HashSeed = FixedHashSeed, Timestamp = FixedTime });
        using (FileBlockDevice.Create(theirs, size))
        {
        }

        ToolResult mk = Oracle.Run("mke2fs", "-q", "-F", "-t", "ext4", "-U", FixedUuid.ToString(), theirs);
        Assert.True(mk.ExitCode == 0, mk.ToString());
        AssertFsckClean(ours);
        Dictionary<string, string> a = DumpHeader(ours);
        Dictionary<string, string> b = DumpHeader(theirs);
        foreach (string field in new[]
        {
            "Filesystem features", "Block size", "Block count", "Inode count", "Reserved block count", "First block",
            "Blocks per group", "Inodes per group", "Inode size", "Flex block group size", "Journal size",
            "Default mount options", "Filesystem flags", "Default directory hash", "Required extra isize",
            "Desired extra isize", "Journal backup", "Checksum type",
        })
        {
            Assert.True(a.GetValueOrDefault(field) == b.GetValueOrDefault(field), $"{field}: ours '{a.GetValueOrDefault(field)}', mke2fs '{b.GetValueOrDefault(field)}'");
        }
    }

    [SkippableTheory]
    [InlineData(300L << 30, Ext4FormatProfile.Debian12)]
    [InlineData(5L << 40, Ext4FormatProfile.Debian12)]
    [InlineData(3L << 40, Ext4FormatProfile.Rhel7)]
    public void Format_LargeSparseFile_E2fsckClean(long size, Ext4FormatProfile profile)
    {
        Oracle.Require("e2fsck");
        using var dir = new TempDirectory();
        string image = dir.File("large.img");
        using (FileBlockDevice device = FileBlockDevice.Create(image, size))
        {
            Ext4FileSystem.Format(device, Options(profile, 4096));
            Skip.If(device.AllocatedSize >= device.Length, "The host file system does not support sparse files.");
            Assert.True(device.AllocatedSize < size / 256, $"allocated {device.AllocatedSize} bytes");
        }

        AssertFsckClean(image);
        using FileBlockDevice ro = FileBlockDevice.Open(image);
        using Ext4FileSystem fs = Ext4FileSystem.Open(ro, leaveOpen: true);
        Assert.Equal(UnixFileType.Directory, fs.GetEntry("/lost+found").Type);
    }

    [SkippableFact]
    public void Format_OneGiBFile_WritesOnlyMetadata()
    {
        using var dir = new TempDirectory();
        string image = dir.File("big.img");
        using FileBlockDevice device = FileBlockDevice.Create(image, 1L << 30);
        Ext4FileSystem.Format(device, Options(Ext4FormatProfile.Debian12, 4096));
        Skip.If(device.AllocatedSize >= device.Length, "The host file system does not support sparse files.");
        Assert.True(device.AllocatedSize < 4L << 20, $"allocated {device.AllocatedSize} bytes");
    }

    [Theory]
    [InlineData(Ext4FormatProfile.Debian12, 1024)]
    [InlineData(Ext4FormatProfile.Debian12, 4096)]
    [InlineData(Ext4FormatProfile.Rhel7, 4096)]
    public void Format_SameOptions_ByteIdenticalImages(Ext4FormatProfile profile, int blockSize)
    {
        byte[] a = new byte[16 << 20];
        byte[] b = new byte[16 << 20];
        using (var da = new MemoryBlockDevice(a, writable: true))
        {
            Ext4FileSystem.Format(da, Options(profile, blockSize, "repro"));
        }

        using (var db = new MemoryBlockDevice(b, writable: true))
        {
            Ext4FileSystem.Format(db, Options(profile, blockSize, "repro"));
        }

        Assert.True(a.AsSpan().SequenceEqual(b), "two formats with the same options differ");
        using Ext4FileSystem fs = Ext4FileSystem.Open(new MemoryBlockDevice(a, writable: false));
        Assert.Equal(UnixFileType.Directory, fs.GetEntry("/lost+found").Type);
    }

    [Fact]
    public void Format_DifferentUuid_DifferentImages()
    {
        byte[] a = new byte[8 << 20];
        byte[] b = new byte[8 << 20];
        Ext4FileSystem.Format(new MemoryBlockDevice(a, writable: true), Options(Ext4FormatProfile.Debian12, 4096));
        Ext4FileSystem.Format(new MemoryBlockDevice(b, writable: true), new Ext4FormatOptions { Uuid = Guid.NewGuid(), HashSeed = FixedHashSeed, Timestamp = FixedTime });
        Assert.False(a.AsSpan().SequenceEqual(b));
    }

    [Theory]
    [InlineData(512)]
    [InlineData(8192)]
    public void Format_UnsupportedBlockSize_Throws(int blockSize)
    {
        byte[] a = new byte[8 << 20];
        Assert.Throws<ArgumentException>(() => Ext4FileSystem.Format(new MemoryBlockDevice(a, writable: true), new Ext4FormatOptions { BlockSize = blockSize }));
    }

    [Fact]
    public void Format_TimestampBefore1970_Throws()
    {
        byte[] a = new byte[8 << 20];
        Assert.Throws<ArgumentException>(() => Ext4FileSystem.Format(new MemoryBlockDevice(a, writable: true), new Ext4FormatOptions { Timestamp = new DateTimeOffset(1960, 1, 1, 0, 0, 0, TimeSpan.Zero) }));
    }

    [Fact]
    public void Format_TinyDevice_Throws()
    {
        byte[] a = new byte[16 << 10];
        Assert.Throws<ArgumentException>(() => Ext4FileSystem.Format(new MemoryBlockDevice(a, writable: true)));
    }

    [SkippableFact]
    public void Format_DescriptorTableLargerThanGroup_ThrowsNotSupported()
    {
        using var dir = new TempDirectory();
        using FileBlockDevice device = FileBlockDevice.Create(dir.File("huge.img"), 2L << 40);
        Assert.Throws<NotSupportedException>(() => Ext4FileSystem.Format(device, new Ext4FormatOptions { BlockSize = 1024 }));
        Skip.If(device.AllocatedSize >= device.Length, "The host file system does not support sparse files.");
        Assert.Equal(0, device.AllocatedSize);
    }

    [Fact]
    public void Format_ReadOnlyDevice_Throws()
    {
        byte[] a = new byte[8 << 20];
        Assert.Throws<NotSupportedException>(() => Ext4FileSystem.Format(new MemoryBlockDevice(a, writable: false)));
    }
}
