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
        // Names that are not valid UTF-8 travel as their raw bytes: recovered from argv, printed as bytes.
        args = RawArguments.Recover(args);
        Console.OutputEncoding = RawNameConsoleEncoding.Instance;
        using Stream binaryStdout = Console.OpenStandardOutput();
        return Cli.Run(args, Console.Out, Console.Error, binaryStdout, cancellation.Token);
    }
}
