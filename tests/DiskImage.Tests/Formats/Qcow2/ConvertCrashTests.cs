using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;
using DiskImage.Tests.Infrastructure;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>
/// Crash consistency of the batched metadata writer at conversion scale: 64 MiB of data (runs of
/// random and of repeating bytes, with holes) go through the convert pipeline into a qcow2 image
/// with 1 KiB clusters (512 L2 tables, 128 refcount blocks, refcount table growth; 512-byte
/// clusters, 48 cuts of 4726 host operations, passed too but take minutes), over a <see cref="FaultInjectingBlockDevice"/> that cuts the host after every 97th
/// mutating operation. Every cut must leave an image qemu-img check (7.2) finds free of corruption
/// (leaks allowed) and ours must agree; the uncut run must be clean and qemu-img compare-identical.
/// </summary>
public sealed class ConvertCrashTests(ITestOutputHelper output)
{
    private const int Step = 97;
    private const long VirtualSize = 80L << 20;
    private const int Seed = 1409;

    [SkippableTheory]
    [InlineData(1024, 2)]
    public void Crash_EveryNinetySeventhHostWriteOfA64MiBConversion_LeavesNoCorruption(int clusterSize, int workers)
    {
        Oracle.Require("qemu-img");
        output.WriteLine($"seed {Seed}, cluster {clusterSize}, {workers} workers");
        using var dir = new TempDirectory();
        byte[] source = MakeSource();
        string sourcePath = dir.File("source.raw");
        File.WriteAllBytes(sourcePath, source);
        byte[] empty = CreateEmpty(clusterSize);

        (byte[] complete, long total, Exception? dryError) = Run(source, empty, long.MaxValue, workers);
        Assert.True(dryError is null, "the uncut conversion failed: " + dryError);
        string completePath = dir.File("complete.qcow2");
        File.WriteAllBytes(completePath, complete);
        QemuCheck clean = QemuCheck.Run(completePath);
        Assert.True(clean.ExitCode == 0, "the uncut conversion is not clean:\n" + clean.Output);
        Oracle.RunOk("qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow2", sourcePath, completePath);
        output.WriteLine($"{total} host operations, {(total - 1) / Step} cuts");
        Assert.True(total > 10 * Step, $"only {total} host operations: the test would cut too rarely");

        var failures = new List<string>();
        int leaky = 0;
        for (long n = Step; n < total; n += Step)
        {
            (byte[] host, _, Exception? unexpected) = Run(source, empty, n, workers);
            string where = $"cut after {n} host operations (seed {Seed}, cluster {clusterSize})";
            if (unexpected is not null)
            {
                failures.Add($"{where}: threw {unexpected.GetType().Name} instead of the injected IOException: {unexpected}");
                continue;
            }

            string path = dir.File($"cut-{n}.qcow2");
            File.WriteAllBytes(path, host);
            QemuCheck qemu = QemuCheck.Run(path);
            Qcow2CheckResult ours;
            using (var device = new MemoryBlockDevice(host, writable: false))
            {
                ours = Qcow2Image.Check(device);
            }

            if (qemu.ExitCode is not (0 or 3))
            {
                failures.Add($"{where}: qemu-img check reports corruption:\n{qemu.Output}");
            }
            else if (ours.ExitCode != qemu.ExitCode || ours.Leaks != qemu.Leaks || ours.Corruptions != qemu.Corruptions)
            {
                failures.Add($"{where}: our check disagrees with qemu-img\nqemu: {qemu.Output}\nours: {QemuCheck.Describe(ours)}");
            }
            else if (qemu.ExitCode == 3)
            {
                leaky++;
            }

            File.Delete(path);
            if (failures.Count >= 5)
            {
                break;
            }
        }

        output.WriteLine($"{leaky} cuts left leaks, {failures.Count} misbehaved");
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    /// <summary>80 MiB with 64 MiB of data: 16 runs of 4 MiB, alternately random and a repeating pattern (with a zero cluster inside), 1 MiB holes between.</summary>
    private static byte[] MakeSource()
    {
        byte[] data = new byte[VirtualSize];
        var random = new Random(Seed);
        long pos = 0;
        for (int run = 0; run < 16; run++)
        {
            Span<byte> span = data.AsSpan((int)pos, 4 << 20);
            if (run % 2 == 0)
            {
                random.NextBytes(span);
            }
            else
            {
                for (int i = 0; i < span.Length; i++)
                {
                    span[i] = (byte)((i % 251) + run);
                }
            }

            span.Slice(3 << 20, 8192).Clear();
            pos += 5L << 20;
        }

        return data;
    }

    private static byte[] CreateEmpty(int clusterSize)
    {
        var host = new MemoryBlockDevice(0);
        using (Qcow2Image.Create(host, VirtualSize, new Qcow2CreateOptions { ClusterSize = clusterSize }, leaveOpen: true))
        {
        }

        return host.Data.ToArray();
    }

    /// <summary>Converts <paramref name="source"/> into a copy of <paramref name="empty"/> through the convert pipeline, cutting the host after <paramref name="failAfter"/> operations.</summary>
    private static (byte[] Host, long Operations, Exception? Unexpected) Run(byte[] source, byte[] empty, long failAfter, int workers)
    {
        var inner = new MemoryBlockDevice((byte[])empty.Clone(), writable: true);
        using var faulty = new FaultInjectingBlockDevice(inner, failAfter, countFlushes: true, leaveOpen: true);
        Exception? unexpected = null;
        try
        {
            using Qcow2Image image = Qcow2Image.Open(faulty, new DiskImageOpenOptions { Writable = true }, leaveOpen: true);
            try
            {
                var options = new ConvertOptions { MaxDegreeOfParallelism = workers };
                using var sourceDevice = new MemoryBlockDevice(source, writable: false);
                ImageConverter.Copy(sourceDevice, image.Content, image, targetIsZero: true, options, null, CancellationToken.None);
                image.Flush();
            }
            finally
            {
                try
                {
                    image.Dispose();
                }
                catch (IOException) when (faulty.HasFailed)
                {
                }
            }
        }
        catch (IOException) when (faulty.HasFailed)
        {
        }
        catch (Exception ex)
        {
            unexpected = ex;
        }

        return (inner.Data.ToArray(), faulty.OperationCount, unexpected);
    }
}
