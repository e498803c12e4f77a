using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Directory insertion and removal (linear and htree) through the public API, judged by e2fsck -fn (e2fsprogs
/// 1.47), debugfs <c>ls -p</c> (every name and inode) and <c>htree_dump</c> (index depth), on images made by
/// mke2fs and by <see cref="Ext4FileSystem.Format"/>.
/// </summary>
public sealed partial class Ext4DirectoryWriteTests(ITestOutputHelper output)
{
    private static readonly Guid FixedUuid = new("6a1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    private static readonly Guid FixedHashSeed = new("31223344-5566-7788-99aa-bbccddeeff00");

    /// <summary>Image kinds: mke2fs with Debian 12 defaults and variations, and our Format.</summary>
    public static TheoryData<string> Kinds => ["mkfs-4k", "mkfs-4k-nocsum", "mkfs-1k", "mkfs-1k-nocsum", "mkfs-ext2-1k", "format-debian12", "format-rhel7-1k"];

    /// <summary>Makes an empty image of <paramref name="kind"/> with a file /t to hard-link and an empty directory /d.</summary>
    private static string MakeImage(TempDirectory temp, string kind, long sizeMiB)
    {
        string image = temp.File(kind + ".img");
        string size = sizeMiB.ToString(CultureInfo.InvariantCulture) + "M";
        switch (kind)
        {
            case "mkfs-4k": Mkfs(image, size, "-t", "ext4", "-b", "4096"); break;
            case "mkfs-4k-nocsum": Mkfs(image, size, "-t", "ext4", "-b", "4096", "-O", "^metadata_csum"); break;
            case "mkfs-1k": Mkfs(image, size, "-t", "ext4", "-b", "1024"); break;
            case "mkfs-1k-nocsum": Mkfs(image, size, "-t", "ext4", "-b", "1024", "-O", "^metadata_csum"); break;
            case "mkfs-1k-largedir": Mkfs(image, size, "-t", "ext4", "-b", "1024", "-O", "large_dir"); break;
            case "mkfs-ext2-1k": Mkfs(image, size, "-t", "ext2", "-b", "1024"); break;
            case "mkfs-4k-unsigned":
                Mkfs(image, size, "-t", "ext4", "-b", "4096");
                Oracle.RunOk("debugfs", "-w", "-R", "ssv flags 2", image);
                break;
            case "format-debian12":
            case "format-rhel7-1k":
                using (FileBlockDevice device = FileBlockDevice.Create(image, sizeMiB << 20))
                {
                    Ext4FileSystem.Format(device, new Ext4FormatOptions
                    {
                        Profile = kind == "format-debian12" ? Ext4FormatProfile.Debian12 : Ext4FormatProfile.Rhel7,
                        BlockSize = kind == "format-debian12" ? 4096 : 1024,
                        Uuid = FixedUuid,
                        HashSeed = FixedHashSeed,
                    });
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }

        Change(image, fs =>
        {
            fs.OpenFile("/t", FileMode.CreateNew, FileAccess.Write).Dispose();
            fs.CreateDirectory("/d");
        });
        return image;
    }

    private static void Mkfs(string image, string size, params string[] options)
    {
        Oracle.Require("mke2fs");
        var args = new List<string> { "-q", "-F" };
        args.AddRange(options);
        args.Add(image);
        args.Add(size);
        ToolResult r = Oracle.Run("mke2fs", args, TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private static void Change(string image, Action<Ext4FileSystem> action)
    {
        using FileBlockDevice device = FileBlockDevice.Open(image, writable: true);
        using Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true });
        action(fs);
    }

    /// <summary>Unique names of 1–255 UTF-8 bytes (mostly short), including multi-byte characters and blanks.</summary>
    internal static List<string> RandomNames(Random rng, int count, HashSet<string>? taken = null)
    {
        const string Alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+=,@ #%ßéüø日本語ж";
        taken ??= new HashSet<string>(StringComparer.Ordinal);
        var names = new List<string>(count);
        var sb = new StringBuilder();
        while (names.Count < count)
        {
            int bytes = rng.Next(10) < 7 ? rng.Next(1, 24) : rng.Next(1, 256);
            sb.Clear();
            int used = 0;
            while (true)
            {
                char c = Alphabet[rng.Next(Alphabet.Length)];
                int n = Encoding.UTF8.GetByteCount([c]);
                if (used + n > bytes)
                {
                    break;
                }

                sb.Append(c);
                used += n;
            }

            string name = sb.ToString();
            if (name.Length == 0 || name is "." or ".." || !taken.Add(name))
            {
                continue;
            }

            names.Add(name);
        }

        return names;
    }

    /// <summary>Adds <paramref name="names"/> to /d: mostly hard links to /t, with directories, symlinks and FIFOs mixed in.</summary>
    private static void AddAll(Ext4FileSystem fs, IEnumerable<string> names, Dictionary<string, uint> model, int mixEvery)
    {
        int i = 0;
        foreach (string name in names)
        {
            string path = "/d/" + name;
            switch (mixEvery > 0 ? i % mixEvery : -1)
            {
                case 1: fs.CreateDirectory(path); break;
                case 2: fs.CreateSymbolicLink(path, "target-" + i.ToString(CultureInfo.InvariantCulture)); break;
                case 3: fs.CreateFifo(path); break;
                default: fs.CreateHardLink(path, "/t"); break;
            }

            model[name] = (uint)fs.GetEntry(path).Inode;
            i++;
        }
    }

    private void AssertFsckClean(string image)
    {
        ToolResult r = Oracle.Run("e2fsck", ["-fn", image], TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    /// <summary>Compares /d as debugfs <c>ls -p</c> and as the managed reader see it with the model.</summary>
    private void AssertListing(string image, Dictionary<string, uint> model)
    {
        ToolResult r = Oracle.Run("debugfs", ["-R", "ls -p /d", image], TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.ToString());
        var seen = new Dictionary<string, uint>(StringComparer.Ordinal);
        foreach (string line in r.StandardOutput.Split('\n'))
        {
            // "/inode/mode/uid/gid/name/size/"; names hold no '/'. Free records that start a block are listed with inode 0.
            string[] f = line.Split('/');
            if (f.Length < 7 || f[5] is "." or ".." || f[1] == "0")
            {
                continue;
            }

            Assert.True(seen.TryAdd(f[5], uint.Parse(f[1], CultureInfo.InvariantCulture)), $"debugfs lists '{f[5]}' twice: {line}");
        }

        AssertSame(model, seen, "debugfs ls -p");
        using FileBlockDevice device = FileBlockDevice.Open(image);
        using Ext4FileSystem fs = Ext4FileSystem.Open(device);
        var ours = new Dictionary<string, uint>(StringComparer.Ordinal);
        foreach (UnixFileInfo e in fs.EnumerateDirectory("/d"))
        {
            ours.Add(e.Path[3..], (uint)e.Inode);
        }

        AssertSame(model, ours, "the managed reader");
    }

    private static void AssertSame(Dictionary<string, uint> expected, Dictionary<string, uint> actual, string who)
    {
        foreach (KeyValuePair<string, uint> kv in expected)
        {
            Assert.True(actual.TryGetValue(kv.Key, out uint ino), $"{who}: '{kv.Key}' is missing");
            Assert.True(ino == kv.Value, $"{who}: '{kv.Key}' is inode {ino}, expected {kv.Value}");
        }

        Assert.True(expected.Count == actual.Count, $"{who}: {actual.Count} entries, expected {expected.Count}");
    }

    /// <summary>The index depth htree_dump reports for /d, or -1 when /d is not indexed.</summary>
    private static int IndexLevels(string image)
    {
        ToolResult r = Oracle.Run("debugfs", ["-R", "htree_dump /d", image], TimeSpan.FromMinutes(5));
        Match m = LevelsLine().Match(r.StandardOutput);
        return m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : -1;
    }

    [GeneratedRegex(@"Indirect levels: (\d+)")]
    private static partial Regex LevelsLine();

    [SkippableTheory]
    [MemberData(nameof(Kinds))]
    public void AddDirectoryEntry_TenNames_LinearDirectoryFsckClean(string kind)
    {
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        using var temp = new TempDirectory();
        string image = MakeImage(temp, kind, 64);
        var model = new Dictionary<string, uint>(StringComparer.Ordinal);
        var rng = new Random(10);
        List<string> names = RandomNames(rng, 10);
        Change(image, fs => AddAll(fs, names, model, 4));
        AssertFsckClean(image);
        AssertListing(image, model);
    }

    [SkippableTheory]
    [MemberData(nameof(Kinds))]
    public void AddRemoveReadd_ThousandNames_FsckCleanAndListingsMatch(string kind)
    {
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        const int Seed = 1000;
        output.WriteLine($"seed {Seed}, image {kind}");
        using var temp = new TempDirectory();
        string image = MakeImage(temp, kind, 64);
        var model = new Dictionary<string, uint>(StringComparer.Ordinal);
        var rng = new Random(Seed);
        var taken = new HashSet<string>(StringComparer.Ordinal);
        List<string> names = RandomNames(rng, 1000, taken);
        Change(image, fs => AddAll(fs, names, model, 9));
        AssertFsckClean(image);
        AssertListing(image, model);
        Assert.Equal(0, IndexLevels(image));

        // Remove a random half.
        List<string> removed = [.. names.OrderBy(_ => rng.Next()).Take(names.Count / 2)];
        Change(image, fs =>
        {
            foreach (string name in removed)
            {
                fs.Delete("/d/" + name);
                model.Remove(name);
            }
        });
        AssertFsckClean(image);
        AssertListing(image, model);

        // Re-add half of the removed names and as many new ones; rename some within the directory.
        List<string> readd = [.. removed.Take(removed.Count / 2), .. RandomNames(rng, removed.Count / 2, taken)];
        Change(image, fs =>
        {
            AddAll(fs, readd, model, 5);
            List<string> present = [.. model.Keys.OrderBy(n => n, StringComparer.Ordinal)];
            List<string> fresh = RandomNames(rng, 100, taken);
            for (int i = 0; i < 100; i++)
            {
                string from = present[rng.Next(present.Count)];
                if (!model.Remove(from, out uint ino))
                {
                    continue;
                }

                fs.Rename("/d/" + from, "/d/" + fresh[i]);
                model[fresh[i]] = ino;
            }
        });
        AssertFsckClean(image);
        AssertListing(image, model);
    }

    [SkippableTheory]
    [InlineData("mkfs-1k", 50_000, 1)]
    [InlineData("mkfs-1k-nocsum", 50_000, 1)]
    [InlineData("mkfs-4k", 50_000, 1)]
    [InlineData("format-rhel7-1k", 50_000, 1)]
    public void AddDirectoryEntry_FiftyThousandNames_IndexGrowsAndFsckClean(string kind, int count, int expectedLevels)
    {
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        const int Seed = 50_000;
        output.WriteLine($"seed {Seed}, image {kind}");
        using var temp = new TempDirectory();
        string image = MakeImage(temp, kind, 128);
        var model = new Dictionary<string, uint>(StringComparer.Ordinal);
        var rng = new Random(Seed);
        var taken = new HashSet<string>(StringComparer.Ordinal);
        List<string> names = RandomNames(rng, count, taken);
        var watch = Stopwatch.StartNew();
        Change(image, fs => AddAll(fs, names, model, 997));
        output.WriteLine($"{count} entries added in {watch.Elapsed.TotalSeconds:F1} s");
        AssertFsckClean(image);
        Assert.Equal(expectedLevels, IndexLevels(image));
        AssertListing(image, model);

        watch.Restart();
        List<string> removed = [.. names.OrderBy(_ => rng.Next()).Take(count / 2)];
        Change(image, fs =>
        {
            foreach (string name in removed)
            {
                fs.Delete("/d/" + name);
                model.Remove(name);
            }

            AddAll(fs, RandomNames(rng, count / 10, taken), model, 0);
        });
        output.WriteLine($"{count / 2} entries removed, {count / 10} added in {watch.Elapsed.TotalSeconds:F1} s");
        AssertFsckClean(image);
        AssertListing(image, model);
    }

    /// <summary>Unique names of 250–255 ASCII bytes: three fit in a 1 KiB leaf, so the index grows fast.</summary>
    private static List<string> LongNames(int seed, int count)
    {
        var rng = new Random(seed);
        var names = new List<string>(count);
        var taken = new HashSet<string>(StringComparer.Ordinal);
        char[] buffer = new char[255];
        while (names.Count < count)
        {
            int length = rng.Next(250, 256);
            for (int i = 0; i < length; i++)
            {
                buffer[i] = (char)('a' + rng.Next(26));
            }

            string name = new(buffer, 0, length);
            if (taken.Add(name))
            {
                names.Add(name);
            }
        }

        return names;
    }

    [SkippableTheory]
    [InlineData("mkfs-1k-largedir", true)]
    [InlineData("mkfs-1k", false)]
    public void AddDirectoryEntry_LongNames_ThirdLevelOnlyWithLargedir(string kind, bool largedir)
    {
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        const int Seed = 255;
        output.WriteLine($"seed {Seed}, image {kind}");
        using var temp = new TempDirectory();
        string image = MakeImage(temp, kind, 128);
        var model = new Dictionary<string, uint>(StringComparer.Ordinal);
        List<string> names = LongNames(Seed, 40_000);
        IOException? full = null;
        var watch = Stopwatch.StartNew();
        Change(image, fs =>
        {
            foreach (string name in names)
            {
                try
                {
                    fs.CreateHardLink("/d/" + name, "/t");
                }
                catch (IOException e) when (!largedir)
                {
                    full = e;
                    break;
                }

                model[name] = (uint)fs.GetEntry("/t").Inode;
            }
        });
        output.WriteLine($"{model.Count} entries in {watch.Elapsed.TotalSeconds:F1} s; {full?.Message}");
        AssertFsckClean(image);
        if (largedir)
        {
            Assert.Equal(2, IndexLevels(image));
        }
        else
        {
            Assert.NotNull(full);
            Assert.Contains("index", full.Message, StringComparison.Ordinal);
            Assert.Equal(1, IndexLevels(image));
        }

        AssertListing(image, model);
    }

    [SkippableTheory]
    [InlineData("mkfs-4k", 2000)]
    [InlineData("mkfs-1k-nocsum", 2000)]
    [InlineData("mkfs-1k", 5)]
    public void Rename_DirectoryToAnotherParent_DotDotFollowsAndFsckClean(string kind, int entries)
    {
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        using var temp = new TempDirectory();
        string image = MakeImage(temp, kind, 64);
        var model = new Dictionary<string, uint>(StringComparer.Ordinal);
        Change(image, fs =>
        {
            fs.CreateDirectory("/d/sub");
            foreach (string name in RandomNames(new Random(entries), entries))
            {
                fs.CreateHardLink("/d/sub/" + name, "/t");
            }

            fs.CreateDirectory("/e");
            fs.Rename("/d/sub", "/e/moved");
            model["moved"] = (uint)fs.GetEntry("/e/moved").Inode;
        });
        AssertFsckClean(image);
        ToolResult r = Oracle.Run("debugfs", ["-R", "ls -p /e/moved", image], TimeSpan.FromMinutes(1));
        uint e = 0;
        foreach (string line in Oracle.Run("debugfs", ["-R", "ls -p /", image], TimeSpan.FromMinutes(1)).StandardOutput.Split('\n'))
        {
            string[] f = line.Split('/');
            if (f.Length >= 7 && f[5] == "e")
            {
                e = uint.Parse(f[1], CultureInfo.InvariantCulture);
            }
        }

        Assert.Contains($"/{e}/040755/0/0/..//", r.StandardOutput, StringComparison.Ordinal);
    }

    private static Ext4FileSystem FormatInMemory(int blockSize, Ext4FormatProfile profile = Ext4FormatProfile.Debian12)
    {
        var device = new MemoryBlockDevice(16 << 20);
        Ext4FileSystem.Format(device, new Ext4FormatOptions { Profile = profile, BlockSize = blockSize, Uuid = FixedUuid, HashSeed = FixedHashSeed });
        Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true });
        fs.CreateDirectory("/d");
        return fs;
    }

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("a\0b")]
    [InlineData("lone surrogate")]
    public void AddDirectoryEntry_InvalidName_ThrowsArgumentException(string name)
    {
        // Theory data cannot carry a lone surrogate (it is serialized as UTF-8), so it is made here.
        name = name == "lone surrogate" ? "\ud800x" : name;
        using Ext4FileSystem fs = FormatInMemory(1024);
        Ext4Inode d = fs.ReadInode((uint)fs.GetEntry("/d").Inode);
        Assert.ThrowsAny<ArgumentException>(() => fs.AddDirectoryEntry(d, name, 11, UnixFileType.RegularFile));
        Assert.True(fs.IsDirectoryEmpty(d));
    }

    [Fact]
    public void AddDirectoryEntry_NameOf256Bytes_ThrowsPathTooLong()
    {
        using Ext4FileSystem fs = FormatInMemory(1024);
        Ext4Inode d = fs.ReadInode((uint)fs.GetEntry("/d").Inode);
        fs.AddDirectoryEntry(d, new string('x', 255), 11, UnixFileType.RegularFile);
        Assert.Throws<PathTooLongException>(() => fs.AddDirectoryEntry(d, new string('x', 256), 11, UnixFileType.RegularFile));
        Assert.Throws<PathTooLongException>(() => fs.AddDirectoryEntry(d, new string('\u00e9', 128), 11, UnixFileType.RegularFile));
        Assert.True(fs.RemoveDirectoryEntry(d, new string('x', 255)));
        Assert.False(fs.RemoveDirectoryEntry(d, new string('x', 256)));
    }

    [Theory]
    [InlineData(1024, 3)]
    [InlineData(4096, 3)]
    [InlineData(1024, 3000)]
    public void AddDirectoryEntry_ExistingName_ThrowsIOExceptionAndKeepsEntry(int blockSize, int count)
    {
        using Ext4FileSystem fs = FormatInMemory(blockSize);
        Ext4Inode d = fs.ReadInode((uint)fs.GetEntry("/d").Inode);
        List<string> names = RandomNames(new Random(count), count);
        foreach (string n in names)
        {
            fs.AddDirectoryEntry(d, n, 11, UnixFileType.RegularFile);
        }

        Assert.Throws<IOException>(() => fs.AddDirectoryEntry(d, names[count / 2], 11, UnixFileType.Directory));
        Assert.False(fs.IsDirectoryEmpty(d));
        Assert.False(fs.RemoveDirectoryEntry(d, "not there"));
        foreach (string n in names)
        {
            Assert.True(fs.RemoveDirectoryEntry(d, n), n);
        }

        Assert.True(fs.IsDirectoryEmpty(d));
        fs.InvalidateDirectory(d.Number);
        Assert.True(fs.IsDirectoryEmpty(d));
        Assert.Throws<ArgumentOutOfRangeException>(() => fs.AddDirectoryEntry(d, "zero", 0, UnixFileType.RegularFile));
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(2048)]
    [InlineData(4096)]
    public void AddRemove_ManyNames_ReaderSeesEveryChangeWithAndWithoutCache(int blockSize)
    {
        using Ext4FileSystem fs = FormatInMemory(blockSize);
        Ext4Inode d = fs.ReadInode((uint)fs.GetEntry("/d").Inode);
        var rng = new Random(blockSize);
        List<string> names = RandomNames(rng, 4000);
        var expected = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < names.Count; i++)
        {
            fs.AddDirectoryEntry(d, names[i], 11, UnixFileType.RegularFile);
            expected.Add(names[i]);
            if (i % 3 == 2)
            {
                string victim = names[rng.Next(i + 1)];
                Assert.Equal(expected.Remove(victim), fs.RemoveDirectoryEntry(d, victim));
            }

            if (i % 997 == 0)
            {
                // Re-read from disk: the cached listing and the blocks must agree.
                fs.InvalidateDirectory(d.Number);
            }
        }

        var cached = fs.EnumerateDirectory("/d").Select(e => e.Path[3..]).ToHashSet(StringComparer.Ordinal);
        fs.InvalidateDirectory(d.Number);
        var reread = fs.EnumerateDirectory("/d").Select(e => e.Path[3..]).ToHashSet(StringComparer.Ordinal);
        Assert.True(expected.SetEquals(cached));
        Assert.True(expected.SetEquals(reread));
    }
}
