using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// Write interop (issue 10, acceptance 2): seeded random operation sequences (files written, overwritten, appended,
/// truncated; directories grown into block, leaf and node form and thinned out; renames that replace; symlinks local
/// and remote; hard links; devices, FIFOs, sockets; chmod, chown, utimes with nanoseconds; xattrs) applied to an
/// <see cref="XfsFileSystem"/> opened writable and to the in-memory model, on images made by <c>mkfs.xfs</c> with each
/// profile's options (and with <c>-m rmapbt=1</c>, whose reverse-mapping btree every flush rebuilds) and by our
/// <see cref="XfsFileSystem.Format"/>. After each sequence <c>xfs_repair -n</c> must exit 0,
/// and the tree read back by a fresh open and by a kernel loop mount (where available) must equal the model.
/// The quick set runs <see cref="QuickSeeds"/> seeds per kind; the <c>XfsWriteRandom</c> category runs
/// <see cref="ManySeeds"/> more per kind (450 sequences in all with the quick set).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class XfsWriteRandomTests(Xunit.Abstractions.ITestOutputHelper output)
{
    public const int QuickSeeds = 6;
    public const int ManySeeds = 44;

    public static TheoryData<string, int> Quick() => Seeds(1, QuickSeeds);

    public static TheoryData<string, int> Many() => Seeds(QuickSeeds + 1, QuickSeeds + ManySeeds);

    private static TheoryData<string, int> Seeds(int from, int to)
    {
        var data = new TheoryData<string, int>();
        foreach (XfsRandomImageKind kind in XfsRandomImageKind.All)
        {
            for (int i = from; i <= to; i++)
            {
                data.Add(kind.Name, i);
            }
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Quick))]
    public void RandomSequence_RepairCleanAndTreeEqualsModel(string kind, int seed) => Run(kind, seed, kernel: seed <= 2);

    /// <summary>
    /// Sequences that once failed: a node directory whose leaf blocks were split inside a run of equal name hashes
    /// (xfs_repair: "directory block hashvalue inconsistency").
    /// </summary>
    [SkippableTheory]
    [InlineData("mkfs.xfs Rhel7", 45)]
    [InlineData("Format Rhel7", 13)]
    [InlineData("Format Debian12", 18)]
    public void RandomSequence_FormerFailures_RepairCleanAndTreeEqualsModel(string kind, int seed) => Run(kind, seed, kernel: false);

    [SkippableTheory]
    [Trait("Category", "XfsWriteRandom")]
    [MemberData(nameof(Many))]
    public void RandomSequence_ManySeeds_RepairCleanAndTreeEqualsModel(string kind, int seed) => Run(kind, seed, kernel: seed % 5 == 0);

    /// <summary>
    /// Drops <c>trusted.SGI_ACL_FILE</c>/<c>SGI_ACL_DEFAULT</c> where the same ACL is listed under its
    /// <c>system.posix_acl_*</c> name: XFS stores ACLs under the SGI names and Linux lists both to root.
    /// </summary>
    internal static RandomTreeSnapshot WithoutSgiAclNames(RandomTreeSnapshot snapshot)
    {
        foreach (RandomTreeSnapshot.Entry e in snapshot.Entries.Values)
        {
            if (e.Xattrs.ContainsKey("system.posix_acl_access"))
            {
                e.Xattrs.Remove("trusted.SGI_ACL_FILE");
            }

            if (e.Xattrs.ContainsKey("system.posix_acl_default"))
            {
                e.Xattrs.Remove("trusted.SGI_ACL_DEFAULT");
            }
        }

        return snapshot;
    }

    private void Run(string kindName, int seed, bool kernel)
    {
        Oracle.Require("xfs_repair");
        XfsRandomImageKind kind = XfsRandomImageKind.ByName(kindName);
        seed += kind.SeedBase;
        using var temp = new TempDirectory();
        string image = temp.File("image");
        kind.CopyTemplate(image);
        var model = new InMemoryFileSystem();
        var runner = new RandomOperationRunner(seed, model, kind.GeneratorOptions);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        UnixTime start = UnixTime.Now;
        string context = $"{kind.Name}, seed {seed}";
        try
        {
            using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
            using (XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true }))
            {
                Assert.False(fs.IsReadOnly);
                RandomOperationRunner.Mirror(fs, model);
                runner.Run(fs);
            }
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            Assert.Fail($"{context}: {e}\n{runner.Describe()}");
        }

        UnixTime end = UnixTime.Now;
        output.WriteLine($"{context}: {runner.Log.Count} operations, {sw.ElapsedMilliseconds} ms");
        ToolResult repair = Oracle.Run("xfs_repair", ["-n", "-f", image], TimeSpan.FromMinutes(5));
        Assert.True(repair.ExitCode == 0, $"{context}: xfs_repair -n: {repair}\n{runner.Describe()}");
        var options = new RandomTreeCompareOptions { NowWindow = (new UnixTime(start.Seconds - 2, 0), new UnixTime(end.Seconds + 2, 0)) };
        RandomTreeSnapshot expected = RandomTreeSnapshot.FromFileSystem(model);
        using (XfsFileSystem back = XfsFileSystem.Open(FileBlockDevice.Open(image)))
        {
            List<string> diffs = RandomTreeSnapshot.Compare(expected, WithoutSgiAclNames(RandomTreeSnapshot.FromFileSystem(back)), options);
            Assert.True(diffs.Count == 0, $"{context}: our reader differs from the model:\n{string.Join('\n', diffs)}\n{runner.Describe()}");
        }

        if (kernel && Ext4KernelMount.UnavailableReason is null)
        {
            RandomTreeSnapshot viaKernel = WithoutSgiAclNames(XfsTestImages.KernelSnapshot(image, temp.File("mnt")));
            List<string> diffs = RandomTreeSnapshot.Compare(expected, viaKernel, new RandomTreeCompareOptions
            {
                NowWindow = options.NowWindow,
                IgnoreUserXattrsOnSpecialFiles = true,
            });
            Assert.True(diffs.Count == 0, $"{context}: the kernel's view differs from the model:\n{string.Join('\n', diffs)}\n{runner.Describe()}");
        }
    }
}

