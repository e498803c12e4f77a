namespace DiskImage.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        Console.Error.WriteLine("diskimage: no command yet");
        return args.Length == 0 ? 1 : 1;
    }
}
