using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace DiskImage.OpenStack;

/// <summary>
/// Holds the token and the image endpoint for one client: asks Keystone v3 for a token (password or
/// application credential), finds the <c>image</c> endpoint in its catalog, and asks again when the token
/// is near its expiry or a service answered 401.
/// </summary>
internal sealed class OpenStackSession
{
    private static readonly TimeSpan RenewBefore = TimeSpan.FromMinutes(2);

    private readonly HttpClient _http;
    private readonly OpenStackAuthOptions _options;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private string? _token;
    private Uri? _endpoint;
    private DateTimeOffset _expiresAt = DateTimeOffset.MaxValue;

    public OpenStackSession(HttpClient http, OpenStackAuthOptions options)
    {
        _http = http;
        _options = options;
        switch (options.EffectiveAuthType)
        {
            case OpenStackAuthType.None:
                _endpoint = options.Endpoint ?? throw new ArgumentException("No authentication needs an image endpoint (OS_ENDPOINT).", nameof(options));
                break;
            case OpenStackAuthType.Token:
                _token = options.Token ?? throw new ArgumentException("Token authentication needs a token (OS_TOKEN).", nameof(options));
                _endpoint = options.Endpoint ?? throw new ArgumentException("Token authentication needs an image endpoint (OS_ENDPOINT).", nameof(options));
                break;
            default:
                if (options.AuthUrl is null)
                {
                    throw new ArgumentException("Keystone authentication needs OS_AUTH_URL.", nameof(options));
                }

                break;
        }
    }

    /// <summary>Whether the session can get a new token (Keystone credentials, not a fixed token).</summary>
    public bool CanRenew => _options.EffectiveAuthType is OpenStackAuthType.Password or OpenStackAuthType.ApplicationCredential;

    /// <summary>The token (null without authentication) and the image endpoint, renewed when needed.</summary>
    public async Task<(string? Token, Uri Endpoint)> GetAsync(bool forceRenew, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (CanRenew && (forceRenew || _token is null || DateTimeOffset.UtcNow >= _expiresAt - RenewBefore))
            {
                await AuthenticateAsync(cancellationToken).ConfigureAwait(false);
            }

            return (_token, _endpoint!);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task AuthenticateAsync(CancellationToken cancellationToken)
    {
        Uri tokens = TokensUrl(_options.AuthUrl!);
        byte[] body = BuildAuthBody(_options);
        for (int attempt = 0; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, tokens) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            using HttpResponseMessage response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            string text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if ((int)response.StatusCode >= 500 && attempt == 0)
            {
                continue; // Keystone on sqlite answers 500 "database is locked" now and then; one retry.
            }

            if (response.StatusCode != HttpStatusCode.Created && response.StatusCode != HttpStatusCode.OK)
            {
                throw new OpenStackException(response.StatusCode, "POST", tokens, $"Keystone refused the credentials: {GlanceClient.ErrorMessage(text)}");
            }

            if (!response.Headers.TryGetValues("X-Subject-Token", out IEnumerable<string>? values))
            {
                throw new OpenStackException(response.StatusCode, "POST", tokens, "Keystone answered without an X-Subject-Token header.");
            }

            _token = values.First();
            ReadTokenBody(text, tokens);
            return;
        }
    }

