using System.Diagnostics;
using DiskImage.Archives.Cpio;

namespace DiskImage.Benchmarks.Archives;

/// <summary><c>pack-initramfs &lt;dir&gt; &lt;out&gt; &lt;none|gzip|zstd|...&gt;</c>: one timed pack, used by benchmarks/compare-cpio.sh.</summary>
internal static class CpioPackCommand
{
    public static int Run(string[] args)
    {
        var sw = Stopwatch.StartNew();
        Initramfs.Pack(args[0], args[1], new InitramfsWriteOptions
        {
            Compression = Enum.Parse<InitramfsCompression>(args[2], ignoreCase: true),
            Build = new CpioBuildOptions { Reproducible = true },
            CompressionLevel = int.TryParse(Environment.GetEnvironmentVariable("DISKIMAGE_LEVEL"), out int level) ? level : null,
            ZstdWorkers = int.TryParse(Environment.GetEnvironmentVariable("DISKIMAGE_ZSTD_WORKERS"), out int w) ? w : null,
            GzipWorkers = int.TryParse(Environment.GetEnvironmentVariable("DISKIMAGE_GZIP_WORKERS"), out int g) ? g : null,
        }, overwrite: true);
        Console.WriteLine($"{sw.Elapsed.TotalSeconds:F3}");
        return 0;
    }
}
