using BenchmarkDotNet.Attributes;
using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Benchmarks.Conversion;

/// <summary>
/// Whole-image conversions with <see cref="ImageConverter"/> of a 256 MiB sparse raw image with a
/// mix of text, random bytes, zeros and holes (see <see cref="BenchmarkData.WriteMixedRawImage"/>).
/// Inputs are made once; each operation writes a new target file (page cache warm, no fsync).
/// </summary>
[MemoryDiagnoser]
public class ConvertBenchmarks
{
    private const long ImageSize = 256L * 1024 * 1024;

    private string? _directory;
    private string _target = "";
    private FileBlockDevice? _raw;
    private DiskImageFile? _qcow2;

    /// <summary>Writes the raw input and a deflate-compressed qcow2 copy of it.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _directory = BenchmarkData.CreateScratchDirectory();
        string rawPath = Path.Combine(_directory, "input.raw");
        string qcow2Path = Path.Combine(_directory, "input.qcow2");
        _target = Path.Combine(_directory, "output.img");
        BenchmarkData.WriteMixedRawImage(rawPath, ImageSize);
        _raw = FileBlockDevice.Open(rawPath);
        ImageConverter.Convert(_raw, qcow2Path, new ConvertOptions { TargetFormat = DiskImageFormat.Qcow2, Compress = true });
        _qcow2 = DiskImageFile.Open(qcow2Path);
    }

    /// <summary>Closes the inputs and deletes every file.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _raw?.Dispose();
        _qcow2?.Dispose();
        BenchmarkData.DeleteScratchDirectory(_directory);
    }

    /// <summary><c>convert -f raw -O qcow2</c>.</summary>
    [Benchmark]
    public long RawToQcow2() => Convert(_raw!, new ConvertOptions { TargetFormat = DiskImageFormat.Qcow2 });

    /// <summary><c>convert -f qcow2 -O raw</c> from a deflate-compressed image.</summary>
    [Benchmark]
    public long Qcow2ToRaw() => Convert(_qcow2!.Content, new ConvertOptions { TargetFormat = DiskImageFormat.Raw });

    /// <summary><c>convert -f raw -O qcow2 -c</c> (deflate), on all cores.</summary>
    [Benchmark]
    public long RawToQcow2Deflate() => Convert(_raw!, new ConvertOptions { TargetFormat = DiskImageFormat.Qcow2, Compress = true });

    /// <summary><c>convert -f raw -O qcow2 -c -o compression_type=zstd</c>, on all cores.</summary>
    [Benchmark]
    public long RawToQcow2Zstd() => Convert(_raw!, new ConvertOptions
    {
        TargetFormat = DiskImageFormat.Qcow2,
        Compress = true,
        Qcow2 = new Qcow2CreateOptions { CompressionType = Qcow2CompressionType.Zstd },
    });

    private long Convert(BlockDevice source, ConvertOptions options)
    {
        ImageConverter.Convert(source, _target, options);
        return new FileInfo(_target).Length;
    }
}
