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
    private static (byte[] Host, long Operations, Exception? Unexpected) RunWithFault(byte[] baseImage, long failAfter, Sequence sequence)
    {
        var inner = new MemoryBlockDevice((byte[])baseImage.Clone(), writable: true);
        using var faulty = new FaultInjectingBlockDevice(inner, failAfter, countFlushes: true, leaveOpen: true);
        Exception? unexpected = null;
        try
        {
            using Qcow2Image img = Qcow2Image.Open(faulty, new DiskImageOpenOptions { Writable = true }, leaveOpen: true);
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
        byte[] baseImage = CreateBase(clusterSize, version);

        (byte[] complete, long total, Exception? dryError) = RunWithFault(baseImage, long.MaxValue, Allocations);
        Assert.True(dryError is null, "dry run failed: " + dryError);
        string completePath = dir.File("complete.qcow2");
        File.WriteAllBytes(completePath, complete);
        QemuCheck clean = QemuCheck.Run(completePath);
        Assert.True(clean.ExitCode == 0, "the uninterrupted sequence is not clean:\n" + clean.Output);
        output.WriteLine($"cluster {clusterSize}, v{version}: {total} host operations");
        Assert.InRange(total, 10, 5000);

        var failures = new List<string>();
        for (long n = 0; n < total; n++)
        {
            (byte[] host, _, Exception? unexpected) = RunWithFault(baseImage, n, Allocations);
            string? problem = Judge(dir, n, host, unexpected);
            if (problem is not null)
            {
                failures.Add(problem);
                if (failures.Count >= 10)
                {
                    break;
                }
            }
        }

        foreach (string f in failures)
        {
            output.WriteLine(f);
        }

        Assert.True(failures.Count == 0, $"{failures.Count} crash points misbehaved (cluster {clusterSize}, v{version}); first:\n" + string.Join("\n\n", failures.Take(3)));
    }

    private static string? Judge(TempDirectory dir, long n, byte[] host, Exception? unexpected)
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
