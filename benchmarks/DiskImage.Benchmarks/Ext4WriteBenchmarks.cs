using BenchmarkDotNet.Attributes;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;

namespace DiskImage.Benchmarks;

/// <summary>Shared set-up of the ext4 writer benchmarks: a formatted image kept as a byte array.</summary>
internal static class Ext4WriteBenchData
{
    /// <summary>Size of the formatted image.</summary>
    public const int ImageSize = 512 << 20;

    /// <summary>Size of the large file of the throughput benchmarks.</summary>
    public const int LargeFileSize = 64 << 20;

    /// <summary>Size of one write or read call of the throughput benchmarks.</summary>
    public const int ChunkSize = 1 << 20;

    /// <summary>Path of the large file.</summary>
    public const string LargeFilePath = "/large.bin";

    /// <summary>A fixed clock, so that every run writes the same bytes.</summary>
    public static readonly UnixTime Time = new(1_767_225_600, 0);

    private static readonly Ext4FormatOptions FormatOptions = new()
    {
        Profile = Ext4FormatProfile.Debian12,
        BlockSize = 4096,
        Uuid = new Guid("11111111-2222-4333-8444-555555555555"),
        HashSeed = new Guid("66666666-7777-4888-9999-aaaaaaaaaaaa"),
        Timestamp = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero),
    };

    /// <summary>An empty ext4 file system of <see cref="ImageSize"/> bytes (Debian 12 profile, 4 KiB blocks).</summary>
    public static byte[] FormatImage()
    {
        byte[] image = new byte[ImageSize];
        using var device = new MemoryBlockDevice(image);
        Ext4FileSystem.Format(device, FormatOptions);
        return image;
    }

    /// <summary>
    /// A formatted image holding <see cref="LargeFilePath"/> (text-like data) written through the writer: in
    /// <see cref="ChunkSize"/> calls (a few extents, all in the inode), or, when <paramref name="fragmented"/>,
    /// in 64 KiB calls alternating with a second file of the same size, so that it has 1,024 extents (an extent
    /// tree of depth 1).
    /// </summary>
    public static byte[] ImageWithLargeFile(bool fragmented = false)
    {
        byte[] image = FormatImage();
        byte[] chunk = TextChunk();
        using var device = new MemoryBlockDevice(image);
        using (Ext4FileSystem fs = OpenWritable(device))
        {
            using Stream s = fs.OpenFile(LargeFilePath, FileMode.CreateNew, FileAccess.Write);
            if (fragmented)
            {
                const int Piece = 64 * 1024;
                using Stream other = fs.OpenFile("/interleaved.bin", FileMode.CreateNew, FileAccess.Write);
                for (int i = 0; i < LargeFileSize / Piece; i++)
                {
                    s.Write(chunk, 0, Piece);
                    other.Write(chunk, 0, Piece);
                }
            }
            else
            {
                for (int i = 0; i < LargeFileSize / ChunkSize; i++)
                {
                    s.Write(chunk);
                }
            }
        }

        return image;
    }

    /// <summary>One <see cref="ChunkSize"/> buffer of text-like bytes.</summary>
    public static byte[] TextChunk()
    {
        byte[] chunk = new byte[ChunkSize];
        BenchmarkData.FillText(new Random(BenchmarkData.Seed), chunk);
        return chunk;
    }

    /// <summary>Opens <paramref name="device"/> writable with the fixed clock.</summary>
    public static Ext4FileSystem OpenWritable(BlockDevice device) =>
        Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true, Clock = static () => Time });
}

/// <summary>
/// The incremental ext4 writer (<see cref="Ext4FileSystem.Open"/> with <see cref="Ext4OpenOptions.Writable"/>) on a
/// 512 MiB image in memory (Debian 12 profile, 4 KiB blocks). Benchmarks that change the allocation state start
/// each iteration from a copy of a freshly formatted image (copied outside the measured region) and include the
/// final <see cref="Ext4FileSystem.Flush"/>.
/// </summary>
[MemoryDiagnoser]
public class Ext4WriteBenchmarks
{
    private const int Directories = 100;
    private const int SmallFiles = 10_000;

    private byte[] _template = null!;
    private byte[] _work = null!;
    private byte[] _chunk = null!;
    private MemoryBlockDevice? _device;
    private Ext4FileSystem? _fs;
    private string[] _directoryPaths = null!;
    private string[] _smallFilePaths = null!;
    private int[] _smallFileSizes = null!;
    private string[] _flatFilePaths = null!;
    private InMemoryFileSystem _tree = null!;

    /// <summary>Formats the template image, once per benchmark.</summary>
    [GlobalSetup(Targets = [nameof(SequentialWrite64MiB), nameof(SequentialWrite64MiBIn4KiB), nameof(CreateSmallFiles), nameof(CreateSmallFilesInOneDirectory), nameof(CopyTree)])]
    public void SetupFresh()
    {
        _template = Ext4WriteBenchData.FormatImage();
        _work = new byte[_template.Length];
        _chunk = Ext4WriteBenchData.TextChunk();

        _directoryPaths = new string[Directories];
        for (int d = 0; d < Directories; d++)
        {
            _directoryPaths[d] = $"/dir{d:D3}";
        }

        var rng = new Random(BenchmarkData.Seed);
        _smallFilePaths = new string[SmallFiles];
        _smallFileSizes = new int[SmallFiles];
        for (int i = 0; i < SmallFiles; i++)
        {
            _smallFilePaths[i] = $"/dir{i % Directories:D3}/file{i:D5}.txt";
            _smallFileSizes[i] = rng.Next(1024, 8192 + 1);
        }

        _flatFilePaths = new string[SmallFiles];
        for (int i = 0; i < SmallFiles; i++)
        {
            _flatFilePaths[i] = $"/flat/file{i:D5}.txt";
        }

        // The same tree as Ext4BuildBenchmarks: 2,000 text-like files of 0-64 KiB in 50 directories (about 64 MiB).
        _tree = new InMemoryFileSystem();
        _tree.CreateDirectory("/tree");
        for (int d = 0; d < 50; d++)
        {
            _tree.CreateDirectory($"/tree/d{d}");
        }

        byte[] data = new byte[64 * 1024];
        for (int i = 0; i < 2000; i++)
        {
            int length = rng.Next(0, data.Length);
            BenchmarkData.FillText(rng, data.AsSpan(0, length));
            using Stream s = _tree.OpenFile($"/tree/d{i % 50}/file{i}", FileMode.CreateNew, FileAccess.Write);
            s.Write(data, 0, length);
        }
    }

