using BenchmarkDotNet.Attributes;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;

namespace DiskImage.Benchmarks;

/// <summary>
/// Read throughput of a 64 MiB file written by the incremental ext4 writer (512 MiB image in memory, Debian 12
/// profile, 4 KiB blocks), in 1 MiB calls: through a read-only open (the reader's stream) and through a writable
/// open (the writer's read/write stream); the file has a few extents in the inode or, fragmented, 1,024 extents.
/// </summary>
[MemoryDiagnoser]
public class Ext4ReadBenchmarks
{
    private byte[] _image = null!;
    private byte[] _buffer = null!;
    private MemoryBlockDevice? _device;
    private Ext4FileSystem? _fs;

    /// <summary>Whether the file has 1,024 extents (an extent tree of depth 1) instead of a few kept in the inode.</summary>
    [ParamsAllValues]
    public bool Fragmented { get; set; }

    /// <summary>Writes the file once and opens the image read-only.</summary>
    [GlobalSetup(Target = nameof(ReadFile64MiB))]
    public void SetupReadOnly()
    {
        _image = Ext4WriteBenchData.ImageWithLargeFile(Fragmented);
        _buffer = new byte[Ext4WriteBenchData.ChunkSize];
        _device = new MemoryBlockDevice(_image, writable: false);
        _fs = Ext4FileSystem.Open(_device);
    }

    /// <summary>Writes the file once and opens the image writable.</summary>
    [GlobalSetup(Target = nameof(ReadFileWritableOpen64MiB))]
    public void SetupWritable()
    {
        _image = Ext4WriteBenchData.ImageWithLargeFile(Fragmented);
        _buffer = new byte[Ext4WriteBenchData.ChunkSize];
        _device = new MemoryBlockDevice(_image);
        _fs = Ext4WriteBenchData.OpenWritable(_device);
    }

    /// <summary>Closes the file system.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _fs?.Dispose();
        _device?.Dispose();
        _fs = null;
        _device = null;
    }

    /// <summary>The whole file read in 1 MiB calls from a read-only open.</summary>
    [Benchmark]
    public long ReadFile64MiB() => ReadAll(FileAccess.Read);

    /// <summary>The whole file read in 1 MiB calls through a read/write stream of a writable open.</summary>
    [Benchmark]
    public long ReadFileWritableOpen64MiB() => ReadAll(FileAccess.ReadWrite);

    private long ReadAll(FileAccess access)
    {
        using Stream s = _fs!.OpenFile(Ext4WriteBenchData.LargeFilePath, FileMode.Open, access);
        long total = 0;
        int n;
        while ((n = s.Read(_buffer)) > 0)
        {
            total += n;
        }

        return total;
    }
}
