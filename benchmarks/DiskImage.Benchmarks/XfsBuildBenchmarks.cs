using BenchmarkDotNet.Attributes;
using DiskImage.FileSystems.InMemory;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;

namespace DiskImage.Benchmarks;

/// <summary>
/// XFS build-from-tree on a synthetic tree held in an <see cref="InMemoryFileSystem"/> (so that only XFS work is measured):
/// the build into memory, and the size computation alone. <see cref="Tree"/> picks a data-heavy tree (2,000 files, about
/// 64 MiB) or a metadata-heavy one (5,000 small files and 500 symbolic links in 250 directories); see <see cref="XfsBenchData"/>.
/// The whole-process comparison with <c>mkfs.xfs -p</c> on a real tree is benchmarks/compare-mkfs-xfs.sh.
/// </summary>
[MemoryDiagnoser]
public class XfsBuildBenchmarks
{
    private static readonly XfsBuildOptions Options = new() { Format = XfsBenchData.Format };

    private InMemoryFileSystem _tree = null!;
    private long _size;

    /// <summary>The tree shape (<see cref="XfsBenchData.Mixed"/> or <see cref="XfsBenchData.Small"/>).</summary>
    [Params(XfsBenchData.Mixed, XfsBenchData.Small)]
    public string Tree { get; set; } = XfsBenchData.Mixed;

    /// <summary>Generates the tree and sizes the image (10 % over the smallest fit).</summary>
    [GlobalSetup]
    public void Setup()
    {
        _tree = XfsBenchData.Tree(Tree);
        _size = XfsFileSystem.ComputeBuildSize(_tree, new XfsBuildOptions { Format = XfsBenchData.Format, ExtraPercent = 10 });
    }

    /// <summary>Format plus every entry and every file's data written.</summary>
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
