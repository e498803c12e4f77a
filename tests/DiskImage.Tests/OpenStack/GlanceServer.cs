using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.OpenStack;

/// <summary>
/// A real glance-api (Debian's package) on 127.0.0.1 for the upload tests: sqlite database, file store,
/// no authentication (paste flavor empty), one process, and a policy that lets the anonymous admin
/// context create public images. Started once per test run in a temporary directory and stopped at the end.
/// </summary>
public sealed class GlanceServer : IDisposable
{
    private readonly string? _unavailable;
    private readonly Process? _process;
    private readonly string _stateDirectory;
    private readonly System.Text.StringBuilder _log = new();

    public GlanceServer()
    {
        _stateDirectory = Path.Combine(Path.GetTempPath(), "diskimage-glance-" + Guid.NewGuid().ToString("N")[..8]);
        if (Oracle.Find("glance-api") is null || Oracle.Find("glance-manage") is null)
        {
            _unavailable = "glance-api is not installed (Debian packages glance-api and keystone; see .ci/run).";
            return;
        }

        try
        {
            Port = FreePort();
            string paste = "/usr/share/glance-common/glance-api-paste.ini";
            Directory.CreateDirectory(Path.Combine(_stateDirectory, "images"));
            Directory.CreateDirectory(Path.Combine(_stateDirectory, "staging"));
            Directory.CreateDirectory(Path.Combine(_stateDirectory, "lock"));
            File.Copy(paste, Path.Combine(_stateDirectory, "glance-api-paste.ini"));
            File.WriteAllText(Path.Combine(_stateDirectory, "policy.yaml"), "\"publicize_image\": \"@\"\n\"communitize_image\": \"@\"\n");
            File.WriteAllText(ConfigFile, $"""
                [DEFAULT]
                bind_host = 127.0.0.1
                bind_port = {Port}
                workers = 0
                use_stderr = true
                debug = false
                image_size_cap = {ImageSizeCap}
                node_staging_uri = file://{_stateDirectory}/staging

                [database]
                connection = sqlite:///{_stateDirectory}/glance.sqlite

                [glance_store]
                stores = file
                default_store = file
                filesystem_store_datadir = {_stateDirectory}/images/

                [paste_deploy]
                flavor =
                config_file = {_stateDirectory}/glance-api-paste.ini

                [oslo_concurrency]
                lock_path = {_stateDirectory}/lock

                [oslo_policy]
                policy_file = {_stateDirectory}/policy.yaml
                """);
            ToolResult sync = Oracle.Run("glance-manage", ["--config-file", ConfigFile, "db_sync"], TimeSpan.FromMinutes(5));
            if (sync.ExitCode != 0)
            {
                _unavailable = "glance-manage db_sync failed: " + sync;
                return;
            }

            var psi = new ProcessStartInfo(Oracle.Find("glance-api")!)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            psi.ArgumentList.Add("--config-file");
            psi.ArgumentList.Add(ConfigFile);
            _process = Process.Start(psi) ?? throw new InvalidOperationException("glance-api did not start.");
            _process.OutputDataReceived += (_, e) => Append(e.Data);
            _process.ErrorDataReceived += (_, e) => Append(e.Data);
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
            Endpoint = new Uri($"http://127.0.0.1:{Port}");
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var clock = Stopwatch.StartNew();
            while (true)
            {
                if (_process.HasExited)
                {
                    _unavailable = $"glance-api exited with {_process.ExitCode}:\n{Log}";
                    return;
                }

                try
                {
                    using HttpResponseMessage r = http.GetAsync(Endpoint).GetAwaiter().GetResult();
                    if (r.StatusCode == HttpStatusCode.MultipleChoices)
                    {
                        break;
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
                    _unavailable = "glance-api did not answer within 3 minutes:\n" + Log;
                    return;
                }

                Thread.Sleep(250);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            _unavailable = "glance-api could not be set up: " + e.Message;
        }
    }

    /// <summary>The largest image the server accepts (413 above it).</summary>
    public const long ImageSizeCap = 64L << 20;

    public int Port { get; }

    public Uri Endpoint { get; } = new("http://127.0.0.1:1");

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

    private string ConfigFile => Path.Combine(_stateDirectory, "glance-api.conf");

    /// <summary>Skips (or fails under DISKIMAGE_REQUIRE_ORACLES=1) when the server is not running.</summary>
    public void Require()
    {
        if (_unavailable is null)
        {
            return;
        }

        if (Oracle.Required)
        {
            Assert.Fail(_unavailable);
        }

        throw new SkipException(_unavailable);
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
            Directory.Delete(_stateDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
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

/// <summary>The tests that talk to the real glance-api and Keystone; both servers start once for all of them.</summary>
[CollectionDefinition(Name)]
public sealed class GlanceCollection : ICollectionFixture<GlanceServer>, ICollectionFixture<KeystoneServer>
{
    public const string Name = "openstack-services";
}
