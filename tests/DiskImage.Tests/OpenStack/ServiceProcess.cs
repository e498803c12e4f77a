using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.OpenStack;

/// <summary>
/// One OpenStack service process started by a test fixture: its state directory, its captured log, the wait
/// until it answers, the skip-or-fail when it could not be set up, and the stop and clean-up at the end.
/// </summary>
internal sealed class ServiceProcess : IDisposable
{
    private readonly StringBuilder _log = new();
    private Process? _process;

    public ServiceProcess(string name, string stateRoot)
    {
        Name = name;
        StateDirectory = Path.Combine(stateRoot, "diskimage-" + name + "-" + Guid.NewGuid().ToString("N")[..8]);
    }

    public string Name { get; }

    public string StateDirectory { get; }

    /// <summary>Why the service is not available, or null when it runs.</summary>
    public string? Unavailable { get; private set; }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>The last lines the server printed, for failure messages.</summary>
    public string LogTail()
    {
        string log = Log;
        return log.Length <= 4000 ? log : log[^4000..];
    }

    /// <summary>Records why the service cannot run; <see cref="Require"/> then skips or fails with it.</summary>
    public void MarkUnavailable(string reason) => Unavailable ??= reason;

    /// <summary>
    /// Starts <paramref name="program"/> with <paramref name="arguments"/> and waits until a GET of
    /// <paramref name="probe"/> answers with a status <paramref name="ready"/> accepts. Returns false (and
    /// records why) when the program is missing, exits, or does not answer within three minutes.
    /// </summary>
    public bool Start(string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, Uri probe, Func<HttpStatusCode, bool> ready)
    {
        string? path = Oracle.Find(program);
        if (path is null)
        {
            MarkUnavailable(program + " is not installed (see .ci/run).");
            return false;
        }

        try
        {
            var psi = new ProcessStartInfo(path)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (string argument in arguments)
            {
                psi.ArgumentList.Add(argument);
            }

            foreach (KeyValuePair<string, string> variable in environment)
            {
                psi.Environment[variable.Key] = variable.Value;
            }

            _process = Process.Start(psi) ?? throw new InvalidOperationException(program + " did not start.");
            _process.OutputDataReceived += (_, e) => Append(e.Data);
            _process.ErrorDataReceived += (_, e) => Append(e.Data);
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            MarkUnavailable(program + " could not be started: " + e.Message);
            return false;
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                MarkUnavailable($"{program} exited with {_process.ExitCode}:\n{Log}");
                return false;
            }

            try
            {
                using HttpResponseMessage r = http.GetAsync(probe).GetAwaiter().GetResult();
                if (ready(r.StatusCode))
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            if (clock.Elapsed > TimeSpan.FromMinutes(3))
            {
                MarkUnavailable($"{program} did not answer within 3 minutes:\n{Log}");
                return false;
            }

            Thread.Sleep(250);
        }
    }

    /// <summary>Skips (or fails under DISKIMAGE_REQUIRE_ORACLES=1) when the service is not running.</summary>
    public void Require()
    {
        if (Unavailable is null)
        {
            return;
        }

        if (Oracle.Required)
        {
            Assert.Fail(Unavailable);
        }

        throw new SkipException(Unavailable);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        if (_process is not null)
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                    _process.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            _process.Dispose();
        }

        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            if (_log.Length < 200_000)
            {
                _log.AppendLine(line);
            }
        }
    }
}
