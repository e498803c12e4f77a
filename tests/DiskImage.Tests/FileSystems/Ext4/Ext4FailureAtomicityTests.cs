using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;
using DiskImage.Tests.Infrastructure;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Failure atomicity (issue 15, acceptance 2): seeded operation sequences on ext4 with an <see cref="IOException"/>
/// injected at the k-th device write or flush (every k of the sequence), and sequences that fill the device. After
/// dispose, <c>e2fsck -fn</c> passes and the tree debugfs reads equals the model up to the failed call: each
/// <see cref="IFileSystem"/> call (and each stream write) is all or nothing, so the failed operation is absent or
/// present up to a call boundary, and the operations before it are all there.
/// </summary>
public sealed class Ext4FailureAtomicityTests : IDisposable
{
    private static readonly RandomTreeCompareOptions Compare = new() { Nanoseconds = false, ModificationTimes = false };
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [SkippableTheory]
    [InlineData("journaled", 1, new string[0])]
    [InlineData("journaled-4k", 2, new[] { "-b", "4096" })]
    [InlineData("journal-less", 3, new[] { "-O", "^has_journal" })]
    [InlineData("no-csum", 4, new[] { "-O", "^has_journal,^metadata_csum,^64bit" })]
    public void IOExceptionAtEveryWrite_FsckCleanAndTreeIsModelPrefix(string name, int seed, string[] mkfsOptions)
    {
        byte[] baseImage = Mkfs(name, mkfsOptions, "8M");
        List<Op> ops = Sequence(seed);
        var dry = new OneShotFaultBlockDevice(new MemoryBlockDevice((byte[])baseImage.Clone()));
        Run(dry, ops, out _);
        long total = dry.OperationCount;
        Assert.True(total > 10, $"only {total} device operations");
        for (long k = 0; k < total; k++)
        {
            var device = new OneShotFaultBlockDevice(new MemoryBlockDevice((byte[])baseImage.Clone()), k);
            int failedOp = Run(device, ops, out Exception? error);
            Assert.True(device.HasFailed, $"{name}: write {k} of {total} was not attempted");
            Judge(((MemoryBlockDevice)device.Inner).Data.ToArray(), baseImage, ops, failedOp, $"{name} seed {seed}: failure at device operation {k} of {total} (operation {failedOp}: {error?.Message})");
        }
    }

    [SkippableTheory]
    [InlineData("full-journaled", 5, new string[0], "4M")]
    [InlineData("full-journal-less", 6, new[] { "-O", "^has_journal" }, "2M")]
    public void DeviceFull_FsckCleanAndTreeIsModelPrefix(string name, int seed, string[] mkfsOptions, string size)
    {
        byte[] baseImage = Mkfs(name, mkfsOptions, size);
        var random = new Random(seed);
        var ops = new List<Op> { new("mkdir /d", [(fs, _) => fs.CreateDirectory("/d")]) };
        for (int i = 0; i < 40; i++)
        {
            ops.Add(CreateFile($"/d/f{i}", random.Next(50_000, 400_000), random.Next()));
            if (i % 3 == 2)
            {
                string victim = $"/d/f{i - 1}";
                ops.Add(new Op("delete " + victim, [(fs, _) => fs.Delete(victim)]));
            }
        }

        var device = new OneShotFaultBlockDevice(new MemoryBlockDevice((byte[])baseImage.Clone()));
        int failedOp = Run(device, ops, out Exception? error);
        Assert.True(failedOp >= 0 && error is IOException, $"{name}: the device never filled up");
        Assert.Contains("No space", error!.Message, StringComparison.Ordinal);
        Judge(((MemoryBlockDevice)device.Inner).Data.ToArray(), baseImage, ops, failedOp, $"{name}: out of space in operation {failedOp}");
    }

