using System.Diagnostics;
using System.Text;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Cli;

/// <summary>
/// The built <c>diskimage</c> CLI run as a child process (<c>dotnet DiskImage.Cli.dll</c>), so that real signals
/// reach its handlers: start it, wait until it has begun its work, send SIGINT/SIGTERM, collect what it printed.
/// </summary>
internal sealed class CliProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private CliProcess(Process process)
    {
        _process = process;
    }

    /// <summary>The child's process id.</summary>
    public int Id => _process.Id;

    /// <summary>Whether the child has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Starts <c>diskimage args</c>.</summary>
    public static CliProcess Start(params string[] args) => Start(null, args);

    /// <summary>Starts <c>diskimage args</c> with <paramref name="environment"/> added to the inherited variables.</summary>
    public static CliProcess Start(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "DiskImage.Cli.dll");
        Assert.True(File.Exists(dll), $"The CLI is not built next to the tests: {dll}");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
            ? host
            : Oracle.Find("dotnet") ?? "dotnet";
        var psi = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (KeyValuePair<string, string> v in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[v.Key] = v.Value;
        }

        psi.ArgumentList.Add(dll);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        var process = Process.Start(psi) ?? throw new InvalidOperationException("Could not start the CLI.");
        var cli = new CliProcess(process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (cli._stdout) { cli._stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (cli._stderr) { cli._stderr.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    /// <summary>Polls <paramref name="started"/> until it holds (the child has begun its work); fails if the child exits first.</summary>
    public void WaitUntil(Func<bool> started, string what, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        while (!started())
        {
            if (_process.HasExited)
            {
                _process.WaitForExit();
                Assert.Fail($"The CLI exited before {what}: {Result()}");
            }

            Assert.True(clock.Elapsed < (timeout ?? TimeSpan.FromSeconds(60)), $"Timed out waiting until {what}.");
            Thread.Sleep(5);
        }
    }

    /// <summary>Sends a signal by name (INT, TERM) with kill(1).</summary>
    public void Signal(string name) => Oracle.RunOk("kill", "-" + name, Id.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Kills the child (SIGKILL: no handler runs, nothing is cleaned up) and waits for it to go.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        _process.WaitForExit();
    }

    /// <summary>Waits for the exit and returns what the child printed.</summary>
    public CliResult WaitForExit(TimeSpan? timeout = null)
    {
        if (!_process.WaitForExit(timeout ?? TimeSpan.FromMinutes(2)))
        {
            _process.Kill(entireProcessTree: true);
            Assert.Fail("The CLI did not exit after the signal.");
        }

        _process.WaitForExit();
        return Result();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    private CliResult Result()
    {
        lock (_stdout)
        {
            lock (_stderr)
            {
                return new CliResult(_process.HasExited ? _process.ExitCode : -1, _stdout.ToString(), _stderr.ToString());
            }
        }
    }
}
