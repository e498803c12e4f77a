using BenchmarkDotNet.Attributes;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Benchmarks.Formats.Qcow2;

/// <summary>
/// The batched metadata writer: guest writes into a fresh image held in memory (so the host costs
/// nothing and the figures are the write path's own work), whose refcount blocks, L2 tables and L1
/// entries are collected and written back in batches on flush. <see cref="SequentialRuns"/> is the
/// convert pattern (2 MiB writes over 64 MiB, reported per MiB); <see cref="ScatteredClusters"/>
/// writes one cluster in each of 512 L2 tables' ranges (the worst case for the batch: every write
/// dirties another table), reported per cluster.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1)]
[WarmupCount(2)]
[IterationCount(10)]
public class Qcow2MetadataWritebackBenchmarks
{
    private const int RunBytes = 2 << 20;
    private const int Runs = 32;
    private const int Scattered = 512;

    private Qcow2Image? _image;
    private byte[] _run = [];

    /// <summary>Cluster size of the image (bytes): 4 KiB makes 16 times the metadata of 64 KiB.</summary>
    [Params(4096, 65536)]
    public int ClusterSize { get; set; }

    /// <summary>Fills the payload.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _run = new byte[RunBytes];
        BenchmarkData.FillText(new Random(BenchmarkData.Seed), _run);
    }

    /// <summary>Creates a fresh, empty image in memory before each iteration.</summary>
    [IterationSetup]
    public void CreateImage()
    {
        long entriesPerL2 = ClusterSize / 8;
        long size = Math.Max((long)Runs * RunBytes, Scattered * entriesPerL2 * ClusterSize);
        _image = Qcow2Image.Create(new MemoryBlockDevice(0), size, new Qcow2CreateOptions { ClusterSize = ClusterSize });
    }

    /// <summary>Closes the image written by the iteration.</summary>
    [IterationCleanup]
    public void CloseImage()
    {
        _image?.Dispose();
        _image = null;
    }

    /// <summary>Writes 64 MiB in 2 MiB pieces, then flushes (metadata written back in batches).</summary>
    [Benchmark(OperationsPerInvoke = Runs * RunBytes / (1 << 20))]
    public long SequentialRuns()
    {
        BlockDevice content = _image!.Content;
        for (int i = 0; i < Runs; i++)
        {
            content.Write((long)i * RunBytes, _run);
        }

        _image.Flush();
        return content.Length;
    }

    /// <summary>Writes one cluster at the start of each of 512 L2 tables' ranges, then flushes.</summary>
    [Benchmark(OperationsPerInvoke = Scattered)]
    public long ScatteredClusters()
    {
        BlockDevice content = _image!.Content;
        long stride = (long)(ClusterSize / 8) * ClusterSize;
        ReadOnlySpan<byte> cluster = _run.AsSpan(0, ClusterSize);
        for (int i = 0; i < Scattered; i++)
        {
            content.Write(i * stride, cluster);
        }

        _image.Flush();
        return content.Length;
    }
}
