using System.Buffers.Binary;
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
/// Directories written by e2fsprogs 1.47: an htree that <c>e2fsck -fD</c> built (every hash version, signed and
/// unsigned) and a multi-block linear directory from <c>mke2fs -d</c>. Our hash must equal the one
/// <c>debugfs htree_dump</c> prints for every entry, and entries added and removed by us must leave
/// <c>e2fsck -fn</c> clean.
/// </summary>
public sealed partial class Ext4DirectoryForeignTests(ITestOutputHelper output)
{
    /// <summary>Names without blanks (htree_dump separates entries by blanks), many with bytes ≥ 0x80.</summary>
    private static List<string> Names(int seed, int count)
    {
        var rng = new Random(seed);
        var taken = new HashSet<string>(StringComparer.Ordinal);
        List<string> all = Ext4DirectoryWriteTests.RandomNames(rng, count * 2, taken);
        var names = new List<string>(count);
        foreach (string n in all)
        {
            string clean = n.Replace(' ', '_');
            if (names.Count < count && clean == n)
            {
                names.Add(n);
            }
        }

        return names;
    }

    private static uint[] Seed(string image)
    {
        byte[] sb = new byte[1024];
        using (FileStream f = File.OpenRead(image))
        {
            f.Position = 1024;
            f.ReadExactly(sb);
        }

        uint[] seed = new uint[4];
        for (int i = 0; i < 4; i++)
        {
            seed[i] = BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0xEC + (i * 4)));
        }

        return seed;
    }

    [SkippableTheory]
    [InlineData("half_md4", false, 1024)]
    [InlineData("half_md4", true, 1024)]
    [InlineData("tea", false, 1024)]
    [InlineData("tea", true, 4096)]
    [InlineData("legacy", false, 4096)]
    [InlineData("legacy", true, 1024)]
    public void Hash_IndexBuiltByE2fsck_MatchesHtreeDumpAndAcceptsChanges(string algorithm, bool unsignedHash, int blockSize)
    {
        Oracle.Require("mke2fs");
        Oracle.Require("tune2fs");
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        using var temp = new TempDirectory();
        string src = temp.File("src");
        Directory.CreateDirectory(Path.Combine(src, "d"));
        List<string> names = Names(3000, 3000);
        foreach (string n in names)
        {
            File.WriteAllBytes(Path.Combine(src, "d", n), []);
        }

        string image = temp.File("fs.img");
        ToolResult mk = Oracle.Run("mke2fs", ["-q", "-F", "-t", "ext4", "-b", blockSize.ToString(CultureInfo.InvariantCulture), "-d", src, image, "64M"], TimeSpan.FromMinutes(2));
        Assert.True(mk.ExitCode == 0, mk.ToString());
        Oracle.RunOk("tune2fs", "-E", "hash_alg=" + algorithm, image);
        if (unsignedHash)
        {
            Oracle.RunOk("debugfs", "-w", "-R", "ssv flags 2", image);
        }

        // e2fsck -fD indexes the linear directory mke2fs -d wrote; exit 1 means "changed".
        ToolResult index = Oracle.Run("e2fsck", ["-fyD", image], TimeSpan.FromMinutes(2));
        Assert.True(index.ExitCode is 0 or 1, index.ToString());

        int version = algorithm switch { "legacy" => 0, "half_md4" => 1, _ => 2 } + (unsignedHash ? 3 : 0);
        uint[] seed = Seed(image);
        ToolResult dump = Oracle.Run("debugfs", ["-R", "htree_dump /d", image], TimeSpan.FromMinutes(2));
        MatchCollection entries = DumpEntry().Matches(dump.StandardOutput);
        Assert.True(entries.Count == names.Count, $"htree_dump shows {entries.Count} entries, expected {names.Count}\n{dump.StandardOutput[..Math.Min(2000, dump.StandardOutput.Length)]}");
        foreach (Match m in entries)
        {
            string name = m.Groups[3].Value;
            uint major = Ext4DirectoryHash.Compute(Encoding.UTF8.GetBytes(name), version, seed, out uint minor);
            uint expectedMajor = uint.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            uint expectedMinor = uint.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            Assert.True(major == expectedMajor && minor == expectedMinor,
                $"{algorithm} (unsigned {unsignedHash}) '{name}': htree_dump 0x{expectedMajor:x8}-0x{expectedMinor:x8}, ours 0x{major:x8}-0x{minor:x8}");
        }

        // Change the index e2fsck built: remove 1,000 names, add 1,500 (enough to split leaves).
        var rng = new Random(77);
        var model = new Dictionary<string, uint>(StringComparer.Ordinal);
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
        {
            foreach (UnixFileInfo e in fs.EnumerateDirectory("/d"))
            {
                model.Add(e.Path[3..], (uint)e.Inode);
            }

            foreach (string n in names.OrderBy(_ => rng.Next()).Take(1000))
            {
                fs.Delete("/d/" + n);
                model.Remove(n);
            }

            foreach (string n in Names(3001, 5000).Where(n => !model.ContainsKey(n)).Take(1500))
            {
                fs.CreateFifo("/d/" + n);
                model.Add(n, (uint)fs.GetEntry("/d/" + n).Inode);
            }
        }

        ToolResult fsck = Oracle.Run("e2fsck", ["-fn", image], TimeSpan.FromMinutes(2));
        Assert.True(fsck.ExitCode == 0, fsck.ToString());
        AssertDebugfsListing(image, model);
        output.WriteLine($"{algorithm}, unsigned {unsignedHash}, {blockSize}-byte blocks: {entries.Count} hashes equal; e2fsck clean after changes");
    }

    [SkippableFact]
    public void AddRemove_LinearDirectoryFromMke2fs_StaysLinearAndFsckClean()
    {
        Oracle.Require("mke2fs");
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        using var temp = new TempDirectory();
        string src = temp.File("src");
        Directory.CreateDirectory(Path.Combine(src, "d"));
        List<string> names = Names(600, 600);
        foreach (string n in names)
        {
            File.WriteAllBytes(Path.Combine(src, "d", n), []);
        }

        string image = temp.File("fs.img");
        ToolResult mk = Oracle.Run("mke2fs", ["-q", "-F", "-t", "ext4", "-b", "1024", "-d", src, image, "16M"], TimeSpan.FromMinutes(2));
        Assert.True(mk.ExitCode == 0, mk.ToString());
        var rng = new Random(600);
        var model = new Dictionary<string, uint>(StringComparer.Ordinal);
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
        {
            foreach (UnixFileInfo e in fs.EnumerateDirectory("/d"))
            {
                model.Add(e.Path[3..], (uint)e.Inode);
            }

            foreach (string n in names.OrderBy(_ => rng.Next()).Take(300))
            {
                fs.Delete("/d/" + n);
                model.Remove(n);
            }

            foreach (string n in Names(601, 2000).Where(n => !model.ContainsKey(n)).Take(500))
            {
                fs.CreateFifo("/d/" + n);
                model.Add(n, (uint)fs.GetEntry("/d/" + n).Inode);
            }
        }

        ToolResult fsck = Oracle.Run("e2fsck", ["-fn", image], TimeSpan.FromMinutes(2));
        Assert.True(fsck.ExitCode == 0, fsck.ToString());
        AssertDebugfsListing(image, model);
        ToolResult dump = Oracle.Run("debugfs", ["-R", "htree_dump /d", image], TimeSpan.FromMinutes(2));
        Assert.DoesNotContain("Root node dump", dump.StandardOutput, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void AddRemove_DebootstrapTreeIndexedByE2fsck_FsckCleanAndListingsMatch()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        Oracle.Require("mke2fs");
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        using var temp = new TempDirectory();
        string image = temp.File("debian.img");
        ToolResult mk = Oracle.Run("mke2fs", ["-q", "-F", "-t", "ext4", "-d", tree, image, "512M"], TimeSpan.FromMinutes(5));
        Assert.True(mk.ExitCode == 0, mk.ToString());
        ToolResult index = Oracle.Run("e2fsck", ["-fyD", image], TimeSpan.FromMinutes(5));
        Assert.True(index.ExitCode is 0 or 1, index.ToString());
        Assert.Contains("Root node dump", Oracle.Run("debugfs", ["-R", "htree_dump /usr/bin", image], TimeSpan.FromMinutes(1)).StandardOutput, StringComparison.Ordinal);

        var rng = new Random(2026);
        var models = new Dictionary<string, Dictionary<string, uint>>(StringComparer.Ordinal);
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
        {
            foreach ((string dir, int add) in new[] { ("/etc", 3000), ("/usr/bin", 1000), ("/usr/share/doc", 300) })
            {
                var model = new Dictionary<string, uint>(StringComparer.Ordinal);
                foreach (UnixFileInfo e in fs.EnumerateDirectory(dir))
                {
                    model.Add(e.Path[(dir.Length + 1)..], (uint)e.Inode);
                }

                foreach (string n in Names(rng.Next(), add * 2).Where(n => !model.ContainsKey(n)).Take(add))
                {
                    using (Stream s = fs.OpenFile(dir + "/" + n, FileMode.CreateNew, FileAccess.Write))
                    {
                        s.Write(Encoding.UTF8.GetBytes(n));
                    }

                    model.Add(n, (uint)fs.GetEntry(dir + "/" + n).Inode);
                }

                foreach (string n in model.Keys.OrderBy(_ => rng.Next()).Take(add / 3).ToList())
                {
                    UnixFileInfo e = fs.GetEntry(dir + "/" + n);
                    if (e.Type == UnixFileType.Directory)
                    {
                        continue;
                    }

                    fs.Delete(dir + "/" + n);
                    model.Remove(n);
                }

                models[dir] = model;
            }
        }

        ToolResult fsck = Oracle.Run("e2fsck", ["-fn", image], TimeSpan.FromMinutes(5));
        Assert.True(fsck.ExitCode == 0, fsck.ToString());
        foreach ((string dir, Dictionary<string, uint> model) in models)
        {
            AssertDebugfsListing(image, model, dir);
            Assert.Contains("Root node dump", Oracle.Run("debugfs", ["-R", "htree_dump " + dir, image], TimeSpan.FromMinutes(1)).StandardOutput, StringComparison.Ordinal);
        }
    }

    [SkippableTheory]
    [InlineData(0)]
    [InlineData(600)]
    public void Delete_NamesThatAreNotUtf8_FoundByTheirEscapedNameAndFsckClean(int others)
    {
        Oracle.Require("mke2fs");
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        using var temp = new TempDirectory();
        string src = temp.File("src");
        Directory.CreateDirectory(Path.Combine(src, "d"));
        foreach (string n in Names(others, others))
        {
            File.WriteAllBytes(Path.Combine(src, "d", n), []);
        }

        string image = temp.File("fs.img");
        ToolResult mk = Oracle.Run("mke2fs", ["-q", "-F", "-t", "ext4", "-b", "1024", "-d", src, image, "16M"], TimeSpan.FromMinutes(2));
        Assert.True(mk.ExitCode == 0, mk.ToString());
        if (others > 0)
        {
            ToolResult index = Oracle.Run("e2fsck", ["-fyD", image], TimeSpan.FromMinutes(2));
            Assert.True(index.ExitCode is 0 or 1, index.ToString());
        }

        // Latin-1 names (0xE9, 0xFF 0xFE) made by debugfs: the listing shows their bytes as U+DC80+ escapes.
        string commands = temp.File("cmds");
        File.WriteAllBytes(commands, [.. "cd /d\nmknod caf"u8, 0xE9, .. " p\nmknod x"u8, 0xFF, 0xFE, .. "y p\n"u8]);
        Oracle.RunOk("debugfs", "-w", "-f", commands, image);
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
        {
            Assert.True(fs.Exists("/d/caf\uDCE9"));
            Assert.False(fs.Exists("/d/caf\uFFFD"));
            fs.Delete("/d/caf\uDCE9");
            fs.Delete("/d/x\uDCFF\uDCFEy");
            Assert.False(fs.Exists("/d/caf\uDCE9"));
        }

        ToolResult fsck = Oracle.Run("e2fsck", ["-fn", image], TimeSpan.FromMinutes(2));
        Assert.True(fsck.ExitCode == 0, fsck.ToString());
        ToolResult ls = Oracle.Run("debugfs", ["-R", "ls -p /d", image], TimeSpan.FromMinutes(1));
        Assert.DoesNotContain("/caf\uFFFD/", ls.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("/x\uFFFD\uFFFDy/", ls.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(others + 2, ls.StandardOutput.Split('\n').Count(l => l.StartsWith('/') && !l.StartsWith("/0/", StringComparison.Ordinal)));
    }

    internal static void AssertDebugfsListing(string image, Dictionary<string, uint> model, string directory = "/d")
    {
        ToolResult r = Oracle.Run("debugfs", ["-R", "ls -p " + directory, image], TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.ToString());
        var seen = new Dictionary<string, uint>(StringComparer.Ordinal);
        foreach (string line in r.StandardOutput.Split('\n'))
        {
            string[] f = line.Split('/');
            if (f.Length < 7 || f[5] is "." or ".." || f[1] == "0")
            {
                continue;
            }

            Assert.True(seen.TryAdd(f[5], uint.Parse(f[1], CultureInfo.InvariantCulture)), $"debugfs lists '{f[5]}' twice");
        }

        foreach (KeyValuePair<string, uint> kv in model)
        {
            Assert.True(seen.TryGetValue(kv.Key, out uint ino) && ino == kv.Value, $"debugfs: '{kv.Key}' missing or not inode {kv.Value}");
        }

        Assert.Equal(model.Count, seen.Count);
    }

    [GeneratedRegex(@"\d+ 0x([0-9a-f]{8})-([0-9a-f]{8}) \(\d+\) (\S+)")]
    private static partial Regex DumpEntry();
}
