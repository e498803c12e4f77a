using System.Net;
using System.Text;
using System.Text.Json;
using DiskImage.OpenStack;

namespace DiskImage.Tests.OpenStack;

/// <summary>
/// Keystone v3 authentication against a real Keystone: password and application-credential tokens, the
/// image endpoint taken from the token's catalog, the token sent to Glance and valid there, refusals.
/// </summary>
[Collection(GlanceCollection.Name)]
public sealed class KeystoneAuthTests(GlanceServer glance, KeystoneServer keystone)
{
    private static readonly SemaphoreSlim Registered = new(1, 1);
    private static bool _endpointRegistered;

    private Task RegisterAsync() => RegisterImageEndpointOnceAsync(glance, keystone);

    /// <summary>Registers Glance as the image service of Keystone's catalog, once per test run.</summary>
    internal static async Task RegisterImageEndpointOnceAsync(GlanceServer glance, KeystoneServer keystone)
    {
        glance.Require();
        keystone.Require();
        await Registered.WaitAsync();
        try
        {
            if (!_endpointRegistered)
            {
                await keystone.RegisterImageEndpointAsync(glance.Endpoint);
                _endpointRegistered = true;
            }
        }
        finally
        {
            Registered.Release();
        }
    }

    /// <summary>Records the X-Auth-Token of every request it forwards.</summary>
    private sealed class TokenRecorder() : DelegatingHandler(new SocketsHttpHandler())
    {
        public List<(string Method, string Path, string? Token)> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (Requests)
            {
                Requests.Add((request.Method.Method, request.RequestUri!.AbsolutePath,
                    request.Headers.TryGetValues("X-Auth-Token", out IEnumerable<string>? v) ? v.Single() : null));
            }

