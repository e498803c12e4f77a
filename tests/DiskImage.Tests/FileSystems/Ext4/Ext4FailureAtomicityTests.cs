using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
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
        List<FailureOp> ops = FailureSequences.Mixed(seed);
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
        var ops = new List<FailureOp> { new("mkdir /d", [(fs, _) => fs.CreateDirectory("/d")]) };
        for (int i = 0; i < 40; i++)
        {
            ops.Add(FailureSequences.CreateFile($"/d/f{i}", random.Next(50_000, 400_000), random.Next()));
            if (i % 3 == 2)
            {
                string victim = $"/d/f{i - 1}";
                ops.Add(new FailureOp("delete " + victim, [(fs, _) => fs.Delete(victim)]));
            }
        }

        var device = new OneShotFaultBlockDevice(new MemoryBlockDevice((byte[])baseImage.Clone()));
        int failedOp = Run(device, ops, out Exception? error);
        Assert.True(failedOp >= 0 && error is IOException, $"{name}: the device never filled up");
        Assert.Contains("No space", error!.Message, StringComparison.Ordinal);
        Judge(((MemoryBlockDevice)device.Inner).Data.ToArray(), baseImage, ops, failedOp, $"{name}: out of space in operation {failedOp}");
    }

    /// <summary>Applies the operations until one throws; returns its index (or -1) after disposing the file system.</summary>
    private static int Run(BlockDevice device, List<FailureOp> ops, out Exception? error)
    {
        Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true, Clock = () => new UnixTime(1_700_000_000, 0) }, leaveOpen: true);
        var context = new FailureOpContext();
        int failed = FailureSequences.ApplyUntilFailure(fs, ops, context, out error);

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

    private void Judge(byte[] image, byte[] baseImage, List<FailureOp> ops, int failedOp, string what)
    {
        string path = _temp.File("judged");
        File.WriteAllBytes(path, image);
        ToolResult fsck = Oracle.Run("e2fsck", "-fn", path);
        Assert.True(fsck.ExitCode == 0, $"{what}: {fsck}");

        List<RandomTreeSnapshot> candidates;
        using (var pristine = new MemoryBlockDevice((byte[])baseImage.Clone()))
        using (Ext4FileSystem start = Ext4FileSystem.Open(pristine))
        {
            candidates = FailureSequences.Candidates(start, ops, failedOp);
        }

        RandomTreeSnapshot actual = DebugfsTree.Read(path, _temp.Path);
        string failedName = failedOp >= 0 && failedOp < ops.Count ? ops[failedOp].Name : "none";
        FailureSequences.AssertMatchesOne(candidates, actual, Compare, $"{what} (debugfs; failed operation: {failedName})");
    }

    private byte[] Mkfs(string name, string[] options, string size)
    {
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        string formatted = _temp.File(name + ".base");
        Oracle.RunOk("mke2fs", ["-q", "-F", "-t", "ext4", "-b", "1024", .. options, formatted, size]);
        return File.ReadAllBytes(formatted);
    }
}
