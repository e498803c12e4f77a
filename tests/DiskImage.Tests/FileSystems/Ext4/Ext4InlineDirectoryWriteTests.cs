using System.Globalization;
using System.Runtime.Versioning;
using System.Text;
using System.Text.RegularExpressions;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Entries added to, removed from and renamed within inline directories (inline_data), on images made by
/// <c>mke2fs -O inline_data -d</c> (e2fsprogs 1.47): a directory starts with its entries in <c>i_block</c>, grows
/// once into the <c>system.data</c> attribute, then becomes a block directory. Judged by <c>e2fsck -fn</c> and
/// <c>debugfs</c> (<c>stat</c> for the layout, the whole tree against the in-memory model), and one result by
/// the kernel (loop mount).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed partial class Ext4InlineDirectoryWriteTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>mke2fs options of the images: 1 KiB and 4 KiB blocks, 256- and 512-byte inodes, with and without metadata_csum.</summary>
    public static TheoryData<string> Variants() => new()
    {
        "-t ext4 -O inline_data",
        "-t ext4 -b 4096 -O inline_data,^metadata_csum",
        "-t ext4 -I 512 -O inline_data",
    };

    private enum Stage
    {
        /// <summary>All entries in i_block (i_size 60).</summary>
        InodeOnly,

        /// <summary>Entries in i_block and system.data (i_size above 60).</summary>
        InodeAndXattr,

        /// <summary>A block directory.</summary>
        Block,
    }

    [SkippableTheory]
    [MemberData(nameof(Variants))]
    public void AddEntries_InlineDirectory_GrowsIntoSystemDataThenIntoBlock_E2fsckCleanAtEveryStep(string mkfs)
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, mkfs);
        Assert.Equal((Stage.InodeOnly, 60L), DirectoryLayout(image, "/c"));
        var expected = new List<string>();
        var seen = new List<Stage>();
        for (int i = 0; CountAfterBlock(seen) < 3; i++)
        {
            string name = "entry-" + i.ToString("D2", CultureInfo.InvariantCulture);
            using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
            using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
            {
                switch (i % 3)
                {
                    case 0:
                        fs.OpenFile("/c/" + name, FileMode.CreateNew, FileAccess.Write).Dispose();
                        break;
                    case 1:
                        fs.CreateSymbolicLink("/c/" + name, "../a");
                        break;
                    default:
                        fs.CreateDirectory("/c/" + name);
                        break;
                }
            }

            expected.Add(name);
            (Stage stage, long size) = DirectoryLayout(image, "/c");
            seen.Add(stage);
            AssertFsckClean(image, $"after adding {name} ({stage}, i_size {size})");
            Assert.Equal(expected.Order(StringComparer.Ordinal), DebugfsNames(image, "/c"));
            Assert.True(i < 60, "the directory never became a block directory");
        }

        // The stages come in order, each at least once.
        Assert.Equal([Stage.InodeOnly, Stage.InodeAndXattr, Stage.Block], seen.Distinct());
        Assert.True(seen.SequenceEqual(seen.Order()), string.Join(", ", seen));
        output.WriteLine($"{mkfs}: {string.Join(", ", seen)}");
    }

    [SkippableTheory]
    [MemberData(nameof(Variants))]
    public void CreateDirectory_InlineDataFileSystem_NewDirectoryIsInlineLikeTheKernels(string mkfs)
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, mkfs);
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
        {
            fs.CreateDirectory("/new");
            fs.CreateDirectory("/new/sub");
            fs.OpenFile("/new/sub/f", FileMode.CreateNew, FileAccess.Write).Dispose();
        }

        AssertFsckClean(image, "after mkdir");
        Assert.Equal((Stage.InodeOnly, 60L), DirectoryLayout(image, "/new"));
        Assert.Equal((Stage.InodeOnly, 60L), DirectoryLayout(image, "/new/sub"));
        string stat = Debugfs(image, "stat /new/sub");
        Assert.Contains("system.data (0)", stat, StringComparison.Ordinal);
        Assert.Contains("Links: 2", stat, StringComparison.Ordinal);
        Assert.Equal(["sub"], DebugfsNames(image, "/new"));
        Assert.Equal(["f"], DebugfsNames(image, "/new/sub"));

        // ".." of the inline directory is its parent.
        string ls = Debugfs(image, "ls -l /new/sub");
        long parent = long.Parse(Debugfs(image, "stat /new").Split("Inode: ", 2)[1].Split(' ', 2)[0], CultureInfo.InvariantCulture);
        Assert.Matches(@"(?m)^\s*" + parent.ToString(CultureInfo.InvariantCulture) + @"\s+40755.*\s\.\.\s*$", ls);
    }

    [SkippableTheory]
    [MemberData(nameof(Variants))]
    public void RemoveAndRename_InBothInlineAreas_E2fsckCleanAndDebugfsTreeEqualsModel(string mkfs)
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, mkfs);
        var model = new InMemoryFileSystem();
        UnixTime start = UnixTime.Now;
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
        {
            RandomOperationRunner.Mirror(fs, model);
            foreach (IFileSystem t in new IFileSystem[] { fs, model })
            {
                // Fill i_block and part of system.data.
                for (int i = 0; i < 5; i++)
                {
                    t.OpenFile($"/c/f{i}", FileMode.CreateNew, FileAccess.Write).Dispose();
                }

                t.CreateDirectory("/c/dir");
                t.Delete("/c/f0");                       // first record of i_block: freed in place
                t.Rename("/c/f1", "/c/renamed-one");     // same directory
                t.Rename("/c/f4", "/a/f4");              // to another inline directory
                t.Rename("/c/dir", "/b/dir");            // a directory: its ".." (i_block[0]) follows
                t.Rename("/a/x", "/c/f3");               // replaces an entry
                t.Delete("/c/f2");
                t.OpenFile("/c/again", FileMode.CreateNew, FileAccess.Write).Dispose();
            }

            Assert.True(DirectoryStage(fs, "/c") != Stage.Block);
        }

        AssertFsckClean(image, "after removes and renames");
        AssertDebugfsTreeEquals(image, temp.Path, model, start);
        Assert.Equal((Stage.InodeOnly, 60L), DirectoryLayout(image, "/b/dir"));
        string ls = Debugfs(image, "ls -l /b/dir");
        long b = long.Parse(Debugfs(image, "stat /b").Split("Inode: ", 2)[1].Split(' ', 2)[0], CultureInfo.InvariantCulture);
        Assert.Matches(@"(?m)^\s*" + b.ToString(CultureInfo.InvariantCulture) + @"\s+40755.*\s\.\.\s*$", ls);
    }

    public static TheoryData<string, int> RandomRuns()
    {
        var data = new TheoryData<string, int>();
        foreach (string v in Variants())
        {
            for (int seed = 1; seed <= 6; seed++)
            {
                data.Add(v, seed);
            }
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(RandomRuns))]
    public void RandomSequence_SmallDirectories_PassThroughEveryStage_E2fsckCleanAndDebugfsTreeEqualsModel(string mkfs, int seed)
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, mkfs);
        (InMemoryFileSystem model, HashSet<Stage> stages, UnixTime start, string log) = RunRandom(image, seed * 7919);
        using (model)
        {
            string context = $"{mkfs}, seed {seed * 7919}:\n{log}";
            AssertFsckClean(image, context);
            AssertDebugfsTreeEquals(image, temp.Path, model, start, context);
            Assert.True(stages.Count == 3, $"stages seen: {string.Join(", ", stages)}; {context}");
        }
    }

    [SkippableFact]
    [Trait("Category", "KernelMount")]
    public void RandomSequence_LoopMounted_KernelSeesModelTree()
    {
        Ext4KernelMount.Require();
        using var temp = new TempDirectory();
        string image = MakeImage(temp, "-t ext4 -O inline_data");
        (InMemoryFileSystem model, _, UnixTime start, string log) = RunRandom(image, 424242);
        using (model)
        {
            AssertFsckClean(image, log);
            RandomTreeSnapshot viaKernel;
            using (Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(image, temp.File("mnt")))
            {
                viaKernel = Ext4KernelMount.Snapshot(m.MountPoint);
            }

            List<string> diffs = RandomTreeSnapshot.Compare(RandomTreeSnapshot.FromFileSystem(model), viaKernel, CompareOptions(start));
            Assert.True(diffs.Count == 0, $"the kernel sees a different tree:\n  {string.Join("\n  ", diffs)}\n{log}");
        }
    }

    /// <summary>
    /// The kernel as the model of the layout: the same entries created one by one by the kernel (loop mount,
    /// read-write) on one copy and by the writer on another give the same directory layout (inline i_size, block)
    /// after every step; then the writer removes and adds entries in the directory the kernel grew.
    /// </summary>
    [SkippableFact]
    [Trait("Category", "KernelMount")]
    public void AddEntries_SameSequenceAsTheKernel_SameLayoutAtEveryStep()
    {
        Ext4KernelMount.Require();
        using var temp = new TempDirectory();
        string ours = MakeImage(temp, "-t ext4 -O inline_data");
        string kernel = temp.File("kernel.img");
        File.Copy(ours, kernel);
        var names = new List<string>();
        var layouts = new List<string>();
        for (int i = 0; i < 40 && (names.Count == 0 || DirectoryLayout(ours, "/c").Stage != Stage.Block); i++)
        {
            string name = new string((char)('a' + (i % 26)), 1 + (i % 5)) + i.ToString(CultureInfo.InvariantCulture);
            bool mkdir = i % 4 == 3;
            using (Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(kernel, temp.File("mnt"), options: "loop"))
            {
                string host = Path.Combine(m.MountPoint, "c", name);
                if (mkdir)
                {
                    Directory.CreateDirectory(host);
                }
                else
                {
                    File.WriteAllBytes(host, []);
                }
            }

            using (FileBlockDevice device = FileBlockDevice.Open(ours, writable: true))
            using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
            {
                if (mkdir)
                {
                    fs.CreateDirectory("/c/" + name);
                }
                else
                {
                    fs.OpenFile("/c/" + name, FileMode.CreateNew, FileAccess.Write).Dispose();
                }
            }

            names.Add(name);
            (Stage, long) want = DirectoryLayout(kernel, "/c");
            Assert.Equal(want, DirectoryLayout(ours, "/c"));
            if (mkdir)
            {
                Assert.Equal(DirectoryLayout(kernel, "/c/" + name), DirectoryLayout(ours, "/c/" + name));
            }

            layouts.Add($"{name}: {want}");
        }

        output.WriteLine(string.Join("\n", layouts));
        Assert.Equal(Stage.Block, DirectoryLayout(ours, "/c").Stage);
        AssertFsckClean(kernel, "as the kernel left it");
        AssertFsckClean(ours, "after the same sequence");

        // The writer changes a directory the kernel grew into system.data.
        using (Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(kernel, temp.File("mnt"), options: "loop"))
        {
            for (int i = 0; i < 4; i++)
            {
                File.WriteAllBytes(Path.Combine(m.MountPoint, "b", "k" + i.ToString(CultureInfo.InvariantCulture)), []);
            }
        }

        Assert.Equal(Stage.InodeAndXattr, DirectoryLayout(kernel, "/b").Stage);
        using (FileBlockDevice device = FileBlockDevice.Open(kernel, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
        {
            fs.Delete("/b/k3");
            fs.Delete("/b/one");
            fs.Rename("/b/k2", "/b/k2-renamed");
            fs.CreateDirectory("/b/sub");
        }

        AssertFsckClean(kernel, "after the writer changed a directory the kernel grew");
        Assert.Equal(["k0", "k1", "k2-renamed", "sub", "two"], DebugfsNames(kernel, "/b"));
    }

    [SkippableTheory]
    [InlineData("block[2] 0x00000034")]   // the first record's rec_len 52 stops short of byte 60
    [InlineData("size 64")]               // i_size disagrees with the empty system.data
    public void Change_CorruptInlineDirectory_InvalidDataAndNothingWritten(string field)
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, "-t ext4 -O inline_data");
        ToolResult set = Oracle.Run("debugfs", ["-w", "-R", "set_inode_field /c " + field, image], TimeSpan.FromMinutes(1));
        Assert.True(set.ExitCode == 0, set.ToString());
        byte[] before = File.ReadAllBytes(image);
        foreach (Action<Ext4FileSystem> change in new Action<Ext4FileSystem>[] { fs => fs.CreateFifo("/c/x"), fs => fs.CreateDirectory("/c/d"), fs => fs.Rename("/a/x", "/c/x") })
        {
            using FileBlockDevice device = FileBlockDevice.Open(image, writable: true);
            using Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true });
            Assert.Throws<InvalidDataException>(() => change(fs));
        }

        Assert.True(before.AsSpan().SequenceEqual(File.ReadAllBytes(image)), "the image changed");
    }

    [SkippableFact]
    public void AddEntry_NoSpaceForTheBlock_InlineDirectoryUnchanged()
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, "-t ext4 -O inline_data");
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
        {
            // Fill both inline areas of /c, then the disk.
            int i = 0;
            while (DirectoryStage(fs, "/c") != Stage.Block && i < 4)
            {
                fs.OpenFile($"/c/n{i++}", FileMode.CreateNew, FileAccess.Write).Dispose();
            }

            Assert.NotEqual(Stage.Block, DirectoryStage(fs, "/c"));
            FillDisk(fs);
            IOException e = Assert.ThrowsAny<IOException>(() =>
            {
                for (int k = 0; k < 20; k++)
                {
                    fs.CreateFifo($"/c/{new string('q', 20)}{k}");
                }
            });
            output.WriteLine(e.Message);
            Assert.NotEqual(Stage.Block, DirectoryStage(fs, "/c"));
            fs.Delete("/filler");
        }

        AssertFsckClean(image, "after a failed conversion");
    }

    private static (InMemoryFileSystem Model, HashSet<Stage> Stages, UnixTime Start, string Log) RunRandom(string image, int seed)
    {
        var rng = new Random(seed);
        var model = new InMemoryFileSystem();
        var stages = new HashSet<Stage>();
        var log = new StringBuilder();
        UnixTime start = UnixTime.Now;
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
        {
            RandomOperationRunner.Mirror(fs, model);
            var dirs = new List<string> { "/a", "/b", "/c", "/d", "/d/e" };
            for (int step = 0; step < 400; step++)
            {
                // A few directories get most of the traffic, so that some grow past every stage.
                string dir = rng.Next(3) > 0 ? dirs[rng.Next(Math.Min(3, dirs.Count))] : dirs[rng.Next(dirs.Count)];
                string name = RandomName(rng);
                string path = dir + "/" + name;
                List<string> existing = model.EnumerateDirectory(dir).Select(e => e.Path).ToList();
                int roll = rng.Next(100);
                Action<IFileSystem> op;
                string text;
                if (roll < 40 || existing.Count == 0)
                {
                    op = t => t.OpenFile(path, FileMode.CreateNew, FileAccess.Write).Dispose();
                    text = $"create {path}";
                }
                else if (roll < 50)
                {
                    op = t => t.CreateDirectory(path);
                    text = $"mkdir {path}";
                }
                else if (roll < 58)
                {
                    op = t => t.CreateSymbolicLink(path, "target/" + name);
                    text = $"symlink {path}";
                }
                else if (roll < 80)
                {
                    string victim = existing[rng.Next(existing.Count)];
                    op = t => t.Delete(victim);
                    text = $"delete {victim}";
                }
                else
                {
                    string source = existing[rng.Next(existing.Count)];
                    string targetDir = dirs[rng.Next(dirs.Count)];
                    string target = rng.Next(4) == 0 && model.EnumerateDirectory(targetDir).FirstOrDefault() is { } hit ? hit.Path : targetDir + "/" + name;
                    op = t => t.Rename(source, target);
                    text = $"rename {source} -> {target}";
                }

                Exception? expected = Try(() => op(model));
                Exception? actual = Try(() => op(fs));
                log.Append(CultureInfo.InvariantCulture, $"[{step}] {text}").AppendLine(expected is null ? string.Empty : " → " + expected.GetType().Name);
                if (expected?.GetType() != actual?.GetType())
                {
                    Assert.Fail($"seed {seed}: {text} threw {actual?.ToString() ?? "nothing"} on ext4 but {expected?.GetType().Name ?? "nothing"} on the model\n{log}");
                }

                dirs.Clear();
                CollectDirectories(model, "/", dirs);
                foreach (string d in dirs)
                {
                    stages.Add(DirectoryStage(fs, d));
                }
            }
        }

        return (model, stages, start, log.ToString());
    }

    private static void CollectDirectories(IFileSystem fs, string dir, List<string> into)
    {
        foreach (UnixFileInfo e in fs.EnumerateDirectory(dir))
        {
            if (e.Type == UnixFileType.Directory && e.Path != "/lost+found")
            {
                into.Add(e.Path);
                CollectDirectories(fs, e.Path, into);
            }
        }
    }

    private static string RandomName(Random rng)
    {
        const string Alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_";
        int length = rng.Next(10) == 0 ? rng.Next(20, 70) : rng.Next(1, 14);
        var sb = new StringBuilder(length);
        for (int i = 0; i < length; i++)
        {
            sb.Append(Alphabet[rng.Next(Alphabet.Length)]);
        }

        return sb.ToString();
    }

    private static Exception? Try(Action a)
    {
        try
        {
            a();
            return null;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException or NotSupportedException)
        {
            return e;
        }
    }

    private static Stage DirectoryStage(Ext4FileSystem fs, string path)
    {
        Ext4Inode inode = fs.ReadInode((uint)fs.GetEntry(path).Inode);
        return !inode.HasInlineData ? Stage.Block : inode.Size == 60 ? Stage.InodeOnly : Stage.InodeAndXattr;
    }

    private static void FillDisk(Ext4FileSystem fs)
    {
        // A failed write is undone as a whole (failure atomicity), so fill with ever smaller writes down to one
        // small block: afterwards not a single block is free.
        using Stream s = fs.OpenFile("/filler", FileMode.CreateNew, FileAccess.Write);
        foreach (int size in new[] { 1 << 16, 4096, 1024 })
        {
            byte[] chunk = new byte[size];
            try
            {
                while (true)
                {
                    s.Write(chunk);
                }
            }
            catch (IOException)
            {
            }
        }
    }

    private static int CountAfterBlock(List<Stage> seen) => seen.Count(s => s == Stage.Block);

    private static string MakeImage(TempDirectory temp, string mkfs)
    {
        Oracle.Require("mke2fs");
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        string src = temp.File("src");
        Directory.CreateDirectory(Path.Combine(src, "a"));
        Directory.CreateDirectory(Path.Combine(src, "b"));
        Directory.CreateDirectory(Path.Combine(src, "c"));
        Directory.CreateDirectory(Path.Combine(src, "d", "e"));
        File.WriteAllBytes(Path.Combine(src, "a", "x"), [1, 2, 3]);
        File.WriteAllBytes(Path.Combine(src, "b", "one"), []);
        File.WriteAllBytes(Path.Combine(src, "b", "two"), []);
        string image = temp.File("fs.img");
        var args = new List<string> { "-q", "-F" };
        args.AddRange(mkfs.Split(' '));
        args.AddRange(["-d", src, image, "8M"]);
        ToolResult mk = Oracle.Run("mke2fs", args, TimeSpan.FromMinutes(2));
        Assert.True(mk.ExitCode == 0, mk.ToString());
        return image;
    }

    private static string Debugfs(string image, string command)
    {
        ToolResult r = Oracle.Run("debugfs", ["-R", command, image], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.StandardOutput;
    }

    /// <summary>The layout of a directory as debugfs reports it: inline (with i_size) or a block directory.</summary>
    private static (Stage Stage, long Size) DirectoryLayout(string image, string path)
    {
        string stat = Debugfs(image, "stat " + path);
        uint flags = Convert.ToUInt32(FlagsPattern().Match(stat).Groups[1].Value, 16);
        long size = long.Parse(SizePattern().Match(stat).Groups[1].Value, CultureInfo.InvariantCulture);
        if ((flags & 0x10000000) == 0)
        {
            Assert.True((flags & 0x80000) != 0, $"{path}: a block directory without extents: {stat}");
            return (Stage.Block, size);
        }

        Assert.True((flags & 0x80000) == 0, $"{path}: an inline directory with EXTENTS_FL: {stat}");
        Assert.Contains($"Size of inline data: {size}", stat, StringComparison.Ordinal);
        return (size == 60 ? Stage.InodeOnly : Stage.InodeAndXattr, size);
    }

    private static List<string> DebugfsNames(string image, string path) =>
        DebugfsTree.ParseLs(Debugfs(image, "ls -p " + path), path)
            .Where(e => e.Name is not "." and not ".." && e.Inode != 0)
            .Select(e => e.Name)
            .Order(StringComparer.Ordinal)
            .ToList();

    private static void AssertFsckClean(string image, string context)
    {
        ToolResult r = Oracle.Run("e2fsck", ["-fn", image], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, $"e2fsck -fn exited {r.ExitCode} {context}:\n{r.StandardOutput}{r.StandardError}");
    }

    private static RandomTreeCompareOptions CompareOptions(UnixTime start) => new()
    {
        Nanoseconds = true,
        NowWindow = (new UnixTime(start.Seconds - 2, 0), new UnixTime(UnixTime.Now.Seconds + 2, 0)),
        IgnoreUserXattrsOnSpecialFiles = true,
    };

    private static void AssertDebugfsTreeEquals(string image, string workDir, InMemoryFileSystem model, UnixTime start, string context = "")
    {
        RandomTreeSnapshot viaDebugfs = DebugfsTree.Read(image, workDir);
        List<string> diffs = RandomTreeSnapshot.Compare(RandomTreeSnapshot.FromFileSystem(model), viaDebugfs, CompareOptions(start));
        Assert.True(diffs.Count == 0, $"debugfs sees a different tree:\n  {string.Join("\n  ", diffs)}\n{context}");
        using FileBlockDevice device = FileBlockDevice.Open(image);
        using Ext4FileSystem fs = Ext4FileSystem.Open(device);
        diffs = RandomTreeSnapshot.Compare(RandomTreeSnapshot.FromFileSystem(model), RandomTreeSnapshot.FromFileSystem(fs), CompareOptions(start));
        Assert.True(diffs.Count == 0, $"our reader sees a different tree:\n  {string.Join("\n  ", diffs)}\n{context}");
    }

    [GeneratedRegex(@"Flags: 0x([0-9a-fA-F]+)")]
    private static partial Regex FlagsPattern();

    [GeneratedRegex(@"Size: (\d+)")]
    private static partial Regex SizePattern();
}
