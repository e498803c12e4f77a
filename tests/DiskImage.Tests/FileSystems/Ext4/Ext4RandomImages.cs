using System.Collections.Concurrent;
using System.Globalization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// One kind of empty ext2/3/4 image that randomized write sequences start from: made by <c>mkfs.ext4</c>
/// (e2fsprogs) with options, or by our <see cref="Ext4FileSystem.Format"/>.
/// </summary>
public sealed class Ext4RandomImageKind
{
    /// <summary>Image size: small (fast e2fsck) but room for a few MiB files; the file is sparse.</summary>
    public const long ImageSize = 96L << 20;

    private static readonly ConcurrentDictionary<string, Lazy<string>> Templates = new(StringComparer.Ordinal);
    private static readonly string TemplateDirectory = Path.Combine(Path.GetTempPath(), "diskimage-tests", "ext4-random-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));

    static Ext4RandomImageKind()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(TemplateDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        };
    }

    public required string Name { get; init; }

    /// <summary>Seeds of this kind are <c>SeedBase + 1 …</c>.</summary>
    public required int SeedBase { get; init; }

    /// <summary>mkfs.ext4 options (null: our Format with <see cref="Format"/>).</summary>
    public string[]? MkfsOptions { get; init; }

    public Ext4FormatOptions? Format { get; init; }

    public int BlockSize { get; init; } = 4096;

    /// <summary>Whether inodes have extra fields (nanosecond times, epoch bits): inode size &gt; 128.</summary>
    public bool LargeInodes { get; init; } = true;

    /// <summary>Largest file or directory the writer can make without extents (null: no limit).</summary>
    public int? MaxBlockMappedBytes { get; init; }

    public static Ext4RandomImageKind MkfsDefaults { get; } = new() { Name = "mkfs.ext4 defaults", SeedBase = 1000, MkfsOptions = ["-t", "ext4", "-T", "default"] };

    public static Ext4RandomImageKind MkfsNoCsumNo64 { get; } = new() { Name = "mkfs.ext4 -O ^metadata_csum,^64bit", SeedBase = 2000, MkfsOptions = ["-t", "ext4", "-T", "default", "-O", "^metadata_csum,^64bit"] };

    public static Ext4RandomImageKind Mkfs1K { get; } = new() { Name = "mkfs.ext4 -b 1024", SeedBase = 3000, MkfsOptions = ["-t", "ext4", "-T", "default", "-b", "1024"], BlockSize = 1024 };

    public static Ext4RandomImageKind MkfsInode128 { get; } = new() { Name = "mkfs.ext4 -I 128", SeedBase = 4000, MkfsOptions = ["-t", "ext4", "-T", "default", "-I", "128"], LargeInodes = false };

    /// <summary>ext3: block-mapped files and directories (direct, single, double and triple indirect blocks).</summary>
    public static Ext4RandomImageKind MkfsExt3 { get; } = new() { Name = "mkfs -t ext3", SeedBase = 5000, MkfsOptions = ["-t", "ext3", "-T", "default"] };

    /// <summary>inline_data: new directories start inline, grow into system.data, then into a block.</summary>
    public static Ext4RandomImageKind MkfsInlineData { get; } = new() { Name = "mkfs.ext4 -O inline_data", SeedBase = 8000, MkfsOptions = ["-t", "ext4", "-T", "default", "-O", "inline_data"] };

    public static Ext4RandomImageKind FormatDebian12 { get; } = new()
    {
        Name = "Format Debian12 4 KiB",
        SeedBase = 6000,
        Format = new Ext4FormatOptions { Profile = Ext4FormatProfile.Debian12, BlockSize = 4096 },
    };

    public static Ext4RandomImageKind FormatRhel7 { get; } = new()
    {
        Name = "Format Rhel7 (size default: 1 KiB blocks)",
        SeedBase = 7000,
        Format = new Ext4FormatOptions { Profile = Ext4FormatProfile.Rhel7 },
        BlockSize = 1024,
    };

    public static IReadOnlyList<Ext4RandomImageKind> All { get; } = [MkfsDefaults, MkfsNoCsumNo64, Mkfs1K, MkfsInode128, MkfsExt3, MkfsInlineData, FormatDebian12, FormatRhel7];

    public RandomOperationOptions GeneratorOptions => new()
    {
        NanosecondTimes = LargeInodes,
        MinSeconds = int.MinValue,
        // With extra fields ext4 stores 34-bit seconds (epoch bits) up to 2446; without, 32-bit signed.
        MaxSeconds = LargeInodes ? (1L << 34) - (1L << 31) - 1 : int.MaxValue,
        XattrBlockBudget = BlockSize - 64,
        BulkEntries = BlockSize >= 4096 ? 600 : 300,
        MaxFileSize = MaxBlockMappedBytes ?? (3 << 20),
        LargeDirectories = MaxBlockMappedBytes is null,
    };

    /// <summary>The empty template image of this kind (made once per test process).</summary>
    public string Template => Templates.GetOrAdd(Name, _ => new Lazy<string>(CreateTemplate)).Value;

