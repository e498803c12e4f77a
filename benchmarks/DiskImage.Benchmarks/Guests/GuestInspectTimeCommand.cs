using System.Diagnostics;
using System.Globalization;
using DiskImage.Guests;

namespace DiskImage.Benchmarks.Guests;

/// <summary>
/// <c>time-inspect &lt;image&gt; &lt;runs&gt;</c>: Guest.Open + Inspect timed in-process (after one warm-up), printing the
/// best and the median in milliseconds; used by benchmarks/compare-inspect.sh next to the whole-process timings.
/// </summary>
internal static class GuestInspectTimeCommand
{
    public static int Run(string[] args)
    {
        int runs = int.Parse(args[1], CultureInfo.InvariantCulture);
        Inspect(args[0]);
        double[] ms = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            long start = Stopwatch.GetTimestamp();
            Inspect(args[0]);
            ms[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(ms);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{ms[0]:F2} {ms[runs / 2]:F2}"));
        return 0;
    }

    private static void Inspect(string image)
    {
        using Guest guest = Guest.Open(image);
        if (guest.Inspect().Count != 1)
        {
            throw new InvalidOperationException("The guest was not inspected as one operating system.");
        }
    }
}
