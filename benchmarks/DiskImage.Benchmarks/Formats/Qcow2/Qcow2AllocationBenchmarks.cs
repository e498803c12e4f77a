using BenchmarkDotNet.Attributes;
using DiskImage.Formats.Qcow2;

namespace DiskImage.Benchmarks.Formats.Qcow2;

/// <summary>
/// Allocating writes: every write lands in an unallocated cluster of a fresh image, so it pays for
/// cluster allocation, the refcount update and the L2 (and sometimes L1) update in crash-safe order.
/// Each invocation writes <see cref="ClustersPerInvocation"/> clusters into a new image; the result
/// is reported per cluster.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1)]
[WarmupCount(2)]
[IterationCount(10)]
public class Qcow2AllocationBenchmarks
{
    private const int ClustersPerInvocation = 1024;

    private string? _directory;
    private Qcow2Image? _image;
    private byte[] _buffer = [];
    private int _iteration;

    /// <summary>Cluster size of the image (bytes).</summary>
    [Params(65536)]
    public int ClusterSize { get; set; }

    /// <summary>Creates the scratch directory and the cluster payload.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _directory = BenchmarkData.CreateScratchDirectory();
        _buffer = new byte[ClusterSize];
        BenchmarkData.FillText(new Random(BenchmarkData.Seed), _buffer);
    }

    /// <summary>Creates a fresh, empty image before each iteration.</summary>
    [IterationSetup]
    public void CreateImage()
    {
        string path = Path.Combine(_directory!, $"alloc-{_iteration++ % 2}.qcow2");
        _image = Qcow2Image.Create(path, 4L * ClustersPerInvocation * ClusterSize, new Qcow2CreateOptions { ClusterSize = ClusterSize }, overwrite: true);
    }

    /// <summary>Closes the image written by the iteration.</summary>
    [IterationCleanup]
    public void CloseImage()
    {
        _image?.Dispose();
        _image = null;
    }

    /// <summary>Deletes the scratch directory.</summary>
    [GlobalCleanup]
    public void Cleanup() => BenchmarkData.DeleteScratchDirectory(_directory);

    /// <summary>Writes one whole cluster into each of <see cref="ClustersPerInvocation"/> unallocated clusters (every fourth cluster, so L2 tables fill sparsely).</summary>
    [Benchmark(OperationsPerInvoke = ClustersPerInvocation)]
    public long AllocateCluster()
    {
        var content = _image!.Content;
        for (int i = 0; i < ClustersPerInvocation; i++)
        {
            content.Write(4L * i * ClusterSize, _buffer);
        }

        _image.Flush();
        return content.Length;
    }
}
