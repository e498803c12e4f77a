using System.Runtime.InteropServices;

namespace DiskImage.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        // The first SIGINT (Ctrl+C) or SIGTERM cancels the running operation: the verb stops at its next
        // file or chunk, removes the output it created and exits 128 + the signal. A second signal kills.
        using var cancellation = new CancellationTokenSource();
        int signalled = 0;
        void OnSignal(PosixSignalContext context)
        {
            if (Interlocked.CompareExchange(ref signalled, context.Signal == PosixSignal.SIGTERM ? 15 : 2, 0) == 0)
            {
                context.Cancel = true;
                cancellation.Cancel();
            }
        }

        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        // Names that are not valid UTF-8 travel as their raw bytes: recovered from argv, printed as bytes.
        args = RawArguments.Recover(args);
        Console.OutputEncoding = RawNameConsoleEncoding.Instance;
        using Stream binaryStdout = Console.OpenStandardOutput();
        int code = Cli.Run(args, Console.Out, Console.Error, binaryStdout, cancellation.Token);
        return code == Cli.InterruptedExitCode && Volatile.Read(ref signalled) == 15 ? 128 + 15 : code;
    }
}
