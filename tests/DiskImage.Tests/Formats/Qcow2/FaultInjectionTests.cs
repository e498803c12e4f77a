using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;
using DiskImage.Tests.Infrastructure;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>
/// Crash consistency: a fixed write sequence (allocations, partial-cluster COW, zero writes, L2 table
/// and refcount block creation, a resize, flushes) runs over a <see cref="FaultInjectingBlockDevice"/>
/// that fails every mutating host operation after the n-th, for every n. Whatever the host holds
/// afterwards must pass qemu-img check (qemu-utils 7.2) without corruption (leaks allowed: exit 0 or
/// 3); our check must agree, and our repair must return it to clean by qemu-img's judgement.
/// </summary>
public sealed class FaultInjectionTests(ITestOutputHelper output)
{
    private const long VirtualSize = 2L << 20;

    /// <summary>A write sequence against an open image.</summary>
    public delegate void Sequence(Qcow2Image image);

    private static byte[] Pattern(int length, byte seed)
    {
        byte[] data = new byte[length];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(seed + (i * 7));
        }

        return data;
    }

    private static void Allocations(Qcow2Image img)
    {
        BlockDevice c = img.Content;
        c.Write(0, Pattern(4096, 1));                  // first data clusters and the first L2 table
        c.Write(100 * 1024, Pattern(512, 2));          // another L2 table
        c.Write(3000, Pattern(1000, 3));               // partial clusters over allocated data
        c.Write(40 * 1024 + 100, Pattern(700, 4));     // partial clusters over unallocated space (COW of zeros)
        c.WriteZeroes(256 * 1024, 64 * 1024);          // zero clusters
        c.Flush();
        c.Write(512 * 1024, Pattern(200 * 1024, 5));   // enough clusters to need a new refcount block
        c.Write(0, Pattern(4096, 6));                  // rewrite in place
        c.WriteZeroes(1024, 2048);                     // zeros inside allocated clusters
        img.Resize(3L << 20);
        c = img.Content;
        c.Write((5L << 20) / 2, Pattern(4096, 7));     // a write past the old end
        c.Flush();
    }

    private static void CompressedThenOverwrite(Qcow2Image img)
    {
        int cluster = img.ClusterSize;
        byte[] plain = Pattern(cluster, 9);
        Array.Clear(plain, cluster / 2, cluster / 2);
        byte[] packed = new byte[cluster * 2];
        for (int i = 0; i < 6; i++)
        {
            Assert.True(Qcow2Compression.TryCompress(img.CompressionType, plain, packed, out int length));
            img.WriteCompressedCluster((long)(64 + i) * cluster, packed.AsSpan(0, length));
        }

        BlockDevice c = img.Content;
        c.Flush();
        c.Write((64L * cluster) + 100, Pattern(300, 10));      // COW out of a compressed cluster
        c.WriteZeroes(66L * cluster, cluster);                  // zero over a compressed cluster
        c.Write(70L * cluster, Pattern(cluster * 3, 11));       // fresh allocations after them
        c.Flush();
    }

    /// <summary>
    /// Batched compressed writes (as convert stores them): a batch packed into a fresh run, a second
    /// continuing in the first's last host cluster, an uncompressed cluster in between, a batch with
    /// gaps that spans two L2 tables, then an overwrite.
    /// </summary>
    private static void CompressedBatches(Qcow2Image img)
    {
        int cluster = img.ClusterSize;
        long perL2 = cluster / 8;
        byte[] plain = Pattern(cluster, 21);
        Array.Clear(plain, cluster / 3, cluster / 3);
        byte[] one = new byte[cluster];
        Assert.True(Qcow2Compression.TryCompress(img.CompressionType, plain, one, out int length));
        void Batch(params long[] guestClusters)
        {
            byte[] packed = new byte[guestClusters.Length * length];
            long[] offsets = new long[guestClusters.Length];
            int[] lengths = new int[guestClusters.Length];
            for (int i = 0; i < guestClusters.Length; i++)
            {
                one.AsSpan(0, length).CopyTo(packed.AsSpan(i * length));
                offsets[i] = guestClusters[i] * cluster;
                lengths[i] = length;
            }

            img.WriteCompressedClusters(offsets, lengths, packed);
        }

        Batch(2, 3, 4, 5, 6);
        Batch(7, 8, 9);
        img.Content.Write(10L * cluster, Pattern(cluster, 22));
        Batch(11, 13, perL2 - 1, perL2, perL2 + 2);
        BlockDevice c = img.Content;
        c.Write((3L * cluster) + 10, Pattern(100, 23));          // COW out of a batched cluster
        c.WriteZeroes(8L * cluster, cluster);
        c.Flush();
    }

    /// <summary>Writes over clusters shared with internal snapshots (refcount 2: copy on write).</summary>
    private static void OverwriteShared(Qcow2Image img)
    {
        BlockDevice c = img.Content;
        c.Write(4096, Pattern(512, 12));
        c.Write(64 * 1024, Pattern(70 * 1024, 13));
        c.WriteZeroes(200 * 1024, 8192);
        c.Flush();
    }

    /// <summary>Partial writes in an overlay: copy on write merges backing data.</summary>
    private static void OverlayCow(Qcow2Image img)
    {
        BlockDevice c = img.Content;
        c.Write(100, Pattern(200, 14));
        c.Write(300 * 1024, Pattern(5000, 15));
        c.WriteZeroes(512 * 1024, 4096);
        c.Flush();
    }

    /// <summary>Writes to an image with persistent bitmaps: they are marked in use, tracked, and stored on dispose.</summary>
    private static void BitmapWrites(Qcow2Image img)
    {
        BlockDevice c = img.Content;
        c.Write(100, Pattern(200, 16));
        c.Write(2L << 20, Pattern(20 * 1024, 17));
        c.WriteZeroes(1L << 20, 8192);
        c.Flush();
    }

    private static byte[] CreateBase(int clusterSize, int version)
    {
        var host = new MemoryBlockDevice(0);
        using (Qcow2Image img = Qcow2Image.Create(host, VirtualSize, new Qcow2CreateOptions { ClusterSize = clusterSize, Version = version }, leaveOpen: true))
        {
            img.Content.Flush();
        }

        return host.Data.ToArray();
    }

    /// <summary>Runs <paramref name="sequence"/> on a copy of <paramref name="baseImage"/>, failing after <paramref name="failAfter"/> operations.</summary>
    private static (byte[] Host, long Operations, Exception? Unexpected) RunWithFault(byte[] baseImage, long failAfter, Sequence sequence, string? fileName = null)
    {
        var inner = new MemoryBlockDevice((byte[])baseImage.Clone(), writable: true);
        using var faulty = new FaultInjectingBlockDevice(inner, failAfter, countFlushes: true, leaveOpen: true);
        Exception? unexpected = null;
        try
        {
            var options = new DiskImageOpenOptions { Writable = true, BackingFiles = fileName is null ? BackingFilePolicy.Deny : BackingFilePolicy.Allow };
            using Qcow2Image img = Qcow2Image.Open(faulty, options, leaveOpen: true, fileName: fileName);
            try
            {
                sequence(img);
            }
            finally
            {
                try
                {
                    img.Dispose();
                }
                catch (IOException) when (faulty.HasFailed)
                {
                }
            }
        }
        catch (IOException) when (faulty.HasFailed)
        {
            // The injected crash.
        }
        catch (Exception ex)
        {
            unexpected = ex;
        }

        return (inner.Data.ToArray(), faulty.OperationCount, unexpected);
    }

    public static IEnumerable<object[]> Variants()
    {
        yield return [512, 3];
        yield return [512, 2];
        yield return [4096, 3];
    }

    [SkippableTheory]
    [MemberData(nameof(Variants))]
    public void Crash_AfterEveryHostWrite_LeavesNoCorruptionAndRepairs(int clusterSize, int version)
    {
        Oracle.Require("qemu-img");
        output.WriteLine(Oracle.Version("qemu-img"));
        using var dir = new TempDirectory();
        RunAllCrashPoints(dir, CreateBase(clusterSize, version), Allocations, $"cluster {clusterSize}, v{version}");
    }

    [SkippableTheory]
    [InlineData(4096, "zlib")]
    [InlineData(65536, "zstd")]
    public void Crash_DuringCompressedWritesAndTheirOverwrite_LeavesNoCorruptionAndRepairs(int clusterSize, string compression)
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = dir.File("base.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", "-o", $"cluster_size={clusterSize},compression_type={compression}", path, "16M");
        RunAllCrashPoints(dir, File.ReadAllBytes(path), CompressedThenOverwrite, $"compressed {compression} cluster {clusterSize}");
    }

    [SkippableTheory]
    [InlineData(4096, "zlib")]
    [InlineData(512, "zstd")]
    public void Crash_DuringBatchedCompressedWrites_LeavesNoCorruptionAndRepairs(int clusterSize, string compression)
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = dir.File("base.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", "-o", $"cluster_size={clusterSize},compression_type={compression}", path, "16M");
        RunAllCrashPoints(dir, File.ReadAllBytes(path), CompressedBatches, $"batched compressed {compression} cluster {clusterSize}");
    }

    [SkippableFact]
    public void Crash_WhileOverwritingClustersSharedWithSnapshots_LeavesNoCorruptionAndRepairs()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, "snapshots");
        RunAllCrashPoints(dir, File.ReadAllBytes(path), OverwriteShared, "snapshots");
    }

    [SkippableFact]
    public void Crash_DuringCopyOnWriteFromBackingFile_LeavesNoCorruptionAndRepairs()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string basePath = dir.File("base.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", basePath, "1M");
        Oracle.RunOk("qemu-io", "-c", "write -P 7 0 1M", basePath);
        string overlay = dir.File("overlay.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "base.qcow2", "-F", "qcow2", overlay);
        RunAllCrashPoints(dir, File.ReadAllBytes(overlay), OverlayCow, "overlay", overlay);
    }

    [SkippableFact]
    public void Crash_WhileBitmapsAreTrackedAndStored_LeavesNoCorruptionAndRepairs()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = dir.File("base.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", path, "4M");
        Oracle.RunOk("qemu-io", "-c", "write -P 3 0 64k", path);
        Oracle.RunOk("qemu-img", "bitmap", "--add", path, "b0");
        Oracle.RunOk("qemu-img", "bitmap", "--add", "-g", "8k", path, "b1");
        Oracle.RunOk("qemu-io", "-c", "write -P 4 1M 12k", path);
        RunAllCrashPoints(dir, File.ReadAllBytes(path), BitmapWrites, "bitmaps");
    }

    private void RunAllCrashPoints(TempDirectory dir, byte[] baseImage, Sequence sequence, string label, string? fileName = null)
    {
        (byte[] complete, long total, Exception? dryError) = RunWithFault(baseImage, long.MaxValue, sequence, fileName);
        Assert.True(dryError is null, "dry run failed: " + dryError);
        string completePath = dir.File("complete.qcow2");
        File.WriteAllBytes(completePath, complete);
        QemuCheck clean = QemuCheck.Run(completePath);
        Assert.True(clean.ExitCode == 0, "the uninterrupted sequence is not clean:\n" + clean.Output);
        output.WriteLine($"{label}: {total} host operations");
        Assert.InRange(total, 5, 5000);

        var failures = new List<string>();
        int leaky = 0;
        for (long n = 0; n < total; n++)
        {
            (byte[] host, _, Exception? unexpected) = RunWithFault(baseImage, n, sequence, fileName);
            string? problem = Judge(dir, n, host, unexpected, ref leaky);
            if (problem is not null)
            {
                failures.Add(problem);
                if (failures.Count >= 10)
                {
                    break;
                }
            }
        }

        output.WriteLine($"{label}: {leaky} crash points left leaks, {failures.Count} misbehaved");
        foreach (string f in failures)
        {
            output.WriteLine(f);
        }

        Assert.True(failures.Count == 0, $"{failures.Count} crash points misbehaved ({label}); first:\n" + string.Join("\n\n", failures.Take(3)));
    }

    private static string? Judge(TempDirectory dir, long n, byte[] host, Exception? unexpected, ref int leaky)
    {
        string where = $"crash after {n} host operations";
        if (unexpected is not null)
        {
            return $"{where}: the sequence threw {unexpected.GetType().Name} instead of the injected IOException: {unexpected}";
        }

        string path = dir.File($"crash-{n}.qcow2");
        File.WriteAllBytes(path, host);
        QemuCheck qemu = QemuCheck.Run(path);
        if (qemu.ExitCode is not (0 or 3))
        {
            return $"{where}: qemu-img check reports corruption:\n{qemu.Output}";
        }

        if (qemu.ExitCode == 3)
        {
            leaky++;
        }

        Qcow2CheckResult ours;
        using (var device = new MemoryBlockDevice((byte[])host.Clone(), writable: false))
        {
            ours = Qcow2Image.Check(device);
        }

        if (ours.ExitCode != qemu.ExitCode || ours.Leaks != qemu.Leaks || ours.Corruptions != qemu.Corruptions)
        {
            return $"{where}: our check disagrees with qemu-img\nqemu: {qemu.Output}\nours: {QemuCheck.Describe(ours)}";
        }

        foreach (Qcow2RepairMode mode in new[] { Qcow2RepairMode.Leaks, Qcow2RepairMode.All })
        {
            string repairedPath = dir.File($"crash-{n}-{mode}.qcow2");
            File.WriteAllBytes(repairedPath, host);
            Qcow2CheckResult repaired;
            using (FileBlockDevice device = FileBlockDevice.Open(repairedPath, writable: true))
            {
                repaired = Qcow2Image.Check(device, mode);
            }

            QemuCheck after = QemuCheck.Run(repairedPath);
            if (after.ExitCode != 0 || repaired.ExitCode != 0)
            {
                return $"{where}: after our repair ({mode}) qemu-img check is not clean:\n{after.Output}\nours: {QemuCheck.Describe(repaired)}";
            }

            File.Delete(repairedPath);
        }

        File.Delete(path);
        return null;
    }
}