    /// <summary>A fresh copy of the formatted image, opened writable, for every iteration.</summary>
    [IterationSetup(Targets = [nameof(SequentialWrite64MiB), nameof(SequentialWrite64MiBIn4KiB), nameof(CreateSmallFiles), nameof(CreateSmallFilesInOneDirectory), nameof(CopyTree)])]
    public void IterationSetupFresh()
    {
        Buffer.BlockCopy(_template, 0, _work, 0, _template.Length);
        _device = new MemoryBlockDevice(_work);
        _fs = Ext4WriteBenchData.OpenWritable(_device);
    }

    /// <summary>Closes the iteration's file system.</summary>
    [IterationCleanup(Targets = [nameof(SequentialWrite64MiB), nameof(SequentialWrite64MiBIn4KiB), nameof(CreateSmallFiles), nameof(CreateSmallFilesInOneDirectory), nameof(CopyTree)])]
    public void IterationCleanupFresh()
    {
        _fs?.Dispose();
        _device?.Dispose();
        _fs = null;
        _device = null;
    }

    /// <summary>One new 64 MiB file written in 1 MiB calls, then the file system flushed (sequential write throughput).</summary>
    [Benchmark]
    public long SequentialWrite64MiB()
    {
        Ext4FileSystem fs = _fs!;
        using (Stream s = fs.OpenFile("/seq.bin", FileMode.CreateNew, FileAccess.Write))
        {
            for (int i = 0; i < Ext4WriteBenchData.LargeFileSize / Ext4WriteBenchData.ChunkSize; i++)
            {
                s.Write(_chunk);
            }
        }

        fs.Flush();
        return Ext4WriteBenchData.LargeFileSize;
    }

    /// <summary>One new 64 MiB file written in 4 KiB calls (one block each), then the file system flushed.</summary>
    [Benchmark]
    public long SequentialWrite64MiBIn4KiB()
    {
        Ext4FileSystem fs = _fs!;
        using (Stream s = fs.OpenFile("/seq.bin", FileMode.CreateNew, FileAccess.Write))
        {
            ReadOnlySpan<byte> block = _chunk.AsSpan(0, 4096);
            for (int i = 0; i < Ext4WriteBenchData.LargeFileSize / 4096; i++)
            {
                s.Write(block);
            }
        }

        fs.Flush();
        return Ext4WriteBenchData.LargeFileSize;
    }

    /// <summary>
    /// 100 directories and 10,000 new files of 1–8 KiB spread over them (allocation of inodes and blocks, directory
    /// insertion; 100 entries fit in one 4 KiB directory block, so these stay linear), then the file system
    /// flushed. Mean per file.
    /// </summary>
    [Benchmark(OperationsPerInvoke = SmallFiles)]
    public long CreateSmallFiles()
    {
        Ext4FileSystem fs = _fs!;
        foreach (string directory in _directoryPaths)
        {
            fs.CreateDirectory(directory);
        }

        long total = 0;
        for (int i = 0; i < _smallFilePaths.Length; i++)
        {
            int size = _smallFileSizes[i];
            using Stream s = fs.OpenFile(_smallFilePaths[i], FileMode.CreateNew, FileAccess.Write);
            s.Write(_chunk.AsSpan(i & 0xFFFF, size));
            total += size;
        }

        fs.Flush();
        return total;
    }

    /// <summary>
    /// The same 10,000 files of 1–8 KiB in one new directory (about 60 leaf blocks: the directory becomes an htree
    /// and its leaves split as it grows), then the file system flushed. Mean per file.
    /// </summary>
    [Benchmark(OperationsPerInvoke = SmallFiles)]
    public long CreateSmallFilesInOneDirectory()
    {
        Ext4FileSystem fs = _fs!;
        fs.CreateDirectory("/flat");
        long total = 0;
        for (int i = 0; i < _flatFilePaths.Length; i++)
        {
            int size = _smallFileSizes[i];
            using Stream s = fs.OpenFile(_flatFilePaths[i], FileMode.CreateNew, FileAccess.Write);
            s.Write(_chunk.AsSpan(i & 0xFFFF, size));
            total += size;
        }

        fs.Flush();
        return total;
    }

    /// <summary>
    /// <see cref="FileSystemCopy.Copy(IFileSystem, string, IFileSystem, string, FileSystemCopyOptions?)"/> of a
    /// 2,000-file, 64 MiB tree from an <see cref="InMemoryFileSystem"/> into the image (includes the flush).
    /// </summary>
    [Benchmark]
    public long CopyTree()
    {
        FileSystemCopyResult result = FileSystemCopy.Copy(_tree, "/tree", _fs!, "/");
        return result.Copied;
    }
}