    private void ReadTokenBody(string text, Uri tokens)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(text);
            JsonElement token = doc.RootElement.GetProperty("token");
            _expiresAt = token.TryGetProperty("expires_at", out JsonElement expires) && expires.ValueKind == JsonValueKind.String
                && DateTimeOffset.TryParse(expires.GetString(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out DateTimeOffset at)
                ? at : DateTimeOffset.UtcNow.AddMinutes(30);
            if (_options.Endpoint is not null)
            {
                _endpoint = _options.Endpoint;
                return;
            }

            _endpoint = FindImageEndpoint(token, _options.Interface, _options.RegionName)
                ?? throw new OpenStackException(HttpStatusCode.OK, "POST", tokens,
                    $"The service catalog has no '{_options.Interface}' image endpoint{(_options.RegionName is null ? "" : $" in region {_options.RegionName}")}; set OS_IMAGE_ENDPOINT_OVERRIDE.");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new OpenStackException(HttpStatusCode.OK, "POST", tokens, "Keystone's token response is not the v3 token document: " + e.Message);
        }
    }

    /// <summary>The URL of the catalog's <c>image</c> service for the interface and (optional) region.</summary>
    internal static Uri? FindImageEndpoint(JsonElement token, string @interface, string? region)
    {
        if (!token.TryGetProperty("catalog", out JsonElement catalog) || catalog.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        foreach (JsonElement service in catalog.EnumerateArray())
        {
            if (!service.TryGetProperty("type", out JsonElement type) || type.GetString() != "image"
                || !service.TryGetProperty("endpoints", out JsonElement endpoints) || endpoints.ValueKind != JsonValueKind.Array)
            {
                continue;
            }

            foreach (JsonElement endpoint in endpoints.EnumerateArray())
            {
                if (endpoint.TryGetProperty("interface", out JsonElement i) && i.GetString() == @interface
                    && (region is null || (endpoint.TryGetProperty("region_id", out JsonElement r) && r.GetString() == region)
                        || (endpoint.TryGetProperty("region", out JsonElement r2) && r2.GetString() == region))
                    && endpoint.TryGetProperty("url", out JsonElement url)
                    && Uri.TryCreate(url.GetString(), UriKind.Absolute, out Uri? uri))
                {
                    return uri;
                }
            }
        }

        return null;
    }

    /// <summary><c>{auth_url}/v3/auth/tokens</c>, with <c>/v3</c> added when the URL names no version.</summary>
    internal static Uri TokensUrl(Uri authUrl)
    {
        string path = authUrl.AbsolutePath.TrimEnd('/');
        if (!path.EndsWith("/v3", StringComparison.Ordinal))
        {
            path += "/v3";
        }

        return new UriBuilder(authUrl) { Path = path + "/auth/tokens" }.Uri;
    }

    /// <summary>The JSON body of <c>POST /v3/auth/tokens</c> for the options' credentials.</summary>
    internal static byte[] BuildAuthBody(OpenStackAuthOptions o)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartObject("auth");
            w.WriteStartObject("identity");
            if (o.EffectiveAuthType == OpenStackAuthType.ApplicationCredential)
            {
                w.WriteStartArray("methods");
                w.WriteStringValue("application_credential");
                w.WriteEndArray();
                w.WriteStartObject("application_credential");
                if (o.ApplicationCredentialId is not null)
                {
                    w.WriteString("id", o.ApplicationCredentialId);
                }
                else
                {
                    w.WriteString("name", o.ApplicationCredentialName ?? throw new ArgumentException("An application credential needs its ID or its name (OS_APPLICATION_CREDENTIAL_ID/_NAME)."));
                    WriteUser(w, o);
                }

                w.WriteString("secret", o.ApplicationCredentialSecret ?? throw new ArgumentException("An application credential needs its secret (OS_APPLICATION_CREDENTIAL_SECRET)."));
                w.WriteEndObject();
                w.WriteEndObject(); // identity; application credentials carry their own scope
            }
            else
            {
                w.WriteStartArray("methods");
                w.WriteStringValue("password");
                w.WriteEndArray();
                w.WriteStartObject("password");
                WriteUser(w, o, o.Password ?? throw new ArgumentException("Password authentication needs a password (OS_PASSWORD)."));
                w.WriteEndObject();
                w.WriteEndObject(); // identity
                if (o.ProjectId is not null || o.ProjectName is not null)
                {
                    w.WriteStartObject("scope");
                    w.WriteStartObject("project");
                    if (o.ProjectId is not null)
                    {
                        w.WriteString("id", o.ProjectId);
                    }
                    else
                    {
                        w.WriteString("name", o.ProjectName);
                        WriteDomain(w, o.ProjectDomainId, o.ProjectDomainName);
                    }

                    w.WriteEndObject();
                    w.WriteEndObject();
                }
            }

            w.WriteEndObject(); // auth
            w.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static void WriteUser(Utf8JsonWriter w, OpenStackAuthOptions o, string? password = null)
    {
        w.WriteStartObject("user");
        if (o.UserId is not null)
        {
            w.WriteString("id", o.UserId);
        }
        else
        {
            w.WriteString("name", o.UserName ?? throw new ArgumentException("Keystone authentication needs the user (OS_USERNAME or OS_USER_ID)."));
            WriteDomain(w, o.UserDomainId, o.UserDomainName);
        }

        if (password is not null)
        {
            w.WriteString("password", password);
        }

        w.WriteEndObject();
    }

    private static void WriteDomain(Utf8JsonWriter w, string? id, string? name)
    {
        w.WriteStartObject("domain");
        if (id is not null)
        {
            w.WriteString("id", id);
        }
        else
        {
            w.WriteString("name", name ?? "Default");
        }

        w.WriteEndObject();
    }
}