/// <summary>An empty XFS image that random write sequences start from: made by <c>mkfs.xfs</c> or by our Format.</summary>
[SupportedOSPlatform("linux")]
public sealed class XfsRandomImageKind
{
    private static readonly ConcurrentDictionary<string, Lazy<string>> Templates = new(StringComparer.Ordinal);
    private static readonly string TemplateDirectory = Path.Combine(Path.GetTempPath(), "diskimage-tests", "xfs-random-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));

    public required string Name { get; init; }

    public required int SeedBase { get; init; }

    public XfsFormatProfile Profile { get; init; } = XfsFormatProfile.Debian12;

    /// <summary>Whether mkfs.xfs makes the image (else our Format).</summary>
    public bool Mkfs { get; init; }

    public int BlockSize { get; init; } = 4096;

    public long Size { get; init; } = 512L << 20;

    /// <summary>mkfs.xfs feature options; null for the profile's (<see cref="XfsFormatTests.MkfsOptions"/>).</summary>
    public string[]? MkfsArguments { get; init; }

    public static IReadOnlyList<XfsRandomImageKind> All { get; } =
    [
        new() { Name = "mkfs.xfs Rhel7", SeedBase = 11000, Profile = XfsFormatProfile.Rhel7, Mkfs = true },
        new() { Name = "mkfs.xfs Rhel8", SeedBase = 12000, Profile = XfsFormatProfile.Rhel8, Mkfs = true },
        new() { Name = "mkfs.xfs Rhel9-Debian12", SeedBase = 13000, Profile = XfsFormatProfile.Debian12, Mkfs = true },
        new() { Name = "mkfs.xfs Debian12 1 KiB blocks", SeedBase = 14000, Profile = XfsFormatProfile.Debian12, Mkfs = true, BlockSize = 1024 },
        new() { Name = "Format Debian12", SeedBase = 15000, Profile = XfsFormatProfile.Debian12, Size = 96L << 20 },
        new() { Name = "Format Rhel7", SeedBase = 16000, Profile = XfsFormatProfile.Rhel7, Size = 96L << 20 },
        new() { Name = "mkfs.xfs Upstream (rmapbt nrext64)", SeedBase = 17000, Profile = XfsFormatProfile.Upstream, Mkfs = true },
        new()
        {
            Name = "mkfs.xfs Debian12 rmapbt", SeedBase = 18000, Profile = XfsFormatProfile.Debian12, Mkfs = true,
            MkfsArguments = ["-m", "crc=1,finobt=1,reflink=1,bigtime=1,inobtcount=1,rmapbt=1", "-i", "sparse=1"],
        },
        new() { Name = "Format Upstream", SeedBase = 19000, Profile = XfsFormatProfile.Upstream, Size = 96L << 20 },
    ];

    public static XfsRandomImageKind ByName(string name) => All.Single(k => k.Name == name);

    public RandomOperationOptions GeneratorOptions => new()
    {
        NanosecondTimes = true,
        MinSeconds = int.MinValue,
        MaxSeconds = Profile is XfsFormatProfile.Rhel7 or XfsFormatProfile.Rhel8 ? int.MaxValue : (1L << 34) - (1L << 31) - 1,
        // The writer keeps an inode's xattrs in shortform or one leaf block.
        XattrBlockBudget = BlockSize / 2,
        BulkEntries = 600,
        MaxFileSize = 3 << 20,
        MaxDeviceMajor = 0x1FF,
        MaxDeviceMinor = 0x3FFFF,
        MinOperations = 20,
        MaxOperations = 80,
    };

    public void CopyTemplate(string path)
    {
        string template = Templates.GetOrAdd(Name, _ => new Lazy<string>(CreateTemplate)).Value;
        ToolResult r = Oracle.Run("cp", ["--sparse=always", template, path], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private string CreateTemplate()
    {
        Directory.CreateDirectory(TemplateDirectory);
        string path = Path.Combine(TemplateDirectory, SeedBase.ToString(CultureInfo.InvariantCulture) + ".img");
        File.Delete(path);
        if (Mkfs)
        {
            using (var f = new FileStream(path, FileMode.Create))
            {
                f.SetLength(Size);
            }

            ToolResult r = Oracle.Run("mkfs.xfs", ["-f", "-q", "-b", $"size={BlockSize}", .. MkfsArguments ?? XfsFormatTests.MkfsOptions(Profile), path], TimeSpan.FromMinutes(2));
            Assert.True(r.ExitCode == 0, r.ToString());
        }
        else
        {
            using var device = FileBlockDevice.Create(path, Size);
            XfsFileSystem.Format(device, new XfsFormatOptions { Profile = Profile, BlockSize = BlockSize });
        }

        return path;
    }

    public override string ToString() => Name;
}
