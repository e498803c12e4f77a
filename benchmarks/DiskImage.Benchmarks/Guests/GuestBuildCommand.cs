using System.Diagnostics;

namespace DiskImage.Benchmarks.Guests;

/// <summary><c>build-guest &lt;out.qcow2&gt; [tree]</c>: writes the benchmark's whole-disk guest, used by benchmarks/compare-inspect.sh.</summary>
internal static class GuestBuildCommand
{
    public static int Run(string[] args)
    {
        var sw = Stopwatch.StartNew();
        GuestBenchData.Build(args[0], args.Length > 1 && args[1].Length > 0 ? args[1] : null);
        Console.WriteLine($"{sw.Elapsed.TotalSeconds:F3}");
        return 0;
    }
}