            return base.SendAsync(request, cancellationToken);
        }
    }

    private async Task AssertTokenValidAsync(string token)
    {
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add("X-Auth-Token", await keystone.AdminTokenAsync(http));
        using var req = new HttpRequestMessage(HttpMethod.Get, new Uri(keystone.AuthUrl, "auth/tokens"));
        req.Headers.Add("X-Subject-Token", token);
        using HttpResponseMessage r = await http.SendAsync(req);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    private async Task RoundTripAsync(OpenStackAuthOptions options)
    {
        var recorder = new TokenRecorder();
        using var client = new GlanceClient(options, recorder);
        string name = "ks-" + Guid.NewGuid().ToString("N")[..8];
        GlanceImage image = await client.CreateImageAsync(new GlanceImageDefinition { Name = name, DiskFormat = "raw" });
        await client.UploadAsync(image.Id, new MemoryStream(Encoding.ASCII.GetBytes("hello keystone")));
        Assert.Single(await client.FindImagesAsync(name));
        Assert.True(await client.DeleteImageAsync(image.Id));

        Assert.Equal("POST", recorder.Requests[0].Method);
        Assert.EndsWith("/v3/auth/tokens", recorder.Requests[0].Path);
        Assert.Null(recorder.Requests[0].Token);
        var glanceCalls = recorder.Requests.Skip(1).ToList();
        Assert.All(glanceCalls, r => Assert.StartsWith("/v2/images", r.Path));
        Assert.Single(glanceCalls.Select(r => r.Token).Distinct());
        await AssertTokenValidAsync(glanceCalls[0].Token!);
    }

    [SkippableFact]
    public async Task PasswordToken_FindsImageEndpointInCatalog_AndIsSentToGlance()
    {
        await RegisterAsync();
        var authUrlWithoutVersion = new Uri(keystone.AuthUrl.GetLeftPart(UriPartial.Authority));
        await RoundTripAsync(OpenStackAuthOptions.FromEnvironment(new Dictionary<string, string>
        {
            ["OS_AUTH_URL"] = authUrlWithoutVersion.ToString(),
            ["OS_USERNAME"] = "admin",
            ["OS_PASSWORD"] = KeystoneServer.Password,
            ["OS_PROJECT_NAME"] = "admin",
            ["OS_USER_DOMAIN_NAME"] = "Default",
            ["OS_PROJECT_DOMAIN_NAME"] = "Default",
            ["OS_REGION_NAME"] = "RegionOne",
        }));
    }

    [SkippableFact]
    public async Task ApplicationCredentialToken_Works()
    {
        await RegisterAsync();
        (string id, string secret) = await keystone.CreateApplicationCredentialAsync("diskimage-" + Guid.NewGuid().ToString("N")[..6]);
        await RoundTripAsync(OpenStackAuthOptions.FromEnvironment(new Dictionary<string, string>
        {
            ["OS_AUTH_TYPE"] = "v3applicationcredential",
            ["OS_AUTH_URL"] = keystone.AuthUrl.ToString(),
            ["OS_APPLICATION_CREDENTIAL_ID"] = id,
            ["OS_APPLICATION_CREDENTIAL_SECRET"] = secret,
        }));
    }

    [SkippableFact]
    public async Task WrongPassword_Is401_AndUnknownRegionSaysSo()
    {
        await RegisterAsync();
        using var wrong = new GlanceClient(new OpenStackAuthOptions
        {
            AuthUrl = keystone.AuthUrl, UserName = "admin", Password = "not-it", ProjectName = "admin",
        });
        var refused = await Assert.ThrowsAsync<OpenStackException>(() => wrong.FindImagesAsync("x"));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);

        using var elsewhere = new GlanceClient(new OpenStackAuthOptions
        {
            AuthUrl = keystone.AuthUrl, UserName = "admin", Password = KeystoneServer.Password, ProjectName = "admin", RegionName = "Nowhere",
        });
        var noEndpoint = await Assert.ThrowsAsync<OpenStackException>(() => elsewhere.FindImagesAsync("x"));
        Assert.Contains("no 'public' image endpoint in region Nowhere", noEndpoint.Message);
    }

    [Fact]
    public async Task Glance401_RenewsTheTokenOnceAndRetries()
    {
        // Protocol-level check of the renewal path (a real Glance behind a real Keystone does not expire tokens
        // within a test): Keystone's answers are shaped as the live server gives them.
        var handler = new ScriptedHandler();
        using var client = new GlanceClient(new OpenStackAuthOptions
        {
            AuthUrl = new Uri("http://keystone.test:5000"), UserId = "u1", Password = "p", ProjectId = "p1",
        }, handler);
        IReadOnlyList<GlanceImage> found = await client.FindImagesAsync("n");
        Assert.Empty(found);
        Assert.Equal(
            ["POST /v3/auth/tokens -", "GET /v2/images token-1", "POST /v3/auth/tokens -", "GET /v2/images token-2"],
            handler.Log);
        using JsonDocument body = JsonDocument.Parse(handler.FirstAuthBody!);
        JsonElement auth = body.RootElement.GetProperty("auth");
        Assert.Equal("u1", auth.GetProperty("identity").GetProperty("password").GetProperty("user").GetProperty("id").GetString());
        Assert.Equal("p1", auth.GetProperty("scope").GetProperty("project").GetProperty("id").GetString());
    }

    [Fact]
    public void FromEnvironment_ReadsOsVariables_AndOsCloudWithoutCloudsYamlSaysSo()
    {
        OpenStackAuthOptions o = OpenStackAuthOptions.FromEnvironment(new Dictionary<string, string>
        {
            ["OS_AUTH_TYPE"] = "none",
            ["OS_ENDPOINT"] = "http://127.0.0.1:9292",
            ["OS_TENANT_NAME"] = "legacy",
        });
        Assert.Equal(OpenStackAuthType.None, o.AuthType);
        Assert.Equal(new Uri("http://127.0.0.1:9292"), o.Endpoint);
        Assert.Equal("legacy", o.ProjectName);
        using var empty = new TempDirectory();
        Assert.Contains("no clouds.yaml was found", Assert.Throws<ArgumentException>(() => OpenStackAuthOptions.FromEnvironment(new Dictionary<string, string> { ["OS_CLOUD"] = "undercloud" }, null, [empty.Path])).Message);
        Assert.Throws<NotSupportedException>(() => OpenStackAuthOptions.FromEnvironment(new Dictionary<string, string> { ["OS_AUTH_TYPE"] = "v3oidc" }));
        Assert.Throws<ArgumentException>(() => OpenStackAuthOptions.FromEnvironment(new Dictionary<string, string> { ["OS_AUTH_URL"] = "keystone:5000" }));
        Assert.Throws<ArgumentException>(() => new GlanceClient(new OpenStackAuthOptions { AuthType = OpenStackAuthType.None }));
    }

    /// <summary>Keystone answers two tokens; the image list answers 401 to the first and an empty list to the second.</summary>
    private sealed class ScriptedHandler : HttpMessageHandler
    {
        private int _tokens;

        public List<string> Log { get; } = [];

        public string? FirstAuthBody { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            string token = request.Headers.TryGetValues("X-Auth-Token", out IEnumerable<string>? v) ? v.Single() : "-";
            Log.Add($"{request.Method} {request.RequestUri!.AbsolutePath} {token}");
            if (request.RequestUri.AbsolutePath == "/v3/auth/tokens")
            {
                FirstAuthBody ??= await request.Content!.ReadAsStringAsync(cancellationToken);
                _tokens++;
                var created = new HttpResponseMessage(HttpStatusCode.Created)
                {
                    Content = new StringContent(
                        """{"token":{"expires_at":"2099-01-01T00:00:00.000000Z","catalog":[{"type":"identity","endpoints":[]},{"type":"image","name":"glance","endpoints":[{"interface":"internal","region_id":"RegionOne","url":"http://wrong.test:9292"},{"interface":"public","region_id":"RegionOne","region":"RegionOne","url":"http://glance.test:9292"}]}]}}""",
                        Encoding.UTF8, "application/json"),
                };
                created.Headers.Add("X-Subject-Token", "token-" + _tokens);
                return created;
            }

            Assert.Equal("glance.test", request.RequestUri.Host);
            return token == "token-1"
                ? new HttpResponseMessage(HttpStatusCode.Unauthorized) { Content = new StringContent("""{"error":{"message":"expired"}}""") }
                : new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("""{"images":[],"first":"/v2/images","schema":"/v2/schemas/images"}""") };
        }
    }
}
