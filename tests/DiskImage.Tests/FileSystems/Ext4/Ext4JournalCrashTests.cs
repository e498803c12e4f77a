using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;
using DiskImage.Tests.Infrastructure;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Crash safety (issue 9, acceptance 2): a copy-in of a small tree followed by changes, cut after every host write
/// (sampled for the long sequence, every cut for a short one), on journaled and journal-less images. After each cut,
/// <c>e2fsck -fy</c> (which replays the journal) leaves a file system <c>e2fsck -fn</c> passes; on a journaled image
/// our own replay (opening it writable) does too, without e2fsck's help; no cut leaves a file system that claims to be
/// clean (clean state, no needs_recovery) while e2fsck finds errors; and the kernel mounts a sample of the cut images
/// (replaying their journal itself).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class Ext4JournalCrashTests : IDisposable
{
    private const int MaxCuts = 36;
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [SkippableTheory]
    [InlineData("journaled", new string[0])]
    [InlineData("journaled-no-csum", new[] { "-O", "^metadata_csum,^64bit" })]
    [InlineData("journal-less", new[] { "-O", "^has_journal" })]
    public void CopyIn_CutAfterWrites_FsckCleanAfterReplay(string name, string[] mkfsOptions)
    {
        byte[] baseImage = Mkfs(name, mkfsOptions);
        InMemoryFileSystem tree = MakeTree();
        long operations = DryRun(baseImage, d => LongSequence(d, tree), name);
        foreach (long cut in CutPoints(operations))
        {
            CheckCut(baseImage, cut, operations, d => LongSequence(d, tree), name);
        }
    }

    [SkippableTheory]
    [InlineData("short-journaled", new string[0])]
    [InlineData("short-journal-less", new[] { "-O", "^has_journal" })]
    public void ShortSequence_CutAfterEveryWrite_FsckCleanAfterReplay(string name, string[] mkfsOptions)
    {
        byte[] baseImage = Mkfs(name, mkfsOptions);
        long operations = DryRun(baseImage, ShortSequence, name);
        for (long cut = 0; cut < operations; cut++)
        {
            CheckCut(baseImage, cut, operations, ShortSequence, name);
        }
    }

    [SkippableFact]
    [Trait("Category", "KernelMount")]
    public void CutImages_KernelReplaysAndMounts()
    {
        Ext4KernelMount.Require();
        byte[] baseImage = Mkfs("kernel", []);
        InMemoryFileSystem tree = MakeTree();
        long operations = DryRun(baseImage, d => LongSequence(d, tree), "kernel");
        int needingRecovery = 0;
        foreach (long cut in new[] { operations / 3, operations / 2, (operations * 3 / 4) + 1, operations - 4 })
        {
            byte[] bytes = Cut(baseImage, cut, d => LongSequence(d, tree));
            string image = Save(bytes, $"kernel.cut{cut}");
            if (Features(image).Contains("needs_recovery", StringComparison.Ordinal))
            {
                needingRecovery++;
            }

            // The kernel replays the journal at mount (a read-write loop mount, as a read-only loop device refuses the replay).
            using (Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(image, _temp.File($"mnt{cut}"), options: "loop"))
            {
                Assert.True(Ext4KernelMount.Snapshot(m.MountPoint).Entries.ContainsKey("/"), $"cut {cut}: nothing visible");
            }

            ToolResult fsck = Oracle.Run("e2fsck", "-fn", image);
            Assert.True(fsck.ExitCode == 0, $"cut {cut} of {operations}, after the kernel's replay: {fsck}");
        }

        Assert.True(needingRecovery > 0, "no sampled cut left a transaction for the kernel to replay");
    }

    private void CheckCut(byte[] baseImage, long cut, long operations, Action<BlockDevice> sequence, string name)
    {
        string what = $"{name}: cut after {cut} of {operations} writes";
        byte[] bytes = Cut(baseImage, cut, sequence);
        string image = Save(bytes, $"{name}.cut{cut}");
        bool needsRecovery = Features(image).Contains("needs_recovery", StringComparison.Ordinal);
        if (State(image) == "clean" && !needsRecovery)
        {
            ToolResult clean = Oracle.Run("e2fsck", "-fn", image);
            Assert.True(clean.ExitCode == 0, $"{what} claims to be clean: {clean}");
        }

        bool journaled = !name.Contains("journal-less", StringComparison.Ordinal);
        if (journaled)
        {
            // Our replay, on its own, must leave a consistent file system.
            Assert.NotEqual("not clean", State(image));
            string ours = Save(bytes, $"{name}.cut{cut}.ours");
            using (var device = new FileBlockDeviceHolder(ours))
            {
                Ext4FileSystem.Open(device.Device, new Ext4OpenOptions { Writable = true }, leaveOpen: true).Dispose();
            }

            ToolResult afterOurs = Oracle.Run("e2fsck", "-fn", ours);
            Assert.True(afterOurs.ExitCode == 0, $"{what} (needs_recovery {needsRecovery}), after our replay: {afterOurs}");
            File.Delete(ours);
        }

        ToolResult fix = Oracle.Run("e2fsck", "-fy", image);
        Assert.True(fix.ExitCode is 0 or 1, $"{what}: e2fsck -fy {fix}");
        ToolResult check = Oracle.Run("e2fsck", "-fn", image);
        Assert.True(check.ExitCode == 0, $"{what}, after e2fsck -fy: {check}");
        File.Delete(image);
    }

    private long DryRun(byte[] baseImage, Action<BlockDevice> sequence, string name)
    {
        var dry = new FaultInjectingBlockDevice(new MemoryBlockDevice((byte[])baseImage.Clone()));
        sequence(dry);
        string finished = Save(((MemoryBlockDevice)dry.Inner).Data.ToArray(), name + ".done");
        Assert.Equal("clean", State(finished));
        Assert.DoesNotContain("needs_recovery", Features(finished), StringComparison.Ordinal);
        ToolResult r = Oracle.Run("e2fsck", "-fn", finished);
        Assert.True(r.ExitCode == 0, $"{name}, uncut: {r}");
        Assert.True(dry.OperationCount > 10, $"only {dry.OperationCount} operations");
        return dry.OperationCount;
    }

    private static byte[] Cut(byte[] baseImage, long cut, Action<BlockDevice> sequence)
    {
        var device = new FaultInjectingBlockDevice(new MemoryBlockDevice((byte[])baseImage.Clone()), failAfter: cut);
        try
        {
            sequence(device);
        }
        catch (IOException) when (device.HasFailed)
        {
        }

        Assert.True(device.HasFailed, $"cut {cut} did not fail");
        return ((MemoryBlockDevice)device.Inner).Data.ToArray();
    }

    private static IEnumerable<long> CutPoints(long operations)
    {
        if (operations <= MaxCuts)
        {
            for (long i = 0; i < operations; i++)
            {
                yield return i;
            }

            yield break;
        }

        var cuts = new SortedSet<long> { 0, 1, 2, operations - 3, operations - 2, operations - 1 };
        for (int i = 0; i <= MaxCuts - 6; i++)
        {
            cuts.Add(Math.Min(operations - 1, (operations * i / (MaxCuts - 6)) + (i % 3)));
        }

        foreach (long c in cuts)
        {
            yield return c;
        }
    }

    /// <summary>A copy-in of a small tree, a flush (one commit), then changes (overwrite, delete, rename, symlink, xattr), then dispose.</summary>
    private static void LongSequence(BlockDevice device, InMemoryFileSystem tree)
    {
        var clock = new UnixTime(1_700_000_000, 0);
        using Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true, Clock = () => clock }, leaveOpen: true);
        FileSystemCopy.Copy(tree, "/", fs, "/");
        fs.Flush();
        using (Stream s = fs.OpenFile("/d0/f1", FileMode.Open, FileAccess.Write))
        {
            s.Seek(0, SeekOrigin.End);
            s.Write(new byte[5000]);
        }

        fs.Delete("/d1/f0");
        fs.Rename("/d2", "/d0/moved");
        fs.CreateSymbolicLink("/link", "d0/f1");
        fs.SetXattr("/d0/moved", "user.note", new byte[300]);
    }

    /// <summary>A few small operations, each flushed: every commit's cut points in a short run.</summary>
    private static void ShortSequence(BlockDevice device)
    {
        var clock = new UnixTime(1_700_000_000, 0);
        using Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true, Clock = () => clock }, leaveOpen: true);
        fs.CreateDirectory("/a");
        using (Stream s = fs.OpenFile("/a/f", FileMode.CreateNew, FileAccess.Write))
        {
            s.Write(new byte[3000]);
        }

        fs.Flush();
        fs.Rename("/a/f", "/g");
        fs.Delete("/a");
        fs.Flush();
        fs.SetMode("/g", (UnixFileMode)0x180);
    }

    private static InMemoryFileSystem MakeTree()
    {
        var tree = new InMemoryFileSystem();
        var random = new Random(17);
        for (int d = 0; d < 3; d++)
        {
            tree.CreateDirectory($"/d{d}");
            for (int f = 0; f < 4; f++)
            {
                byte[] data = new byte[random.Next(0, 40_000)];
                random.NextBytes(data);
                using Stream s = tree.OpenFile($"/d{d}/f{f}", FileMode.CreateNew, FileAccess.Write);
                s.Write(data);
            }
        }

        tree.CreateHardLink("/d0/hard", "/d1/f1");
        return tree;
    }

    private byte[] Mkfs(string name, string[] options)
    {
        Oracle.Require("e2fsck");
        Oracle.Require("dumpe2fs");
        string formatted = _temp.File(name + ".base");
        Oracle.RunOk("mke2fs", ["-q", "-F", "-t", "ext4", "-b", "1024", .. options, formatted, "8M"]);
        return File.ReadAllBytes(formatted);
    }

    private string Save(byte[] bytes, string name)
    {
        string path = _temp.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static string State(string image) => Header(image, "Filesystem state:");

    private static string Features(string image) => Header(image, "Filesystem features:");

    private static string Header(string image, string key)
    {
        foreach (string line in Oracle.RunOk("dumpe2fs", "-h", image).StandardOutput.Split('\n'))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                return line[key.Length..].Trim();
            }
        }

        throw new InvalidOperationException($"dumpe2fs printed no '{key}'.");
    }

    /// <summary>A writable file device over an image path, disposed with the holder.</summary>
    private sealed class FileBlockDeviceHolder(string path) : IDisposable
    {
        public BlockDevice Device { get; } = FileBlockDevice.Open(path, writable: true);

        public void Dispose() => Device.Dispose();
    }
}
