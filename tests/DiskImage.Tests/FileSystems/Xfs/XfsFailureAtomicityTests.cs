using System.Buffers.Binary;
using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.Infrastructure;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// Failure atomicity of the XFS write-back (issue 15 acceptance 2, issue 10): seeded operation sequences (shared with
/// ext4, <see cref="FailureSequences"/>) grouped into batches that each end in <see cref="XfsFileSystem.Flush"/>, with an
/// <see cref="IOException"/> injected at the k-th device write or flush (every k of short sequences, seeded random k of
/// more), and sequences that fill the file system. After dispose, <c>xfs_repair -n</c> passes and the tree equals the
/// model with every batch before the failed one and the failed one either wholly there or wholly absent (a failed
/// flush puts the device back and keeps the changes pending; Dispose writes them). Also: a device that stays broken,
/// or a process killed mid-copy, leaves a file system marked needsrepair (or the old or new one intact).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class XfsFailureAtomicityTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private const long Size = 48L << 20;
    private const int IncompatibleOffset = 0xD8;
    private static readonly RandomTreeCompareOptions Compare = new() { Nanoseconds = false, ModificationTimes = false };
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [SkippableTheory]
    [InlineData(XfsFormatProfile.Debian12, 1, 4)]
    [InlineData(XfsFormatProfile.Rhel7, 2, 5)]
    public void IOExceptionAtEveryWrite_RepairCleanAndTreeIsModelPrefix(XfsFormatProfile profile, int seed, int batch)
    {
        byte[] baseImage = Format(profile);
        List<FailureOp> ops = Batches(FailureSequences.Mixed(seed), batch);
        long total = DryRun(baseImage, ops);
        for (long k = 0; k < total; k++)
        {
            InjectAt(baseImage, ops, k, total, $"{profile} seed {seed}");
        }
    }

    [SkippableTheory]
    [InlineData(XfsFormatProfile.Debian12, 3)]
    [InlineData(XfsFormatProfile.Rhel8, 4)]
    [InlineData(XfsFormatProfile.Debian12, 5)]
    public void IOExceptionAtRandomWrites_RepairCleanAndTreeIsModelPrefix(XfsFormatProfile profile, int seed)
    {
        byte[] baseImage = Format(profile);
        List<FailureOp> ops = Batches(FailureSequences.Mixed(seed), 1);
        long total = DryRun(baseImage, ops);
        var random = new Random(seed);
        for (int i = 0; i < 8; i++)
        {
            InjectAt(baseImage, ops, random.NextInt64(total), total, $"{profile} seed {seed} (random k, sample {i})");
        }
    }

    [SkippableTheory]
    [InlineData(XfsFormatProfile.Debian12, 6)]
    [InlineData(XfsFormatProfile.Rhel7, 7)]
    public void DeviceFull_FlushRefusesWithNoSpace_RepairCleanAndTreeIsModelPrefix(XfsFormatProfile profile, int seed)
    {
        byte[] baseImage = Format(profile);
        var random = new Random(seed);
        var ops = new List<FailureOp> { new("mkdir /d", [(fs, _) => fs.CreateDirectory("/d")]) };
        for (int i = 0; i < 40; i++)
        {
            ops.Add(FailureSequences.CreateFile($"/d/f{i}", random.Next(3_000_000, 8_000_000), random.Next()));
            if (i % 3 == 2)
            {
                string victim = $"/d/f{i - 1}";
                ops.Add(new FailureOp("delete " + victim, [(fs, _) => fs.Delete(victim)]));
            }
        }

        ops = Batches(ops, 2);
        var device = new OneShotFaultBlockDevice(new MemoryBlockDevice((byte[])baseImage.Clone()));
        int failedOp = Run(device, ops, out Exception? error, out Exception? disposeError);
        string what = $"{profile} seed {seed}: out of space in batch {failedOp}";
        Assert.True(failedOp >= 0 && error is IOException, $"{profile} seed {seed}: the file system never filled up");
        Assert.StartsWith("No space left", error!.Message, StringComparison.Ordinal);
        Assert.False(device.HasFailed);

        // The changes stay pending, so Dispose tries them again and reports that they still do not fit.
        Assert.True(disposeError is IOException && disposeError.Message.StartsWith("No space left", StringComparison.Ordinal), $"{what}: Dispose: {disposeError}");
        Judge(((MemoryBlockDevice)device.Inner).Data.ToArray(), baseImage, ops, failedOp, what, failedBatchWritten: false);
    }

    /// <summary>
    /// Every write and flush of one write-back fails in turn: right after the failed <see cref="XfsFileSystem.Flush"/>
    /// the device holds exactly its bytes from before, the changes are still visible, and the next flush writes them.
    /// </summary>
    [SkippableFact]
    public void FailedFlush_DeviceBytesUnchanged_ChangesPendingAndNextFlushWritesThem()
    {
        byte[] baseImage = Format(XfsFormatProfile.Debian12);
        byte[] data = new byte[200_000];
        new Random(8).NextBytes(data);
        long writes = -1;
        for (long k = -1; k < 0 || k < writes; k++)
        {
            var device = new OneShotFaultBlockDevice(new MemoryBlockDevice((byte[])baseImage.Clone()));
            using XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true }, leaveOpen: true);
            fs.CreateDirectory("/d");
            using (Stream s = fs.OpenFile("/d/f", FileMode.CreateNew, FileAccess.Write))
            {
                s.Write(data);
            }

            fs.Flush();
            fs.SetXattr("/d/f", "user.k", "v"u8);
            fs.CreateDirectory("/e");
            long before = device.OperationCount;
            if (k < 0)
            {
                // The dry pass: count the operations of the second flush.
                fs.Flush();
                writes = device.OperationCount - before;
                Assert.True(writes is > 5 and < 40, $"{writes} device operations for a small change");
                continue;
            }

            byte[] flushed = ((MemoryBlockDevice)device.Inner).Data.ToArray();
            device.FailAt = before + k;
            IOException e = Assert.Throws<IOException>(fs.Flush);
            Assert.True(device.HasFailed);
            Assert.Contains("restored", e.Message, StringComparison.Ordinal);
            Assert.True(flushed.AsSpan().SequenceEqual(((MemoryBlockDevice)device.Inner).Data), $"failure at operation {k} of {writes}: the device is not as before the flush");
            Assert.True(fs.Exists("/e"));
            Assert.Equal("v"u8.ToArray(), fs.GetXattrs("/d/f")["user.k"]);
            fs.Flush();
            if (k == writes - 1 || k == 0)
            {
                fs.Dispose();
                string path = _temp.File("judged");
                WriteSparse(path, ((MemoryBlockDevice)device.Inner).Data.ToArray());
                AssertRepairClean(path, $"failure at operation {k} of {writes}, then a second flush");
                using XfsFileSystem back = XfsFileSystem.Open(FileBlockDevice.Open(path));
                Assert.True(back.Exists("/e"));
                Assert.Equal(data.Length, back.GetEntry("/d/f").Size);
                Assert.Equal("v"u8.ToArray(), back.GetXattrs("/d/f")["user.k"]);
            }
        }
    }

    /// <summary>
    /// The device stops taking writes at operation k of a write-back and never recovers (or the process is killed there):
    /// the flush reports that the file system may be inconsistent, the object refuses further use, and the device holds
    /// the old file system, the new one, or one marked needsrepair that our writer refuses to open.
    /// </summary>
    [SkippableFact]
    public void DeviceBreaksDuringFlush_ObjectRefusesUse_DeviceIsOldNewOrMarkedNeedsRepair()
    {
        byte[] baseImage = Format(XfsFormatProfile.Debian12);
        long writes = -1;
        for (long k = -1; k < 0 || k < writes; k++)
        {
            var device = new OneShotFaultBlockDevice(new MemoryBlockDevice((byte[])baseImage.Clone()));
            XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true }, leaveOpen: true);
            fs.CreateDirectory("/d");
            using (Stream s = fs.OpenFile("/d/f", FileMode.CreateNew, FileAccess.Write))
            {
                s.Write(new byte[70_000]);
            }

            if (writes < 0)
            {
                fs.Dispose();
                writes = device.OperationCount;
                continue;
            }

            device.FailAt = k;
            device.Persistent = true;
            IOException e = Assert.Throws<IOException>(fs.Flush);
            string what = $"device broken from operation {k} of {writes}";
            Assert.True(e.Message.Contains("may be inconsistent", StringComparison.Ordinal) || k >= writes - 1, $"{what}: {e.Message}");
            if (e.Message.Contains("may be inconsistent", StringComparison.Ordinal))
            {
                Assert.Throws<IOException>(() => fs.Exists("/d"));
                Assert.Throws<IOException>(() => fs.CreateDirectory("/x"));
            }

            fs.Dispose();
            byte[] image = ((MemoryBlockDevice)device.Inner).Data.ToArray();
            bool needsRepair = (BinaryPrimitives.ReadUInt32BigEndian(image.AsSpan(IncompatibleOffset)) & (uint)XfsIncompatibleFeatures.NeedsRepair) != 0;
            if (needsRepair)
            {
                NotSupportedException refused = Assert.Throws<NotSupportedException>(() => XfsFileSystem.Open(new MemoryBlockDevice(image), new XfsOpenOptions { Writable = true }));
                Assert.Contains("needs repair", refused.Message, StringComparison.Ordinal);
            }
            else
            {
                string path = _temp.File("judged");
                WriteSparse(path, image);
                AssertRepairClean(path, what);
                using XfsFileSystem back = XfsFileSystem.Open(new MemoryBlockDevice(image, writable: false));
                bool old = image.AsSpan().SequenceEqual(baseImage);
                Assert.True(old || back.Exists("/d/f"), $"{what}: neither the old nor the new tree");
            }

            output.WriteLine($"{what}: {(needsRepair ? "needsrepair" : "clean")}");
        }
    }

    [SkippableFact]
    public void StreamsOpenAcrossFlush_WriterKeepsItsWrites_ReaderFollowsTheMovedFile()
    {
        byte[] baseImage = Format(XfsFormatProfile.Debian12);
        var device = new MemoryBlockDevice((byte[])baseImage.Clone());
        byte[] gData = new byte[300_000];
        new Random(9).NextBytes(gData);
        using (XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true }, leaveOpen: true))
        {
            using (Stream g = fs.OpenFile("/g", FileMode.CreateNew, FileAccess.Write))
            {
                g.Write(gData);
            }

            using Stream s = fs.OpenFile("/f", FileMode.CreateNew, FileAccess.ReadWrite);
            s.Write("before "u8);
            fs.Flush();

            // /g is read from the device now; its stream follows it when the next flush moves it.
            using Stream r0 = fs.OpenFile("/g", FileMode.Open, FileAccess.Read);
            byte[] g0 = new byte[gData.Length];
            r0.ReadExactly(g0.AsSpan(0, 1000));
            fs.CreateDirectory("/moved");
            fs.Delete("/g");
            fs.OpenFile("/g", FileMode.CreateNew, FileAccess.Write).Dispose();
            using (Stream h = fs.OpenFile("/h", FileMode.CreateNew, FileAccess.Write))
            {
                h.Write(gData);
            }

            fs.Flush();
            Assert.Throws<IOException>(() => r0.ReadExactly(g0.AsSpan(1000)));
            using Stream r1 = fs.OpenFile("/h", FileMode.Open, FileAccess.Read);
            r1.ReadExactly(g0.AsSpan(0, 1000));
            fs.Delete("/moved");
            fs.Flush();
            r1.ReadExactly(g0.AsSpan(1000));
            Assert.Equal(gData, g0);
            using (XfsFileSystem flushed = XfsFileSystem.Open(new MemoryBlockDevice(device.Data.ToArray(), writable: false)))
            using (Stream r = flushed.OpenFile("/f", FileMode.Open, FileAccess.Read))
            {
                Assert.Equal("before ", new StreamReader(r).ReadToEnd());
            }

            s.Write("after"u8);
            s.Position = 0;
            Assert.Equal("before after", new StreamReader(s, leaveOpen: true).ReadToEnd());
            fs.Flush();
            s.Write("!"u8);
        }

        string path = _temp.File("judged");
        WriteSparse(path, device.Data.ToArray());
        AssertRepairClean(path, "stream open across flushes");
        using XfsFileSystem back = XfsFileSystem.Open(FileBlockDevice.Open(path));
        using Stream b = back.OpenFile("/f", FileMode.Open, FileAccess.Read);
        Assert.Equal("before after!", new StreamReader(b).ReadToEnd());
    }

    [SkippableFact]
    public void FlushWithoutChanges_WritesNothing_AndUnchangedContentIsNotRewritten()
    {
        byte[] baseImage = Format(XfsFormatProfile.Debian12);
        var device = new OneShotFaultBlockDevice(new MemoryBlockDevice((byte[])baseImage.Clone()));
        using XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true }, leaveOpen: true);
        using (Stream s = fs.OpenFile("/big", FileMode.CreateNew, FileAccess.Write))
        {
            s.Write(new byte[4 << 20].Select((_, i) => (byte)(i * 7)).ToArray());
        }

        fs.Flush();
        long afterFirst = device.OperationCount;
        fs.Flush();
        Assert.Equal(afterFirst, device.OperationCount);
        byte[] snapshot = ((MemoryBlockDevice)device.Inner).Data.ToArray();
        fs.CreateDirectory("/small");
        fs.Flush();
        long operations = device.OperationCount - afterFirst;
        Assert.True(operations < 30, $"{operations} device operations for one new directory");
        int changed = 0;
        ReadOnlySpan<byte> now = ((MemoryBlockDevice)device.Inner).Data;
        for (int i = 0; i < snapshot.Length; i += 4096)
        {
            changed += snapshot.AsSpan(i, 4096).SequenceEqual(now.Slice(i, 4096)) ? 0 : 1;
        }

        Assert.True(changed < 64, $"{changed} blocks of 4 KiB rewritten for one new directory");
    }

    /// <summary>Runs the sequence with the k-th device operation failing once, then judges the image.</summary>
    private void InjectAt(byte[] baseImage, List<FailureOp> ops, long k, long total, string name)
    {
        var device = new OneShotFaultBlockDevice(new MemoryBlockDevice((byte[])baseImage.Clone()), k);
        int failedOp = Run(device, ops, out Exception? error, out Exception? disposeError);
        string what = $"{name}: failure at device operation {k} of {total} (batch {failedOp}: {error?.Message})";
        Assert.True(device.HasFailed, $"{what}: not attempted");
        Assert.True(disposeError is null, $"{what}: Dispose: {disposeError}");
        Assert.True(failedOp >= 0 && failedOp < ops.Count, what);
        Judge(((MemoryBlockDevice)device.Inner).Data.ToArray(), baseImage, ops, failedOp, what, failedBatchWritten: true);
    }

    /// <summary>The number of device operations of a sequence without failures (its image judged too).</summary>
    private long DryRun(byte[] baseImage, List<FailureOp> ops)
    {
        var dry = new OneShotFaultBlockDevice(new MemoryBlockDevice((byte[])baseImage.Clone()));
        int failed = Run(dry, ops, out Exception? error, out Exception? disposeError);
        Assert.True(failed < 0 && disposeError is null, $"dry run: {error ?? disposeError}");
        Judge(((MemoryBlockDevice)dry.Inner).Data.ToArray(), baseImage, ops, -1, "dry run", failedBatchWritten: true);
        output.WriteLine($"{ops.Count} batches, {dry.OperationCount} device operations");
        Assert.True(dry.OperationCount > 10, $"only {dry.OperationCount} device operations");
        return dry.OperationCount;
    }

    /// <summary>Applies the batches until one throws; returns its index (or -1) after disposing the file system.</summary>
    private static int Run(BlockDevice device, List<FailureOp> ops, out Exception? error, out Exception? disposeError)
    {
        disposeError = null;
        XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true }, leaveOpen: true);
        var context = new FailureOpContext();
        int failed = FailureSequences.ApplyUntilFailure(fs, ops, context, out error);

        try
        {
            context.Stream?.Dispose();
            fs.Dispose();
        }
        catch (IOException e)
        {
            disposeError = e;
        }

        return failed;
    }

    /// <summary>
    /// Runs <c>xfs_repair -n</c> on the image and compares its tree with the model: every batch before
    /// <paramref name="failedOp"/> applied, and the failed batch wholly (when <paramref name="failedBatchWritten"/>:
    /// Dispose wrote the pending changes) or not at all.
    /// </summary>
    private void Judge(byte[] image, byte[] baseImage, List<FailureOp> ops, int failedOp, string what, bool failedBatchWritten)
    {
        string path = _temp.File("judged");
        WriteSparse(path, image);
        AssertRepairClean(path, what);
        List<RandomTreeSnapshot> candidates;
        using (XfsFileSystem start = XfsFileSystem.Open(new MemoryBlockDevice(baseImage, writable: false)))
        {
            candidates = FailureSequences.Candidates(start, ops, failedOp);
        }

        using XfsFileSystem back = XfsFileSystem.Open(new MemoryBlockDevice(image, writable: false));
        RandomTreeSnapshot actual = XfsWriteRandomTests.WithoutSgiAclNames(RandomTreeSnapshot.FromFileSystem(back));
        string failedName = failedOp >= 0 ? ops[failedOp].Name : "none";
        FailureSequences.AssertMatchesOne([failedBatchWritten ? candidates[^1] : candidates[0]], actual, Compare, $"{what} (failed batch: {failedName})");
    }

    private static void AssertRepairClean(string path, string what)
    {
        ToolResult repair = Oracle.Run("xfs_repair", ["-n", "-f", path], TimeSpan.FromMinutes(2));
        Assert.True(repair.ExitCode == 0, $"{what}: xfs_repair -n: {repair}");
    }

    /// <summary>Groups the operations <paramref name="size"/> at a time, each group ending in a flush.</summary>
    private static List<FailureOp> Batches(List<FailureOp> ops, int size)
    {
        var batches = new List<FailureOp>();
        for (int i = 0; i < ops.Count; i += size)
        {
            List<FailureOp> group = ops.GetRange(i, Math.Min(size, ops.Count - i));
            var steps = new List<Action<IFileSystem, FailureOpContext>>();
            foreach (FailureOp op in group)
            {
                steps.AddRange(op.Steps);
            }

            steps.Add(static (fs, _) => fs.Flush());
            batches.Add(new FailureOp(string.Join(", ", group.Select(o => o.Name)) + ", flush", [.. steps]));
        }

        return batches;
    }

    private byte[] Format(XfsFormatProfile profile)
    {
        Oracle.Require("xfs_repair");
        var device = new MemoryBlockDevice((int)Size);
        XfsFileSystem.Format(device, new XfsFormatOptions { Profile = profile, Uuid = new Guid("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0") });
        return device.Data.ToArray();
    }

    /// <summary>Writes the image with holes where it has whole zero 64 KiB pieces (xfs_repair reads it faster).</summary>
    private static void WriteSparse(string path, byte[] image)
    {
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write);
        f.SetLength(image.Length);
        const int Piece = 1 << 16;
        for (int i = 0; i < image.Length; i += Piece)
        {
            ReadOnlySpan<byte> p = image.AsSpan(i, Math.Min(Piece, image.Length - i));
            if (p.ContainsAnyExcept((byte)0))
            {
                f.Position = i;
                f.Write(p);
            }
        }
    }
}
