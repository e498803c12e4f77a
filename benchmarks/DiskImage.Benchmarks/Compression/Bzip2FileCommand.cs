using System.Diagnostics;
using DiskImage.Archives.Cpio;

namespace DiskImage.Benchmarks.Compression;

/// <summary>
/// <c>bzip2-file &lt;in&gt; &lt;out&gt; &lt;workers&gt;</c>: compresses one file with our bzip2 encoder (0 workers: on the
/// calling thread only) and prints the seconds taken; benchmarks/compare-cpio.sh times it against <c>bzip2 -9</c>
/// on the same cpio archive to compare per-core speed.
/// </summary>
internal static class Bzip2FileCommand
{
    public static int Run(string[] args)
    {
        var sw = Stopwatch.StartNew();
        using (FileStream input = File.OpenRead(args[0]))
        using (FileStream output = File.Create(args[1]))
        using (var bzip2 = new ParallelBzip2WriteStream(output, int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture)))
        {
            input.CopyTo(bzip2, 1 << 20);
        }

        Console.WriteLine($"{sw.Elapsed.TotalSeconds:F3}");
        return 0;
    }
}
