using BenchmarkDotNet.Attributes;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;

namespace DiskImage.Benchmarks;

/// <summary>
/// The XFS writer (<see cref="XfsOpenOptions.Writable"/>) on an image in a <see cref="MemoryBlockDevice"/> built from the
/// 2,000-file tree of <see cref="XfsBuildBenchmarks"/> (about 64 MiB) with 128 MiB free. Every benchmark is a whole session:
/// open writable (which loads every entry's metadata), change, <see cref="XfsFileSystem.Flush"/> (which lays out the whole
/// file system again in a scratch file and copies what it wrote onto the device), dispose. Every iteration starts from a copy
/// of the built image, made in <c>[IterationSetup]</c> outside the measured region.
/// </summary>
[MemoryDiagnoser]
public class XfsWriteBenchmarks
{
    private const int NewFiles = 1000;
    private const int NewDirectories = 10;
    private const int AppendBytes = 4096;

    private byte[] _template = null!;
    private byte[] _work = null!;
    private byte[] _chunk = null!;
    private string[] _newFilePaths = null!;
    private int[] _newFileSizes = null!;
    private string[] _existingPaths = null!;

    /// <summary>Builds the template image and the names and sizes the benchmarks write.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _template = XfsBenchData.BuildImage(XfsBenchData.Tree(XfsBenchData.Mixed), 128L << 20);
        _work = new byte[_template.Length];
        _chunk = new byte[64 * 1024];
        var rng = new Random(BenchmarkData.Seed);
        BenchmarkData.FillText(rng, _chunk);
        _newFilePaths = new string[NewFiles];
        _newFileSizes = new int[NewFiles];
        for (int i = 0; i < NewFiles; i++)
        {
            _newFilePaths[i] = $"/new{i % NewDirectories}/file{i:D4}.txt";
            _newFileSizes[i] = rng.Next(1024, 8192 + 1);
        }

        _existingPaths = new string[NewFiles];
        for (int i = 0; i < NewFiles; i++)
        {
            _existingPaths[i] = $"/d{i % 50}/file{i}";
        }
    }

    /// <summary>A fresh copy of the built image for every iteration.</summary>
    [IterationSetup]
    public void IterationSetup() => Buffer.BlockCopy(_template, 0, _work, 0, _template.Length);

    /// <summary>Open writable, create 10 directories and 1,000 files of 1–8 KiB in them, flush.</summary>
    [Benchmark]
    public long CreateFiles()
    {
        long total = 0;
        using XfsFileSystem fs = OpenWritable();
        for (int d = 0; d < NewDirectories; d++)
        {
            fs.CreateDirectory($"/new{d}");
        }

        for (int i = 0; i < NewFiles; i++)
        {
            int size = _newFileSizes[i];
            using Stream s = fs.OpenFile(_newFilePaths[i], FileMode.CreateNew, FileAccess.Write);
            s.Write(_chunk.AsSpan(i & 0x7FFF, size));
            total += size;
        }

        fs.Flush();
        return total;
    }

    /// <summary>Open writable, append 4 KiB to 1,000 existing files, flush.</summary>
    [Benchmark]
    public long AppendFiles()
    {
        using XfsFileSystem fs = OpenWritable();
        for (int i = 0; i < NewFiles; i++)
        {
            using Stream s = fs.OpenFile(_existingPaths[i], FileMode.Append, FileAccess.Write);
            s.Write(_chunk.AsSpan(i & 0x7FFF, AppendBytes));
        }

        fs.Flush();
        return (long)NewFiles * AppendBytes;
    }

    /// <summary>Open writable, create one 4 KiB file, flush: the fixed cost of a writable session (load plus rewrite).</summary>
    [Benchmark]
    public long CreateOneFile()
    {
        using XfsFileSystem fs = OpenWritable();
        using (Stream s = fs.OpenFile("/one.txt", FileMode.CreateNew, FileAccess.Write))
        {
            s.Write(_chunk.AsSpan(0, AppendBytes));
        }

        fs.Flush();
        return AppendBytes;
    }

    private XfsFileSystem OpenWritable() => XfsFileSystem.Open(new MemoryBlockDevice(_work), new XfsOpenOptions { Writable = true });
}