    /// <summary>Applies the operations until one throws; returns its index (or -1) after disposing the file system.</summary>
    private static int Run(BlockDevice device, List<Op> ops, out Exception? error)
    {
        error = null;
        int failed = -1;
        Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true, Clock = () => new UnixTime(1_700_000_000, 0) }, leaveOpen: true);
        var context = new OpContext();
        for (int i = 0; i < ops.Count && failed < 0; i++)
        {
            foreach (Action<IFileSystem, OpContext> step in ops[i].Steps)
            {
                try
                {
                    step(fs, context);
                }
                catch (IOException e)
                {
                    error = e;
                    failed = i;
                    break;
                }
            }
        }

        try
        {
            context.Stream?.Dispose();
            fs.Dispose();
        }
        catch (IOException e) when (failed < 0)
        {
            // The fault hit the final commit, and its retry failed too: reported like a failed last operation.
            error = e;
            failed = ops.Count;
        }

        return failed;
    }

    private void Judge(byte[] image, byte[] baseImage, List<Op> ops, int failedOp, string what)
    {
        string path = _temp.File("judged");
        File.WriteAllBytes(path, image);
        ToolResult fsck = Oracle.Run("e2fsck", "-fn", path);
        Assert.True(fsck.ExitCode == 0, $"{what}: {fsck}");

        // The states the model may be in: every operation before the failed one complete, the failed one up to any call.
        using var model = new InMemoryFileSystem();
        using (var pristine = new MemoryBlockDevice((byte[])baseImage.Clone()))
        using (Ext4FileSystem start = Ext4FileSystem.Open(pristine))
        {
            RandomOperationRunner.Mirror(start, model);
        }

        var context = new OpContext();
        int upTo = failedOp < 0 ? ops.Count : Math.Min(failedOp, ops.Count);
        for (int i = 0; i < upTo; i++)
        {
            foreach (Action<IFileSystem, OpContext> step in ops[i].Steps)
            {
                step(model, context);
            }
        }

        var candidates = new List<RandomTreeSnapshot> { Snapshot(model, context) };
        if (failedOp >= 0 && failedOp < ops.Count)
        {
            foreach (Action<IFileSystem, OpContext> step in ops[failedOp].Steps)
            {
                step(model, context);
                candidates.Add(Snapshot(model, context));
            }
        }

        context.Stream?.Dispose();
        RandomTreeSnapshot actual = DebugfsTree.Read(path, _temp.Path);
        List<string>? best = null;
        foreach (RandomTreeSnapshot candidate in candidates)
        {
            List<string> diffs = RandomTreeSnapshot.Compare(candidate, actual, Compare);
            if (diffs.Count == 0)
            {
                return;
            }

            best = best is null || diffs.Count < best.Count ? diffs : best;
        }

        string failedName = failedOp >= 0 && failedOp < ops.Count ? ops[failedOp].Name : "none";
        Assert.Fail($"{what}: debugfs sees no model state (failed operation: {failedName}):\n  {string.Join("\n  ", best!)}");
    }

    /// <summary>The model's tree as it would be after the open stream (if any) is closed.</summary>
    private static RandomTreeSnapshot Snapshot(InMemoryFileSystem model, OpContext context)
    {
        context.Stream?.Flush();
        return RandomTreeSnapshot.FromFileSystem(model);
    }

    /// <summary>A short sequence touching every kind of metadata: directories, files, xattrs, links, renames, deletes.</summary>
    private static List<Op> Sequence(int seed)
    {
        var random = new Random(seed);
        byte[] Bytes(int n)
        {
            byte[] b = new byte[n];
            random.NextBytes(b);
            return b;
        }

        byte[] xattr = Bytes(random.Next(100, 600));
        byte[] appended = Bytes(random.Next(1, 9000));
        return
        [
            new("mkdir /a", [(fs, _) => fs.CreateDirectory("/a")]),
            CreateFile("/a/f1", random.Next(1, 30_000), random.Next()),
            CreateFile("/b", random.Next(5000, 60_000), random.Next()),
            new("setxattr /a/f1", [(fs, _) => fs.SetXattr("/a/f1", "user.x", xattr)]),
            new("mkdir /a/sub", [(fs, _) => fs.CreateDirectory("/a/sub")]),
            new("symlink /a/sub/l", [(fs, _) => fs.CreateSymbolicLink("/a/sub/l", "/" + new string('t', 90))]),
            new("link /h", [(fs, _) => fs.CreateHardLink("/h", "/b")]),
            new("rename /a/f1", [(fs, _) => fs.Rename("/a/f1", "/a/sub/f1")]),
            new("truncate /b",
            [
                (fs, c) => c.Stream = fs.OpenFile("/b", FileMode.Open, FileAccess.Write),
                (fs, c) => c.Stream!.SetLength(1000),
                (fs, c) => c.Close(),
            ]),
            new("append /a/sub/f1",
            [
                (fs, c) => c.Stream = fs.OpenFile("/a/sub/f1", FileMode.Append, FileAccess.Write),
                (fs, c) => c.Stream!.Write(appended),
                (fs, c) => c.Close(),
            ]),
            new("chmod /a", [(fs, _) => fs.SetMode("/a", (UnixFileMode)0x1C0)]),
            new("delete /h", [(fs, _) => fs.Delete("/h")]),
            new("delete /b", [(fs, _) => fs.Delete("/b")]),
            new("rename /a/sub", [(fs, _) => fs.Rename("/a/sub", "/s")]),
            new("removexattr", [(fs, _) => fs.RemoveXattr("/s/f1", "user.x")]),
        ];
    }

    private static Op CreateFile(string path, int length, int dataSeed)
    {
        byte[] data = new byte[length];
        new Random(dataSeed).NextBytes(data);
        return new Op($"create {path} ({length} bytes)",
        [
            (fs, c) => c.Stream = fs.OpenFile(path, FileMode.CreateNew, FileAccess.Write),
            (fs, c) => c.Stream!.Write(data),
            (fs, c) => c.Close(),
        ]);
    }

    private byte[] Mkfs(string name, string[] options, string size)
    {
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        string formatted = _temp.File(name + ".base");
        Oracle.RunOk("mke2fs", ["-q", "-F", "-t", "ext4", "-b", "1024", .. options, formatted, size]);
        return File.ReadAllBytes(formatted);
    }

    /// <summary>One operation: the <see cref="IFileSystem"/> calls it makes, in order.</summary>
    private sealed record Op(string Name, Action<IFileSystem, OpContext>[] Steps);

    /// <summary>The stream an operation holds open between its calls.</summary>
    private sealed class OpContext
    {
        public Stream? Stream { get; set; }

        public void Close()
        {
            Stream?.Dispose();
            Stream = null;
        }
    }
}
