using System.Globalization;
using System.Text.RegularExpressions;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>One structure of a base image worth mutating: what it is, and where (device bytes).</summary>
public sealed record Ext4FuzzRegion(string Kind, int Offset, int Length);

/// <summary>A small base image made by mke2fs -d (e2fsprogs 1.47) and the regions of its metadata.</summary>
public sealed record Ext4FuzzImage(string Options, byte[] Image, IReadOnlyList<Ext4FuzzRegion> Regions);

/// <summary>
/// Builds, once per test class, the base images of <see cref="Ext4FuzzTests"/>: 2 MiB, 1 KiB blocks, a
/// small tree with a fragmented file (a depth-1 extent tree or indirect blocks), an htree directory
/// (indexed by e2fsck -D), xattrs in a block, fast and slow symbolic links, a hard link and a FIFO.
/// The metadata regions (superblock, descriptors, bitmaps, the first inodes, extent, directory and xattr
/// blocks) are found with dumpe2fs and debugfs.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class Ext4FuzzFixture : IDisposable
{
    private const int BlockSize = 1024;
    private readonly TempDirectory _temp = new();
    private readonly Dictionary<string, Ext4FuzzImage> _images = new(StringComparer.Ordinal);
    private int _built;

    [GeneratedRegex(@"Block bitmap at (\d+)")]
    private static partial Regex BlockBitmapAt();

    [GeneratedRegex(@"Inode bitmap at (\d+)")]
    private static partial Regex InodeBitmapAt();

    [GeneratedRegex(@"Inode table at (\d+)")]
    private static partial Regex InodeTableAt();

    [GeneratedRegex(@"Inode size:\s+(\d+)")]
    private static partial Regex InodeSize();

    [GeneratedRegex(@"\((?:ETB|IND|DIND|TIND)\d*\):(\d+)")]
    private static partial Regex MapBlocks();

    [GeneratedRegex(@"File ACL: (\d+)")]
    private static partial Regex FileAcl();

    public Ext4FuzzImage Get(string options)
    {
        Oracle.Require("mke2fs");
        Oracle.Require("debugfs");
        Oracle.Require("dumpe2fs");
        Oracle.Require("e2fsck");
        lock (_images)
        {
            if (!_images.TryGetValue(options, out Ext4FuzzImage? image))
            {
                image = Build(options);
                _images[options] = image;
            }

            return image;
        }
    }

    private Ext4FuzzImage Build(string options)
    {
        string name = (++_built).ToString(CultureInfo.InvariantCulture);
        string src = Path.Combine(_temp.Path, "src" + name);
        MakeTree(src);
        string img = Path.Combine(_temp.Path, "img" + name);
        Ext4TestImages.Build(src, img, 2048, ["-b", "1024", "-N", "160", .. options.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
        ToolResult fsck = Oracle.Run("e2fsck", ["-fyD", img], TimeSpan.FromMinutes(1));
        Assert.True(fsck.ExitCode is 0 or 1, fsck.ToString());

        var regions = new List<Ext4FuzzRegion> { new("superblock", 1024, 1024), new("descriptors", 2 * BlockSize, BlockSize) };
        string dump = Oracle.RunOk("dumpe2fs", img).StandardOutput;
        regions.Add(new("block bitmap", Block(BlockBitmapAt(), dump), BlockSize));
        regions.Add(new("inode bitmap", Block(InodeBitmapAt(), dump), BlockSize));
        int inodeSize = int.Parse(InodeSize().Match(dump).Groups[1].Value, CultureInfo.InvariantCulture);
        regions.Add(new("inodes", Block(InodeTableAt(), dump), 40 * inodeSize));
        foreach (string dir in new[] { "/", "/big", "/d", "/d/e", "/lost+found" })
        {
            foreach (string b in Oracle.RunOk("debugfs", "-R", "blocks " + dir, img).StandardOutput.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries))
            {
                regions.Add(new("directory " + dir, int.Parse(b, CultureInfo.InvariantCulture) * BlockSize, BlockSize));
            }
        }

        foreach (string file in new[] { "/frag", "/large" })
        {
            foreach (Match m in MapBlocks().Matches(Oracle.RunOk("debugfs", "-R", "stat " + file, img).StandardOutput))
            {
                regions.Add(new("map block " + file, int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) * BlockSize, BlockSize));
            }
        }

        Match acl = FileAcl().Match(Oracle.RunOk("debugfs", "-R", "stat /x", img).StandardOutput);
        Assert.True(acl.Success && acl.Groups[1].Value != "0", "no xattr block");
        regions.Add(new("xattr block", int.Parse(acl.Groups[1].Value, CultureInfo.InvariantCulture) * BlockSize, BlockSize));
        Assert.Contains(regions, r => r.Kind.StartsWith("map block /frag", StringComparison.Ordinal));
        return new Ext4FuzzImage(options, File.ReadAllBytes(img), regions);
    }

    private static int Block(Regex pattern, string dump)
    {
        Match m = pattern.Match(dump);
        Assert.True(m.Success, dump);
        return int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) * BlockSize;
    }

    private static void MakeTree(string src)
    {
        Directory.CreateDirectory(Path.Combine(src, "big"));
        Directory.CreateDirectory(Path.Combine(src, "d", "e"));
        var rng = new Random(5);
        using (var s = new FileStream(Path.Combine(src, "frag"), FileMode.CreateNew))
        {
            for (int i = 0; i < 16; i++)
            {
                s.Position = i * 3072L;
                byte[] b = new byte[1024];
                rng.NextBytes(b);
                s.Write(b);
            }
        }

        byte[] large = new byte[70_000];
        rng.NextBytes(large);
        File.WriteAllBytes(Path.Combine(src, "large"), large);
        for (int i = 0; i < 90; i++)
        {
            File.WriteAllText(Path.Combine(src, "big", "entry-" + i.ToString("D3", CultureInfo.InvariantCulture) + "-padding"), "b");
        }

        File.WriteAllText(Path.Combine(src, "x"), "xattrs");
        HostFiles.SetXattr(Path.Combine(src, "x"), "user.big", new byte[300]);
        HostFiles.SetXattr(Path.Combine(src, "x"), "user.small", "v"u8.ToArray());
        File.WriteAllText(Path.Combine(src, "d", "e", "f"), "deep");
        File.WriteAllText(Path.Combine(src, "small"), "small file");
        HostFiles.Link(Path.Combine(src, "small"), Path.Combine(src, "d", "hard"));
        File.CreateSymbolicLink(Path.Combine(src, "d", "fast"), "../small");
        File.CreateSymbolicLink(Path.Combine(src, "d", "slow"), "/" + new string('s', 120));
        HostFiles.Mknod(Path.Combine(src, "d", "fifo"), DiskImage.FileSystems.UnixFileType.Fifo, 0x1A4, 0, 0);
    }

    public void Dispose() => _temp.Dispose();
}