    /// <summary>Copies the template (sparse) to <paramref name="path"/>.</summary>
    public void CopyTemplate(string path)
    {
        ToolResult r = Oracle.Run("cp", ["--sparse=always", Template, path], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private string CreateTemplate()
    {
        Directory.CreateDirectory(TemplateDirectory);
        string path = Path.Combine(TemplateDirectory, SeedBase.ToString(CultureInfo.InvariantCulture) + ".img");
        if (MkfsOptions is not null)
        {
            File.Delete(path);
            var args = new List<string> { "-q", "-F" };
            args.AddRange(MkfsOptions);
            args.AddRange([path, (ImageSize >> 10).ToString(CultureInfo.InvariantCulture) + "k"]);
            ToolResult r = Oracle.Run("mke2fs", args, TimeSpan.FromMinutes(2));
            Assert.True(r.ExitCode == 0, r.ToString());
        }
        else
        {
            using var device = FileBlockDevice.Create(path, ImageSize);
            Ext4FileSystem.Format(device, Format);
        }

        return path;
    }

    public override string ToString() => Name;
}

/// <summary>
/// One randomized write run: the template copied, opened writable, the seed's sequence applied to it and to an
/// <see cref="InMemoryFileSystem"/> model, the file system closed; then the judges: <c>e2fsck -fn</c>, the tree
/// as <c>debugfs</c> reads it, and our own reader.
/// </summary>
public sealed class Ext4RandomRun : IDisposable
{
    private Ext4RandomRun(Ext4RandomImageKind kind, int seed)
    {
        Kind = kind;
        Seed = seed;
        Temp = new TempDirectory();
        Image = Temp.File("image");
        Model = new InMemoryFileSystem();
        Runner = new RandomOperationRunner(seed, Model, kind.GeneratorOptions);
    }

    public Ext4RandomImageKind Kind { get; }

    public int Seed { get; }

    public TempDirectory Temp { get; }

    public string Image { get; }

    public InMemoryFileSystem Model { get; }

    public RandomOperationRunner Runner { get; }

    public UnixTime Start { get; private set; }

    public UnixTime End { get; private set; }

    public RandomTreeCompareOptions CompareOptions => new()
    {
        Nanoseconds = Kind.LargeInodes,
        NowWindow = (new UnixTime(Start.Seconds - 2, 0), new UnixTime(End.Seconds + 2, 0)),
    };

    /// <summary>Where the time went (for keeping the suite fast).</summary>
    public System.Text.StringBuilder Timings { get; } = new();

    public string Context => $"{Kind.Name}, seed {Seed} (image kept at {Image} only while the test runs)";

    /// <summary>Runs the seed's sequence on a fresh copy of the kind's template.</summary>
    public static Ext4RandomRun Execute(Ext4RandomImageKind kind, int seed)
    {
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        var run = new Ext4RandomRun(kind, seed);
        try
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            kind.CopyTemplate(run.Image);
            run.Timings.Append(CultureInfo.InvariantCulture, $"copy {sw.ElapsedMilliseconds} ms; ");
            sw.Restart();
            run.Start = UnixTime.Now;
            using (FileBlockDevice device = FileBlockDevice.Open(run.Image, writable: true))
            using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
            {
                Assert.False(fs.IsReadOnly);
                RandomOperationRunner.Mirror(fs, run.Model);
                run.Runner.Run(fs);
                fs.Flush();
            }

            run.End = UnixTime.Now;
            run.Timings.Append(CultureInfo.InvariantCulture, $"{run.Runner.Log.Count} operations {sw.ElapsedMilliseconds} ms; ");
            return run;
        }
        catch
        {
            run.Dispose();
            throw;
        }
    }

    /// <summary>e2fsck -fn exit code and output; null when clean.</summary>
    public string? CheckWithE2fsck()
    {
        ToolResult r = Oracle.Run("e2fsck", ["-fn", Image], TimeSpan.FromMinutes(2));
        return r.ExitCode == 0 ? null : $"e2fsck -fn exited {r.ExitCode}:\n{Trim(r.StandardOutput)}{Trim(r.StandardError)}";
    }

    /// <summary>Asserts e2fsck -fn is clean, and that debugfs and our reader see the model's tree.</summary>
    public void AssertJudgesAgree()
    {
        var problems = new List<string>();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        if (CheckWithE2fsck() is { } fsck)
        {
            problems.Add(fsck);
        }

        Timings.Append(CultureInfo.InvariantCulture, $"e2fsck {sw.ElapsedMilliseconds} ms; ");
        sw.Restart();
        RandomTreeSnapshot expected = RandomTreeSnapshot.FromFileSystem(Model);
        Timings.Append(CultureInfo.InvariantCulture, $"model snapshot {sw.ElapsedMilliseconds} ms; ");
        sw.Restart();
        try
        {
            RandomTreeSnapshot viaDebugfs = DebugfsTree.Read(Image, Temp.Path);
            Timings.Append(CultureInfo.InvariantCulture, $"debugfs {sw.ElapsedMilliseconds} ms ({viaDebugfs.Entries.Count} entries); ");
            sw.Restart();
            List<string> diffs = RandomTreeSnapshot.Compare(expected, viaDebugfs, CompareOptions);
            if (diffs.Count > 0)
            {
                problems.Add("debugfs sees a different tree:\n  " + string.Join("\n  ", diffs));
            }
        }
        catch (InvalidDataException e)
        {
            problems.Add("debugfs could not read the tree: " + e.Message);
        }

        try
        {
            using FileBlockDevice device = FileBlockDevice.Open(Image);
            using Ext4FileSystem fs = Ext4FileSystem.Open(device);
            List<string> diffs = RandomTreeSnapshot.Compare(expected, RandomTreeSnapshot.FromFileSystem(fs), CompareOptions);
            if (diffs.Count > 0)
            {
                problems.Add("our reader (reopened) sees a different tree:\n  " + string.Join("\n  ", diffs));
            }
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            problems.Add("our reader could not reopen the image: " + e);
        }

        Timings.Append(CultureInfo.InvariantCulture, $"reader {sw.ElapsedMilliseconds} ms");

        if (problems.Count > 0)
        {
            Assert.Fail($"{Context}\n{string.Join("\n", problems)}\n{Runner.Describe()}");
        }
    }

    private static string Trim(string s) => s.Length > 6000 ? s[..6000] + "\n…" : s;

    public void Dispose()
    {
        Model.Dispose();
        Temp.Dispose();
    }
}
