using BenchmarkDotNet.Attributes;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;

namespace DiskImage.Benchmarks.Formats.Qcow2;

/// <summary>
/// Guest-cluster reads and writes through <see cref="Qcow2Image.Content"/> on a file-backed image
/// (page cache warm): the per-cluster cost of L2 lookup, host I/O and, for the read of a compressed
/// image, decompression.
/// </summary>
[MemoryDiagnoser]
public class Qcow2ClusterBenchmarks
{
    private const int ClusterCount = 1024;

    private string? _directory;
    private Qcow2Image? _plain;
    private Qcow2Image? _compressed;
    private byte[] _buffer = [];
    private int _next;

    /// <summary>Cluster size of the images (bytes); each operation moves one cluster.</summary>
    [Params(4096, 65536)]
    public int ClusterSize { get; set; }

    /// <summary>Creates a writable image with <see cref="ClusterCount"/> allocated clusters and a deflate-compressed copy.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _directory = BenchmarkData.CreateScratchDirectory();
        long size = (long)ClusterCount * ClusterSize;
        var random = new Random(BenchmarkData.Seed);
        _buffer = new byte[ClusterSize];

        string plainPath = Path.Combine(_directory, "plain.qcow2");
        using (var image = Qcow2Image.Create(plainPath, size, new Qcow2CreateOptions { ClusterSize = ClusterSize }))
        {
            for (long offset = 0; offset < size; offset += ClusterSize)
            {
                BenchmarkData.FillText(random, _buffer);
                image.Content.Write(offset, _buffer);
            }

            image.Flush();
        }

        string compressedPath = Path.Combine(_directory, "compressed.qcow2");
        using (var image = Qcow2Image.Create(compressedPath, size, new Qcow2CreateOptions { ClusterSize = ClusterSize }))
        {
            byte[] compressed = new byte[ClusterSize];
            for (long offset = 0; offset < size; offset += ClusterSize)
            {
                BenchmarkData.FillText(random, _buffer);
                if (Qcow2Compression.TryCompress(image.CompressionType, _buffer, compressed, out int written))
                {
                    image.WriteCompressedCluster(offset, compressed.AsSpan(0, written));
                }
                else
                {
                    image.Content.Write(offset, _buffer);
                }
            }

            image.Flush();
        }

        _plain = Qcow2Image.Open(plainPath, new DiskImageOpenOptions { Writable = true });
        _compressed = Qcow2Image.Open(compressedPath);
    }

    /// <summary>Closes the images and deletes them.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _plain?.Dispose();
        _compressed?.Dispose();
        BenchmarkData.DeleteScratchDirectory(_directory);
    }

    private long NextClusterOffset()
    {
        int index = _next;
        _next = (index + 1) % ClusterCount;
        return (long)index * ClusterSize;
    }

    /// <summary>Reads one allocated cluster (cycling through the image).</summary>
    [Benchmark]
    public byte ReadCluster()
    {
        _plain!.Content.ReadExactly(NextClusterOffset(), _buffer);
        return _buffer[^1];
    }

    /// <summary>Reads and decompresses one deflate-compressed cluster.</summary>
    [Benchmark]
    public byte ReadCompressedCluster()
    {
        _compressed!.Content.ReadExactly(NextClusterOffset(), _buffer);
        return _buffer[^1];
    }

    /// <summary>Overwrites one allocated cluster in place (no allocation, no metadata update).</summary>
    [Benchmark]
    public int WriteCluster()
    {
        _buffer[0]++;
        _plain!.Content.Write(NextClusterOffset(), _buffer);
        return _buffer[0];
    }
}
