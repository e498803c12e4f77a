namespace DiskImage.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        // The first Ctrl+C cancels the running operation (a partial convert target is removed); a second one kills.
        using var cancellation = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (!cancellation.IsCancellationRequested)
            {
                e.Cancel = true;
                cancellation.Cancel();
            }
        };
        using Stream binaryStdout = Console.OpenStandardOutput();
        return Cli.Run(args, Console.Out, Console.Error, binaryStdout, cancellation.Token);
    }
}
