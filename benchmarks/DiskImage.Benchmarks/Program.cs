using BenchmarkDotNet.Running;

namespace DiskImage.Benchmarks;

internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length == 4 && args[0] == "pack-initramfs")
        {
            return Archives.CpioPackCommand.Run(args[1..]);
        }

        if (args.Length == 4 && args[0] == "bzip2-file")
        {
            return Compression.Bzip2FileCommand.Run(args[1..]);
        }

        if (args.Length is 2 or 3 && args[0] == "build-guest")
        {
            return Guests.GuestBuildCommand.Run(args[1..]);
        }

        if (args.Length == 3 && args[0] == "time-inspect")
        {
            return Guests.GuestInspectTimeCommand.Run(args[1..]);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
