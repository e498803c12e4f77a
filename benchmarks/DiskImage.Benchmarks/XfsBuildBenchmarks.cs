using BenchmarkDotNet.Attributes;
using DiskImage.FileSystems.InMemory;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;

namespace DiskImage.Benchmarks;

/// <summary>
/// XFS build-from-tree on a synthetic 64 MiB tree (2,000 files of mixed sizes in 50 directories, held in an
/// <see cref="InMemoryFileSystem"/> so that only XFS work is measured): size computation, then the build into
/// memory. The whole-process comparison with <c>mkfs.xfs -p</c> on a real tree is benchmarks/compare-mkfs-xfs.sh.
/// </summary>
[MemoryDiagnoser]
public class XfsBuildBenchmarks
{
    private static readonly XfsBuildOptions Options = new()
    {
        Format = new XfsFormatOptions
        {
            Uuid = new Guid("11111111-2222-4333-8444-555555555555"),
            Timestamp = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero),
        },
    };

    private InMemoryFileSystem _tree = null!;
    private long _size;

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

        _size = XfsFileSystem.ComputeBuildSize(_tree, new XfsBuildOptions { Format = Options.Format, ExtraPercent = 10 });
    }

    /// <summary>Format plus every file written (about 64 MiB of data).</summary>
    [Benchmark]
    public long BuildFromTree()
    {
        var device = new MemoryBlockDevice(checked((int)_size));
        XfsFileSystem.Build(device, _tree, Options);
        return device.Length;
    }

    /// <summary>The size computation alone (a metadata scan plus dry layouts per probed size).</summary>
    [Benchmark]
    public long ComputeBuildSize() => XfsFileSystem.ComputeBuildSize(_tree, Options);
}
