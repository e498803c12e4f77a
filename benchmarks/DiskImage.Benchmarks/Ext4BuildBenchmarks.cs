using BenchmarkDotNet.Attributes;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;

namespace DiskImage.Benchmarks;

/// <summary>
/// ext4 build-from-tree and file throughput on a synthetic 64 MiB tree (2,000 files of mixed sizes in 50
/// directories, held in an <see cref="InMemoryFileSystem"/> so that only ext4 work is measured): building a
/// 1 KiB-block image into memory (file write throughput), then reading every file back through the reader.
/// The whole-process comparison with <c>mke2fs -d</c> on a real tree is benchmarks/compare-mke2fs.sh.
/// </summary>
[MemoryDiagnoser]
public class Ext4BuildBenchmarks
{
    private static readonly Ext4BuildOptions Options = new()
    {
        Format = new Ext4FormatOptions
        {
            Uuid = new Guid("11111111-2222-4333-8444-555555555555"),
            HashSeed = new Guid("66666666-7777-4888-9999-aaaaaaaaaaaa"),
            Timestamp = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero),
        },
    };

    private InMemoryFileSystem _tree = null!;
    private long _size;
    private byte[] _image = null!;
    private byte[] _buffer = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(BenchmarkData.Seed);
        _tree = new InMemoryFileSystem();
        for (int d = 0; d < 50; d++)
        {
            _tree.CreateDirectory($"/d{d}");
        }

        byte[] data = new byte[64 * 1024];
        for (int i = 0; i < 2000; i++)
        {
            int length = rng.Next(0, data.Length);
            BenchmarkData.FillText(rng, data.AsSpan(0, length));
            using Stream s = _tree.OpenFile($"/d{i % 50}/file{i}", FileMode.CreateNew, FileAccess.Write);
            s.Write(data, 0, length);
        }

        _size = Ext4FileSystem.ComputeBuildSize(_tree, new Ext4BuildOptions { Format = Options.Format, ExtraPercent = 10 });
        var device = new MemoryBlockDevice(checked((int)_size));
        Ext4FileSystem.Build(device, _tree, Options);
        _image = new byte[_size];
        device.ReadExactly(0, _image);
        _buffer = new byte[1 << 20];
    }

    /// <summary>Format plus every file written (about 64 MiB of data).</summary>
    [Benchmark]
    public long BuildFromTree()
    {
        var device = new MemoryBlockDevice(checked((int)_size));
        Ext4FileSystem.Build(device, _tree, Options);
        return device.Length;
    }

    /// <summary>The size computation alone (a metadata scan plus layout planning per probed size).</summary>
    [Benchmark]
    public long ComputeBuildSize() => Ext4FileSystem.ComputeBuildSize(_tree, Options);

    /// <summary>Every file read back through the reader (file read throughput).</summary>
    [Benchmark]
    public long ReadAllFiles()
    {
        using var device = new MemoryBlockDevice(_image, writable: false);
        using Ext4FileSystem fs = Ext4FileSystem.Open(device);
        long total = 0;
        for (int d = 0; d < 50; d++)
        {
            foreach (UnixFileInfo e in fs.EnumerateDirectory($"/d{d}"))
            {
                using Stream s = fs.OpenFile(e.Path, FileMode.Open, FileAccess.Read);
                int n;
                while ((n = s.Read(_buffer)) > 0)
                {
                    total += n;
                }
            }
        }

        return total;
    }
}
