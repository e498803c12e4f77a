using BenchmarkDotNet.Attributes;
using DiskImage.Archives.Cpio;

namespace DiskImage.Benchmarks.Archives;

/// <summary>Writer and reader throughput on a synthetic 64 MiB tree (2,000 files of mixed sizes, half compressible).</summary>
[MemoryDiagnoser]
public class CpioBenchmarks
{
    private InMemoryTreeSource _tree = null!;
    private byte[] _plain = null!;
    private byte[] _zstd = null!;
    private byte[] _gzip = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42);
        _tree = new InMemoryTreeSource();
        for (int i = 0; i < 2000; i++)
        {
            byte[] data = new byte[rng.Next(0, 64 * 1024)];
            if (i % 2 == 0)
            {
                rng.NextBytes(data);
            }
            else
            {
                for (int j = 0; j < data.Length; j++)
                {
                    data[j] = (byte)"the quick brown fox jumps over the lazy dog\n"[j % 44];
                }
            }

            _tree.AddFile($"usr/lib/d{i % 50}/file{i}.bin", data);
        }

        _plain = Build(InitramfsCompression.None);
        _zstd = Build(InitramfsCompression.Zstd);
        _gzip = Build(InitramfsCompression.Gzip);
    }

    [Benchmark]
    public long WriteNone() => Build(InitramfsCompression.None).LongLength;

    [Benchmark]
    public long WriteZstd() => Build(InitramfsCompression.Zstd).LongLength;

    [Benchmark]
    public long WriteGzip() => Build(InitramfsCompression.Gzip).LongLength;

    [Benchmark]
    public long ReadNone() => ReadAll(_plain);

    [Benchmark]
    public long ReadZstd() => ReadAll(_zstd);

    [Benchmark]
    public long ReadGzip() => ReadAll(_gzip);

    private byte[] Build(InitramfsCompression compression)
    {
        using var ms = new MemoryStream();
        Initramfs.Write(ms, _tree, new InitramfsWriteOptions { Compression = compression, Build = new CpioBuildOptions { Reproducible = true } });
        return ms.ToArray();
    }

    private static long ReadAll(byte[] image)
    {
        long total = 0;
        byte[] buffer = new byte[64 * 1024];
        using var reader = new InitramfsReader(new MemoryStream(image));
        while (reader.GetNextEntry() is { } entry)
        {
            if (entry.DataStream is { } data)
            {
                int n;
                while ((n = data.Read(buffer)) > 0)
                {
                    total += n;
                }
            }
        }

        return total;
    }
}
