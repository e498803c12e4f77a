using System.Globalization;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// XFS write results judged by the Debian kernel booted under qemu (TCG) from virtio disks (issue 10, acceptance 2;
/// the node-directory injection of acceptance 3): one seeded random write sequence on each image kind — mkfs.xfs
/// with the RHEL 7, RHEL 8 and RHEL 9/Debian 12 options (4 KiB and 1 KiB blocks) and our Format with the Debian 12,
/// RHEL 8 and RHEL 7 profiles — each passed by <c>xfs_repair -n</c> first; a version 4 (<c>-m crc=0</c>) image that
/// mkfs.xfs filled from a protofile (writing V4 is refused, so the kernel judges our V4 reader there); and a
/// 50,000-entry node directory (mkfs.xfs -p) after an injection by our writer. One boot mounts all of them read-only (plain <c>ro</c>); every
/// path, type, mode, owner, size, link count, mtime with nanoseconds, device number, link target, xattr (POSIX ACLs
/// as the kernel lists them) and content hash must equal the in-memory model driven with the same sequence. Where
/// root and loop devices exist, the host kernel reads the same random results back through loop mounts too.
/// </summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "KernelBoot")]
public sealed class XfsKernelBootTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>Added to each kind's seed base: seeds the quick and many-seed sets of <see cref="XfsWriteRandomTests"/> do not use.</summary>
    public const int SeedOffset = 900;

    private const int NodeEntries = 50_000;

    private static readonly System.Text.RegularExpressions.Regex KernelComplaint = new("corrupt|error|ENOSPC|recovery|failed|unmount and run", System.Text.RegularExpressions.RegexOptions.IgnoreCase);

    private static readonly byte[] Injected = "injected into a node-form directory\n"u8.ToArray();

    /// <summary>The image kinds one boot judges: every mkfs.xfs profile of the random tests and our Format's profiles.</summary>
    public static IReadOnlyList<XfsRandomImageKind> Kinds { get; } =
    [
        .. XfsRandomImageKind.All,
        new() { Name = "Format Rhel8", SeedBase = 20000, Profile = XfsFormatProfile.Rhel8, Size = 96L << 20 },
    ];

    [SkippableFact]
    public async Task RandomSequences_BootedKernelMountsEveryKindReadOnly_SeesModelTrees()
    {
        Oracle.Require("xfs_repair");
        Oracle.Require("mkfs.xfs");
        XfsKernelBootQemu.Require(); // skip (or fail) before the images are made
        using var temp = new TempDirectory();
        var total = System.Diagnostics.Stopwatch.StartNew();
        var runs = new Run[Kinds.Count];
        string v4 = temp.File("v4.img"), node = temp.File("node.img");
        RandomTreeSnapshot? v4Expected = null;

        // The node directory (the longest job) first; two at a time.
        Parallel.For(-2, Kinds.Count, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i =>
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            switch (i)
            {
                case -2:
                    MakeNodeDirectory(temp, node);
                    break;
                case -1:
                    v4Expected = MakeV4(temp, v4);
                    break;
                default:
                    runs[i] = Execute(Kinds[i], temp);
                    break;
            }

            output.WriteLine($"{(i == -2 ? "node directory" : i == -1 ? "version 4" : runs[i].Context)}: {sw.ElapsedMilliseconds} ms");
        });
        output.WriteLine($"{runs.Length} random sequences written and passed by xfs_repair -n, version 4 and node-directory images made: {total.ElapsedMilliseconds} ms");

        var images = runs.Select(r => r.Image).Append(v4).Append(node).ToList();
        int v4Disk = runs.Length, nodeDisk = runs.Length + 1;
        bool xattrs = XfsKernelBootQemu.HasGetfattr;
        if (!xattrs)
        {
            Assert.False(Oracle.Required, "getfattr (package attr) is missing: the boot check cannot dump xattrs.");
            output.WriteLine("getfattr is not installed: xattrs are not compared in the guest");
        }

        var script = new StringBuilder();
        for (int i = 0; i <= v4Disk; i++)
        {
            script.Append(XfsKernelBootQemu.TreeScript(i, xattrs));
        }

        script.Append(NodeScript(nodeDisk));
        // The host kernel reads the same results through loop mounts while qemu (one TCG thread) runs.
        Task<List<string>> host = Task.Run(() => HostLoopMounts(runs, temp));
        XfsKernelBootQemu.Result result;
        try
        {
            result = XfsKernelBootQemu.Boot(images, script.ToString(), xattrs, temp.Path, output.WriteLine);
        }
        finally
        {
            // Every loop mount is undone before the images' directory goes.
            await Task.WhenAny(host);
        }

        output.WriteLine($"booted and read back {images.Count} disks ({result.Output.Length} characters): {total.ElapsedMilliseconds} ms");
        output.WriteLine(result.KernelMessages);
        output.WriteLine(string.Join("\n", result.Lines("T|")));
        foreach (Run r in runs)
        {
            output.WriteLine($"{r.Context}: {r.Expected.Entries.Values.Where(e => e.Type == UnixFileType.RegularFile).Sum(e => e.Size)} bytes in files");
        }

        var failures = new List<string>();
        for (int i = 0; i < images.Count; i++)
        {
            if (!result.Mounted(i))
            {
                failures.Add($"disk {i} ({(i < runs.Length ? runs[i].Context : i == v4Disk ? "version 4" : "node directory")}): the kernel did not mount it read-only");
            }
        }

        // The kernel must not complain about any disk (corruption, I/O errors, a failed per-AG reservation).
        foreach (string line in result.Lines("K|"))
        {
            if (line.Contains("XFS", StringComparison.Ordinal) && KernelComplaint.IsMatch(line))
            {
                failures.Add("kernel: " + line);
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + QemuBoot.Tail(result.Output));
        foreach (Run run in runs)
        {
            int disk = Array.IndexOf(runs, run);
            var problems = new List<string>();
            RandomTreeSnapshot viaGuest = XfsWriteRandomTests.WithoutSgiAclNames(XfsKernelBootQemu.ParseTree(result, disk, problems));
            problems.AddRange(RandomTreeSnapshot.Compare(run.Expected, viaGuest, run.Options(xattrs)));
            output.WriteLine($"{run.Context}: {viaGuest.Entries.Count} entries seen by the booted kernel, {problems.Count} differences");
            if (problems.Count > 0)
            {
                failures.Add($"{run.Context}: the booted kernel sees a different tree:\n  {string.Join("\n  ", problems)}\n{run.Log}");
            }
        }

        var v4Problems = new List<string>();
        RandomTreeSnapshot v4Guest = XfsKernelBootQemu.ParseTree(result, v4Disk, v4Problems);
        v4Problems.AddRange(RandomTreeSnapshot.Compare(v4Expected!, v4Guest, new RandomTreeCompareOptions { Xattrs = xattrs }));
        if (v4Problems.Count > 0)
        {
            failures.Add($"version 4: the booted kernel and our reader differ:\n  {string.Join("\n  ", v4Problems)}");
        }

        failures.AddRange(CheckNodeDirectory(result, nodeDisk));
        Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + result.KernelMessages);

        List<string> hostFailures = await host;
        Assert.True(hostFailures.Count == 0, string.Join("\n", hostFailures));
        output.WriteLine(Ext4KernelMount.UnavailableReason is { } why ? "host loop mounts skipped: " + why : $"host loop mounts agree: {total.ElapsedMilliseconds} ms");
    }

    [Fact]
    public void ParseTime_BusyboxSecondsAndFraction_FlooredSecondsPlusNanoseconds()
    {
        Assert.Equal(new UnixTime(-2, 750_000_000), XfsKernelBootQemu.ParseTime("-2", "1969-12-31 23:59:58.750000000 +0000"));
        Assert.Equal(new UnixTime(5_000_000_000, 500_000_000), XfsKernelBootQemu.ParseTime("5000000000", "2128-06-11 08:53:20.500000000 +0000"));
        Assert.Equal(new UnixTime(7, 0), XfsKernelBootQemu.ParseTime("7", "1970-01-01 00:00:07.000000000 +0000"));
    }

    [Fact]
    public void ParseXattrs_GetfattrHexDumpWithOctalEscapes_AssignsValuesByPath()
    {
        var snap = new RandomTreeSnapshot();
        snap.Entries["/"] = new RandomTreeSnapshot.Entry { Path = "/" };
        snap.Entries["/with space \u00fc"] = new RandomTreeSnapshot.Entry { Path = "/with space \u00fc" };
        snap.Entries["/d/a\\b"] = new RandomTreeSnapshot.Entry { Path = "/d/a\\b" };
        var problems = new List<string>();
        XfsKernelBootQemu.ParseXattrs(
            ["# file: .", "trusted.x=0xff", string.Empty, "# file: with space \\303\\274", "user.a=0x0102", "user.empty=0x", string.Empty,
             "# file: d/a\\\\b", "security.selinux=0x733000", "getfattr: ./gone: No such file or directory"],
            snap,
            problems);
        Assert.Equal([0xFF], snap.Entries["/"].Xattrs["trusted.x"]);
        Assert.Equal([1, 2], snap.Entries["/with space \u00fc"].Xattrs["user.a"]);
        Assert.Empty(snap.Entries["/with space \u00fc"].Xattrs["user.empty"]);
        Assert.Equal("s0\0"u8.ToArray(), snap.Entries["/d/a\\b"].Xattrs["security.selinux"]);
        Assert.Equal(["getfattr: getfattr: ./gone: No such file or directory"], problems);
    }

    /// <summary>Where root and loop devices exist: each random result mounted read-only on the host equals its model.</summary>
    private static List<string> HostLoopMounts(Run[] runs, TempDirectory temp)
    {
        var failures = new List<string>();
        if (Ext4KernelMount.UnavailableReason is not null)
        {
            return failures;
        }

        foreach (Run run in runs)
        {
            RandomTreeSnapshot viaHost = XfsWriteRandomTests.WithoutSgiAclNames(XfsTestImages.KernelSnapshot(run.Image, temp.File("mnt-" + run.Seed.ToString(CultureInfo.InvariantCulture))));
            List<string> diffs = RandomTreeSnapshot.Compare(run.Expected, viaHost, run.Options(xattrs: true));
            if (diffs.Count > 0)
            {
                failures.Add($"{run.Context}: the host kernel's loop mount sees a different tree:\n  {string.Join("\n  ", diffs)}\n{run.Log}");
            }
        }

        return failures;
    }

    /// <summary>One kind's seeded sequence applied to a fresh copy of its template; xfs_repair -n and our reader checked.</summary>
    private static Run Execute(XfsRandomImageKind kind, TempDirectory temp)
    {
        int seed = kind.SeedBase + SeedOffset;
        string image = temp.File("random-" + seed.ToString(CultureInfo.InvariantCulture) + ".img");
        kind.CopyTemplate(image);
        var model = new InMemoryFileSystem();
        var runner = new RandomOperationRunner(seed, model, kind.GeneratorOptions);
        string context = $"{kind.Name}, seed {seed}";
        UnixTime start = UnixTime.Now;
        try
        {
            using FileBlockDevice device = FileBlockDevice.Open(image, writable: true);
            using XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true });
            RandomOperationRunner.Mirror(fs, model);
            runner.Run(fs);
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            Assert.Fail($"{context}: {e}\n{runner.Describe()}");
        }

        UnixTime end = UnixTime.Now;
        ToolResult repair = Oracle.Run("xfs_repair", ["-n", "-f", image], TimeSpan.FromMinutes(5));
        Assert.True(repair.ExitCode == 0, $"{context}: xfs_repair -n: {repair}\n{runner.Describe()}");
        var run = new Run
        {
            Image = image,
            Seed = seed,
            Context = context,
            Expected = RandomTreeSnapshot.FromFileSystem(model),
            Window = (new UnixTime(start.Seconds - 2, 0), new UnixTime(end.Seconds + 2, 0)),
            Log = runner.Describe(),
        };
        using (XfsFileSystem back = XfsTestImages.Open(image))
        {
            List<string> diffs = RandomTreeSnapshot.Compare(run.Expected, XfsWriteRandomTests.WithoutSgiAclNames(RandomTreeSnapshot.FromFileSystem(back)), new RandomTreeCompareOptions { NowWindow = run.Window });
            Assert.True(diffs.Count == 0, $"{context}: our reader differs from the model:\n{string.Join('\n', diffs)}\n{run.Log}");
        }

        return run;
    }

    /// <summary>
    /// A version 4 image (<c>-m crc=0</c>) filled by mkfs.xfs from a protofile; opening it for writing is refused.
    /// Returns our reader's view of it, which the booted kernel must share (Linux 6.1 still mounts V4).
    /// </summary>
    private static RandomTreeSnapshot MakeV4(TempDirectory temp, string image)
    {
        string proto = XfsProtofileTests.WriteProtofile(temp, new Dictionary<string, XfsProtofileTests.Expected>(StringComparer.Ordinal), new Random(4), remoteSymlink: true);
        using (var f = new FileStream(image, FileMode.Create))
        {
            f.SetLength(XfsTestImages.ImageSize);
        }

        Oracle.RunOk("mkfs.xfs", "-f", "-q", "-m", "crc=0", "-p", proto, image);
        XfsFormatTests.AssertRepairClean(image);
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        {
            NotSupportedException e = Assert.Throws<NotSupportedException>(() => XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true }).Dispose());
            Assert.Contains("version 4", e.Message, StringComparison.Ordinal);
        }

        using XfsFileSystem fs = XfsTestImages.Open(image);
        Assert.Equal(4, fs.Version);
        return RandomTreeSnapshot.FromFileSystem(fs);
    }

    /// <summary>
    /// An image whose /big holds 50,000 empty files (node form), made by <c>mkfs.xfs -p</c> from a protofile (cheaper
    /// than our Build), then one file injected by a writable open; xfs_repair -n must pass it.
    /// </summary>
    private static void MakeNodeDirectory(TempDirectory temp, string image)
    {
        string empty = temp.File("node-empty");
        File.WriteAllBytes(empty, []);
        var proto = new StringBuilder("/dev/null\n0 0\nd--755 0 0\nbig d--755 0 0\n");
        for (int i = 0; i < NodeEntries; i++)
        {
            proto.Append(CultureInfo.InvariantCulture, $"{NodeName(i)} ---644 0 0 {empty}\n");
        }

        proto.Append("$\n$\n");
        string protofile = temp.File("node.proto");
        File.WriteAllText(protofile, proto.ToString());
        using (var f = new FileStream(image, FileMode.Create))
        {
            f.SetLength(XfsTestImages.ImageSize);
        }

        Oracle.RunOk("mkfs.xfs", "-f", "-q", "-p", protofile, image);
        using (XfsFileSystem fs = XfsTestImages.Open(image))
        {
            Assert.True(fs.GetEntry("/big").Size > 1 << 20); // node form: blocks past the leaf offset
        }

        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image, writable: true), new XfsOpenOptions { Writable = true }))
        {
            using Stream s = fs.OpenFile("/big/injected", FileMode.CreateNew, FileAccess.Write);
            s.Write(Injected);
        }

        XfsFormatTests.AssertRepairClean(image);
    }

    private static List<string> NodeNames()
    {
        var names = new List<string>(NodeEntries + 1) { "injected" };
        for (int i = 0; i < NodeEntries; i++)
        {
            names.Add(NodeName(i));
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    private static string NodeName(int i) => $"entry-{i:D6}-{new string('n', 20)}";

    /// <summary>Counts and hashes the sorted listing of /big, reads the injected file and looks up the first and last name.</summary>
    private static string NodeScript(int disk) =>
        $"echo \"T|node|$(cat /proc/uptime)\" >> /out\n" +
        $"ls /mnt/{disk}/big > /tmp/big\n" +
        $"wc -l < /tmp/big | sed 's/^ */C|{disk}|/' >> /out\n" +
        $"sha256sum /tmp/big | sed 's/^\\([0-9a-f]*\\).*/S|{disk}|\\1/' >> /out\n" +
        $"sha256sum /mnt/{disk}/big/injected | sed 's/^\\([0-9a-f]*\\).*/J|{disk}|\\1/' >> /out\n" +
        $"stat -c 'N|{disk}|%F|%s|%n' /mnt/{disk}/big/{NodeName(0)} /mnt/{disk}/big/{NodeName(NodeEntries - 1)} >> /out\n";

    private static List<string> CheckNodeDirectory(XfsKernelBootQemu.Result result, int disk)
    {
        List<string> names = NodeNames();
        string listing = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Concat(names.Select(n => n + "\n"))))).ToLowerInvariant();
        string injected = Convert.ToHexString(SHA256.HashData(Injected)).ToLowerInvariant();
        var failures = new List<string>();
        void Expect(string what, string want, List<string> got)
        {
            if (got.Count != 1 || got[0].Trim() != want)
            {
                failures.Add($"node directory: {what} is [{string.Join("; ", got)}], expected {want}");
            }
        }

        Expect("the number of names in /big", names.Count.ToString(CultureInfo.InvariantCulture), result.Lines($"C|{disk}|"));
        Expect("the sha256 of the sorted listing", listing, result.Lines($"S|{disk}|"));
        Expect("the sha256 of /big/injected", injected, result.Lines($"J|{disk}|"));
        List<string> lookups = result.Lines($"N|{disk}|");
        if (lookups.Count != 2 || !lookups.All(l => l.StartsWith("regular empty file|0|", StringComparison.Ordinal)))
        {
            failures.Add($"node directory: looking up the first and last name gave [{string.Join("; ", lookups)}]");
        }

        return failures;
    }

    /// <summary>A written image and what the kernel must see in it.</summary>
    private sealed class Run
    {
        public required string Image { get; init; }

        public required int Seed { get; init; }

        public required string Context { get; init; }

        public required RandomTreeSnapshot Expected { get; init; }

        public required (UnixTime Start, UnixTime End) Window { get; init; }

        public required string Log { get; init; }

        public RandomTreeCompareOptions Options(bool xattrs) => new()
        {
            NowWindow = Window,
            Xattrs = xattrs,
            IgnoreUserXattrsOnSpecialFiles = true,
        };
    }
}
