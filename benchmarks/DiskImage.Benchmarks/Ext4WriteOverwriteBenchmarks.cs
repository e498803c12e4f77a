using BenchmarkDotNet.Attributes;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;

namespace DiskImage.Benchmarks;

/// <summary>
/// 4 KiB overwrites at random block-aligned offsets inside an existing 64 MiB file of a writable ext4 image
/// (512 MiB in memory, Debian 12 profile, 4 KiB blocks): no block or inode allocation, but every call maps its
/// block through the extent tree and writes the inode's times.
/// </summary>
[MemoryDiagnoser]
public class Ext4WriteOverwriteBenchmarks
{
    private const int Overwrites = 1024;

    private byte[] _image = null!;
    private byte[] _block = null!;
    private long[] _offsets = null!;
    private MemoryBlockDevice? _device;
    private Ext4FileSystem? _fs;
    private Stream? _stream;

    /// <summary>Whether the file has 1,024 extents (an extent tree of depth 1) instead of a few kept in the inode.</summary>
    [ParamsAllValues]
    public bool Fragmented { get; set; }

    /// <summary>Writes the file once and opens it for read/write.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _image = Ext4WriteBenchData.ImageWithLargeFile(Fragmented);
        _block = Ext4WriteBenchData.TextChunk().AsSpan(0, 4096).ToArray();
        _device = new MemoryBlockDevice(_image);
        _fs = Ext4WriteBenchData.OpenWritable(_device);
        _stream = _fs.OpenFile(Ext4WriteBenchData.LargeFilePath, FileMode.Open, FileAccess.ReadWrite);
        var rng = new Random(BenchmarkData.Seed);
        _offsets = new long[Overwrites];
        for (int i = 0; i < Overwrites; i++)
        {
            _offsets[i] = (long)rng.Next(Ext4WriteBenchData.LargeFileSize / 4096) * 4096;
        }
    }

    /// <summary>Closes the file and the file system.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _stream?.Dispose();
        _fs?.Dispose();
        _device?.Dispose();
        _stream = null;
        _fs = null;
        _device = null;
    }

    /// <summary>One 4 KiB overwrite (mean per write; 1,024 per invocation).</summary>
    [Benchmark(OperationsPerInvoke = Overwrites)]
    public long RandomOverwrite4KiB()
    {
        Stream s = _stream!;
        long[] offsets = _offsets;
        for (int i = 0; i < offsets.Length; i++)
        {
            s.Position = offsets[i];
            s.Write(_block);
        }

        return s.Position;
    }
}
