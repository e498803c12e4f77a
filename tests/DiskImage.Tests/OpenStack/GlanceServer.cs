using System.Net;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.OpenStack;

/// <summary>
/// A real glance-api (Debian's package) on 127.0.0.1 for the upload tests: sqlite database, file store,
/// no authentication (paste flavor empty), one process, and a policy that lets the anonymous admin
/// context create public images. Started once per test run in a temporary directory and stopped at the end.
/// </summary>
public sealed class GlanceServer : IDisposable
{
    private readonly ServiceProcess _service = new("glance", Path.GetTempPath());

    public GlanceServer()
    {
        if (Oracle.Find("glance-api") is null || Oracle.Find("glance-manage") is null)
        {
            _service.MarkUnavailable("glance-api is not installed (Debian packages glance-api and keystone; see .ci/run).");
            return;
        }

        string state = _service.StateDirectory;
        try
        {
            Port = ServiceProcess.FreePort();
            Directory.CreateDirectory(Path.Combine(state, "images"));
            Directory.CreateDirectory(Path.Combine(state, "staging"));
            Directory.CreateDirectory(Path.Combine(state, "lock"));
            File.Copy("/usr/share/glance-common/glance-api-paste.ini", Path.Combine(state, "glance-api-paste.ini"));
            File.WriteAllText(Path.Combine(state, "policy.yaml"), "\"publicize_image\": \"@\"\n\"communitize_image\": \"@\"\n");
            File.WriteAllText(ConfigFile, $"""
                [DEFAULT]
                bind_host = 127.0.0.1
                bind_port = {Port}
                workers = 0
                use_stderr = true
                debug = false
                image_size_cap = {ImageSizeCap}
                node_staging_uri = file://{state}/staging

                [database]
                connection = sqlite:///{state}/glance.sqlite

                [glance_store]
                stores = file
                default_store = file
                filesystem_store_datadir = {state}/images/

                [paste_deploy]
                flavor =
                config_file = {state}/glance-api-paste.ini

                [oslo_concurrency]
                lock_path = {state}/lock

                [oslo_policy]
                policy_file = {state}/policy.yaml
                """);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _service.MarkUnavailable("glance-api could not be set up: " + e.Message);
            return;
        }

        ToolResult sync = Oracle.Run("glance-manage", ["--config-file", ConfigFile, "db_sync"], TimeSpan.FromMinutes(5));
        if (sync.ExitCode != 0)
        {
            _service.MarkUnavailable("glance-manage db_sync failed: " + sync);
            return;
        }

        Endpoint = new Uri($"http://127.0.0.1:{Port}");
        _service.Start("glance-api", ["--config-file", ConfigFile], new Dictionary<string, string>(), Endpoint, status => status == HttpStatusCode.MultipleChoices);
    }

    /// <summary>The largest image the server accepts (413 above it).</summary>
    public const long ImageSizeCap = 64L << 20;

    public int Port { get; }

    public Uri Endpoint { get; } = new("http://127.0.0.1:1");

    public string Log => _service.Log;

    private string ConfigFile => Path.Combine(_service.StateDirectory, "glance-api.conf");

    /// <summary>Skips (or fails under DISKIMAGE_REQUIRE_ORACLES=1) when the server is not running.</summary>
    public void Require() => _service.Require();

    public void Dispose() => _service.Dispose();
}

/// <summary>The tests that talk to the real glance-api and Keystone; both servers start once for all of them.</summary>
[CollectionDefinition(Name)]
public sealed class GlanceCollection : ICollectionFixture<GlanceServer>, ICollectionFixture<KeystoneServer>
{
    public const string Name = "openstack-services";
}
