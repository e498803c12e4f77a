using System.Net;
using System.Text;
using System.Text.Json;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.OpenStack;

/// <summary>
/// A real Keystone (Debian's package: keystone-manage bootstrap, then keystone-wsgi-public's development
/// server) on 127.0.0.1 with sqlite and fernet tokens; user and project <c>admin</c>, password
/// <see cref="Password"/>. Started once per test run in a temporary directory.
/// </summary>
public sealed class KeystoneServer : IDisposable
{
    public const string Password = "s3cret-for-tests";

    private readonly ServiceProcess _service = new("keystone", StateRoot);

    public KeystoneServer()
    {
        if (Oracle.Find("keystone-manage") is null || Oracle.Find("keystone-wsgi-public") is null)
        {
            _service.MarkUnavailable("keystone is not installed (Debian package keystone; see .ci/run).");
            return;
        }

        string state = _service.StateDirectory;
        string config = Path.Combine(state, "keystone.conf");
        int port = ServiceProcess.FreePort();
        AuthUrl = new Uri($"http://127.0.0.1:{port}/v3/");
        try
        {
            Directory.CreateDirectory(state);
            File.WriteAllText(config, $"""
                [DEFAULT]
                use_stderr = true
                [database]
                connection = sqlite:///{state}/keystone.sqlite
                [token]
                provider = fernet
                [fernet_tokens]
                key_repository = {state}/fernet-keys
                [fernet_receipts]
                key_repository = {state}/fernet-keys
                [credential]
                key_repository = {state}/credential-keys
                """);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _service.MarkUnavailable("keystone could not be set up: " + e.Message);
            return;
        }

        string[][] steps =
        [
            ["db_sync"],
            ["fernet_setup", "--keystone-user", "root", "--keystone-group", "root"],
            ["credential_setup", "--keystone-user", "root", "--keystone-group", "root"],
            ["bootstrap", "--bootstrap-password", Password, "--bootstrap-region-id", "RegionOne",
                "--bootstrap-admin-url", AuthUrl.ToString(), "--bootstrap-internal-url", AuthUrl.ToString(), "--bootstrap-public-url", AuthUrl.ToString()],
        ];
        foreach (string[] step in steps)
        {
            ToolResult r = Oracle.Run("keystone-manage", ["--config-file", config, .. step], TimeSpan.FromMinutes(5));
            if (r.ExitCode != 0)
            {
                _service.MarkUnavailable("keystone-manage failed: " + r);
                return;
            }
        }

        _service.Start(
            "keystone-wsgi-public",
            ["--host", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)],
            new Dictionary<string, string> { ["OS_KEYSTONE_CONFIG_FILES"] = config },
            AuthUrl,
            status => (int)status is >= 200 and < 300);
    }

    public Uri AuthUrl { get; } = new("http://127.0.0.1:1/v3/");

    public string Log => _service.Log;

    /// <summary>The last lines the server printed, for failure messages.</summary>
    public string LogTail() => _service.LogTail();

    /// <summary>Skips (or fails under DISKIMAGE_REQUIRE_ORACLES=1) when the server is not running.</summary>
    public void Require() => _service.Require();

    /// <summary>An admin token, got with plain HTTP (not through the code under test).</summary>
    public async Task<string> AdminTokenAsync(HttpClient http)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return await AdminTokenOnceAsync(http);
            }
            catch (Exception e) when (attempt < 5 && e is HttpRequestException or Xunit.Sdk.XunitException)
            {
                await Task.Delay(1000);
            }
        }
    }

    private async Task<string> AdminTokenOnceAsync(HttpClient http)
    {
        string body = $$$$$$"""{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"name":"Default"},"password":"{{{{{{Password}}}}}}"}}},"scope":{"project":{"name":"admin","domain":{"name":"Default"}}}}}""";
        using HttpResponseMessage r = await http.PostAsync(new Uri(AuthUrl, "auth/tokens"), new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.True(r.StatusCode == HttpStatusCode.Created, $"POST auth/tokens: {(int)r.StatusCode}\n{LogTail()}");
        return r.Headers.GetValues("X-Subject-Token").Single();
    }

    /// <summary>Registers an <c>image</c> service with public and internal endpoints at <paramref name="url"/>.</summary>
    public async Task RegisterImageEndpointAsync(Uri url)
    {
        using var http = new HttpClient();
        string token = await AdminTokenAsync(http);
        http.DefaultRequestHeaders.Add("X-Auth-Token", token);
        JsonElement service = await PostWithRetryAsync(http, "services", new { service = new { type = "image", name = "glance" } });
        string serviceId = service.GetProperty("service").GetProperty("id").GetString()!;
        foreach (string @interface in new[] { "public", "internal" })
        {
            await PostWithRetryAsync(http, "endpoints", new { endpoint = new { service_id = serviceId, @interface, url = url.ToString(), region_id = "RegionOne" } });
        }
    }

    /// <summary>Creates an application credential of the admin user and returns its ID and secret.</summary>
    public async Task<(string Id, string Secret)> CreateApplicationCredentialAsync(string name)
    {
        using var http = new HttpClient();
        string token = await AdminTokenAsync(http);
        http.DefaultRequestHeaders.Add("X-Auth-Token", token);
        using var req = new HttpRequestMessage(HttpMethod.Get, new Uri(AuthUrl, "auth/tokens"));
        req.Headers.Add("X-Subject-Token", token);
        using HttpResponseMessage validated = await http.SendAsync(req);
        using JsonDocument doc = JsonDocument.Parse(await validated.Content.ReadAsStringAsync());
        string userId = doc.RootElement.GetProperty("token").GetProperty("user").GetProperty("id").GetString()!;
        JsonElement created = await PostWithRetryAsync(http, $"users/{userId}/application_credentials", new { application_credential = new { name } });
        JsonElement cred = created.GetProperty("application_credential");
        return (cred.GetProperty("id").GetString()!, cred.GetProperty("secret").GetString()!);
    }

    /// <summary>The server's sqlite database and files live in memory (/dev/shm) where it exists: on a disk saturated
    /// by other tests, sqlite's lock waits time out and the server answers 500.</summary>
    private static string StateRoot => Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(); // a few MiB

    public void Dispose() => _service.Dispose();

    private async Task<JsonElement> PostWithRetryAsync<T>(HttpClient http, string path, T body)
    {
        for (int attempt = 0; ; attempt++)
        {
            // keystone-wsgi-public's development server reads no chunked bodies: send a Content-Length.
            using var content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
            HttpResponseMessage r;
            try
            {
                r = await http.PostAsync(new Uri(AuthUrl, path), content);
            }
            catch (HttpRequestException) when (attempt < 5)
            {
                await Task.Delay(1000);
                continue;
            }

            using HttpResponseMessage response = r;
            string text = await r.Content.ReadAsStringAsync();
            if ((int)r.StatusCode >= 500 && attempt < 5)
            {
                await Task.Delay(1000); // sqlite "database is locked"
                continue;
            }

            Assert.True(r.StatusCode == HttpStatusCode.Created, $"POST {path}: {(int)r.StatusCode} {text}\n{LogTail()}");
            using JsonDocument doc = JsonDocument.Parse(text);
            return doc.RootElement.Clone();
        }
    }
}
