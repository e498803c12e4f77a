using BenchmarkDotNet.Attributes;
using DiskImage.Formats.Qcow2;

namespace DiskImage.Benchmarks.Formats.Qcow2;

/// <summary>Compression of one 64 KiB cluster of text-like data with each qcow2 codec (the per-cluster cost of <c>convert -c</c> on one core).</summary>
[MemoryDiagnoser]
public class Qcow2CompressionBenchmarks
{
    private readonly byte[] _cluster = new byte[65536];
    private readonly byte[] _destination = new byte[65536];

    /// <summary>The codec.</summary>
    [Params(Qcow2CompressionType.Deflate, Qcow2CompressionType.Zstd)]
    public Qcow2CompressionType Codec { get; set; }

    /// <summary>Fills the cluster with deterministic text-like bytes.</summary>
    [GlobalSetup]
    public void Setup() => BenchmarkData.FillText(new Random(BenchmarkData.Seed), _cluster);

    /// <summary>Compresses the cluster; returns the compressed length (or -1 when it does not shrink).</summary>
    [Benchmark]
    public int CompressCluster() =>
        Qcow2Compression.TryCompress(Codec, _cluster, _destination, out int written) ? written : -1;
}
