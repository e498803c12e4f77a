using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace DiskImage.OpenStack;

/// <summary>
/// A client of the OpenStack image service (Glance v2): create an image record, upload its data
/// (hashed while it streams and checked against what Glance stored), update properties, find images
/// by name, download and delete. Authenticates with Keystone v3 as <see cref="OpenStackAuthOptions"/>
/// says and renews the token when it nears expiry or a request gets 401.
/// </summary>
/// <remarks>
/// Methods are asynchronous (network I/O); one client may be used by several tasks at once.
/// The client owns the <see cref="HttpClient"/> it makes; a handler passed in is disposed with the
/// client only when <c>disposeHandler</c> is true.
/// </remarks>
public sealed class GlanceClient : IDisposable
{
    private const string JsonPatchMediaType = "application/openstack-images-v2.1-json-patch";

    private static readonly HashSet<string> BaseFields =
    [
        "id", "name", "status", "disk_format", "container_format", "visibility", "size", "virtual_size", "checksum",
        "os_hash_algo", "os_hash_value", "created_at", "updated_at", "owner", "min_disk", "min_ram", "protected",
        "tags", "file", "self", "schema", "os_hidden", "locations", "direct_url", "stores",
    ];

    private readonly HttpClient _http;
    private readonly OpenStackSession _session;
    private bool _disposed;

    /// <summary>Creates a client for the cloud the options describe.</summary>
    /// <param name="options">Credentials and endpoint.</param>
    /// <param name="handler">The HTTP handler to send through (a default <see cref="SocketsHttpHandler"/> when null).</param>
    /// <param name="disposeHandler">Whether disposing the client disposes <paramref name="handler"/>.</param>
    /// <exception cref="ArgumentException">The options lack what their auth type needs.</exception>
    public GlanceClient(OpenStackAuthOptions options, HttpMessageHandler? handler = null, bool disposeHandler = true)
    {
        ArgumentNullException.ThrowIfNull(options);
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler);
        _http.Timeout = options.RequestTimeout;
        _session = new OpenStackSession(_http, options);
    }

    /// <summary>Creates an image record (status <c>queued</c>, no data yet).</summary>
    /// <exception cref="OpenStackException">Glance refused it (400 bad format or property, 403 policy, 413 quota…).</exception>
    public async Task<GlanceImage> CreateImageAsync(GlanceImageDefinition definition, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(definition);
        byte[] body = Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("name", definition.Name);
            w.WriteString("disk_format", definition.DiskFormat);
            w.WriteString("container_format", definition.ContainerFormat);
            if (definition.Visibility is not null)
            {
                w.WriteString("visibility", definition.Visibility);
            }

            if (definition.Properties is not null)
            {
                foreach (KeyValuePair<string, string> p in definition.Properties)
                {
                    if (BaseFields.Contains(p.Key))
                    {
                        throw new ArgumentException($"'{p.Key}' is a base field of a Glance image, not a custom property.", nameof(definition));
                    }

                    w.WriteString(p.Key, p.Value);
                }
            }

            w.WriteEndObject();
        });
        string text = await SendForTextAsync(HttpMethod.Post, "images", () => JsonContent(body, "application/json"), HttpStatusCode.Created, cancellationToken).ConfigureAwait(false);
        return ParseImage(text);
    }

    /// <summary>
    /// Uploads an image's data (<c>PUT /v2/images/{id}/file</c>), hashing it on the way, then reads the image
    /// back and checks that Glance stored the size and MD5 that were sent.
    /// </summary>
    /// <exception cref="OpenStackException">Glance refused the upload (409 not queued, 413 too large…) or stored
    /// other bytes than were sent.</exception>
    public async Task<GlanceUploadResult> UploadAsync(string imageId, Stream data, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(imageId);
        ArgumentNullException.ThrowIfNull(data);
        long? length = data.CanSeek ? data.Length - data.Position : null;
        var hashing = new HashingReadStream(data);
        try
        {
            return await UploadAsync(imageId, hashing, length, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            hashing.ReleaseHashes();
        }
    }

    private async Task<GlanceUploadResult> UploadAsync(string imageId, HashingReadStream hashing, long? length, CancellationToken cancellationToken)
    {
        (string? token, Uri endpoint) = await _session.GetAsync(false, cancellationToken).ConfigureAwait(false);
        Uri uri = Url(endpoint, $"images/{Uri.EscapeDataString(imageId)}/file");
        using var request = new HttpRequestMessage(HttpMethod.Put, uri) { Content = new StreamContent(hashing, 1 << 20) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (length is long n)
        {
            request.Content.Headers.ContentLength = n;
        }

        Authorize(request, token);
        using (HttpResponseMessage response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false))
        {
            await EnsureAsync(response, HttpStatusCode.NoContent, "PUT", uri, cancellationToken).ConfigureAwait(false);
        }

        string md5 = hashing.Md5Hex();
        string sha512 = hashing.Sha512Hex();
        GlanceImage image = await GetImageAsync(imageId, cancellationToken).ConfigureAwait(false);
        if (image.Size is long stored && stored != hashing.BytesRead)
        {
            throw new OpenStackException(HttpStatusCode.OK, "GET", uri, $"Glance stored {stored} bytes of image {imageId}; {hashing.BytesRead} were sent.");
        }

        if (image.Checksum is string checksum && !string.Equals(checksum, md5, StringComparison.OrdinalIgnoreCase))
        {
            throw new OpenStackException(HttpStatusCode.OK, "GET", uri, $"Glance's checksum of image {imageId} is {checksum}; the data sent has MD5 {md5}.");
        }

        return new GlanceUploadResult { Image = image, Size = hashing.BytesRead, Md5 = md5, Sha512 = sha512 };
    }

    /// <summary>Reads one image record.</summary>
    /// <exception cref="OpenStackException">404 when there is no such image.</exception>
    public async Task<GlanceImage> GetImageAsync(string imageId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(imageId);
        string text = await SendForTextAsync(HttpMethod.Get, $"images/{Uri.EscapeDataString(imageId)}", null, HttpStatusCode.OK, cancellationToken).ConfigureAwait(false);
        return ParseImage(text);
    }

    /// <summary>Every image whose name is exactly <paramref name="name"/> (following Glance's paging).</summary>
    public async Task<IReadOnlyList<GlanceImage>> FindImagesAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        var found = new List<GlanceImage>();
        string? next = "images?limit=100&name=" + Uri.EscapeDataString(name);
        for (int page = 0; next is not null; page++)
        {
            if (page > 10_000)
            {
                throw new InvalidDataException("Glance's image list did not end after 10,000 pages.");
            }

            string text = await SendForTextAsync(HttpMethod.Get, next, null, HttpStatusCode.OK, cancellationToken).ConfigureAwait(false);
            next = null;
            using JsonDocument doc = ParseJson(text);
            if (!doc.RootElement.TryGetProperty("images", out JsonElement images) || images.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidDataException("Glance's image list has no 'images' array.");
            }

            foreach (JsonElement image in images.EnumerateArray())
            {
                GlanceImage parsed = ParseImage(image);
                if (parsed.Name == name)
                {
                    found.Add(parsed);
                }
            }

            if (doc.RootElement.TryGetProperty("next", out JsonElement n) && n.GetString() is string link && link.Length > 0)
            {
                next = link; // "/v2/images?...&marker=<id>"
            }
        }

        return found;
    }

    /// <summary>
    /// Changes an image's record with one JSON patch: a null value removes the property, any other value
    /// adds or replaces it (<c>name</c> may be given to rename).
    /// </summary>
    /// <exception cref="OpenStackException">Glance refused the patch (403 read-only field, 409 removing an absent property…).</exception>
    public async Task<GlanceImage> UpdateImageAsync(string imageId, IEnumerable<KeyValuePair<string, string?>> changes, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(imageId);
        ArgumentNullException.ThrowIfNull(changes);
        byte[] body = Json(w =>
        {
            w.WriteStartArray();
            foreach (KeyValuePair<string, string?> change in changes)
            {
                w.WriteStartObject();
                w.WriteString("op", change.Value is null ? "remove" : change.Key == "name" ? "replace" : "add");
                w.WriteString("path", "/" + change.Key.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal));
                if (change.Value is not null)
                {
                    w.WriteString("value", change.Value);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
        });
        string text = await SendForTextAsync(HttpMethod.Patch, $"images/{Uri.EscapeDataString(imageId)}", () => JsonContent(body, JsonPatchMediaType), HttpStatusCode.OK, cancellationToken).ConfigureAwait(false);
        return ParseImage(text);
    }

    /// <summary>Copies an image's data into <paramref name="destination"/> and returns the number of bytes.</summary>
    /// <exception cref="OpenStackException">Glance refused (404, 403 deactivated) or the image has no data.</exception>
    public async Task<long> DownloadAsync(string imageId, Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(imageId);
        ArgumentNullException.ThrowIfNull(destination);
        for (int attempt = 0; ; attempt++)
        {
            (string? token, Uri endpoint) = await _session.GetAsync(attempt > 0, cancellationToken).ConfigureAwait(false);
            Uri uri = Url(endpoint, $"images/{Uri.EscapeDataString(imageId)}/file");
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            Authorize(request, token);
            using HttpResponseMessage response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.Unauthorized && attempt == 0 && _session.CanRenew)
            {
                continue;
            }

            await EnsureAsync(response, HttpStatusCode.OK, "GET", uri, cancellationToken).ConfigureAwait(false);
            await using Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            long total = 0;
            byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                int n;
                while ((n = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    await destination.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                    total += n;
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }

            return total;
        }
    }

    /// <summary>Deletes an image. Returns false when it did not exist (404).</summary>
    /// <exception cref="OpenStackException">Glance refused (403 protected…).</exception>
    public async Task<bool> DeleteImageAsync(string imageId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(imageId);
        try
        {
            await SendForTextAsync(HttpMethod.Delete, $"images/{Uri.EscapeDataString(imageId)}", null, HttpStatusCode.NoContent, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OpenStackException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _http.Dispose();
        }
    }

    /// <summary>The readable part of an error body: the JSON <c>message</c>, or the text without HTML tags.</summary>
    internal static string ErrorMessage(string body)
    {
        string trimmed = body.Trim();
        if (trimmed.StartsWith('{'))
        {
            try
            {
                using JsonDocument doc = JsonDocument.Parse(trimmed);
                foreach (JsonProperty p in doc.RootElement.EnumerateObject())
                {
                    if (p.Value.ValueKind == JsonValueKind.String && p.Name == "message")
                    {
                        return p.Value.GetString()!;
                    }

                    if (p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty("message", out JsonElement m) && m.ValueKind == JsonValueKind.String)
                    {
                        return m.GetString()!;
                    }
                }
            }
            catch (JsonException)
            {
            }
        }

        var text = new StringBuilder(Math.Min(trimmed.Length, 500));
        bool inTag = false;
        foreach (char c in trimmed)
        {
            if (c == '<')
            {
                inTag = true;
            }
            else if (c == '>')
            {
                inTag = false;
                text.Append(' ');
            }
            else if (!inTag)
            {
                text.Append(c);
            }

            if (text.Length >= 500)
            {
                break;
            }
        }

        return string.Join(' ', text.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>Parses one image document (the body of GET/POST/PATCH on an image).</summary>
    internal static GlanceImage ParseImage(string json)
    {
        using JsonDocument doc = ParseJson(json);
        return ParseImage(doc.RootElement);
    }

    private static GlanceImage ParseImage(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException("A Glance image is not a JSON object.");
        }

        string? Str(string name) => e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty p in e.EnumerateObject())
        {
            if (!BaseFields.Contains(p.Name) && p.Value.ValueKind == JsonValueKind.String)
            {
                properties[p.Name] = p.Value.GetString()!;
            }
        }

        return new GlanceImage
        {
            Id = Str("id") ?? throw new InvalidDataException("A Glance image has no 'id'."),
            Name = Str("name"),
            Status = Str("status") ?? throw new InvalidDataException("A Glance image has no 'status'."),
            DiskFormat = Str("disk_format"),
            ContainerFormat = Str("container_format"),
            Visibility = Str("visibility"),
            Size = e.TryGetProperty("size", out JsonElement size) && size.ValueKind == JsonValueKind.Number && size.TryGetInt64(out long s) ? s : null,
            Checksum = Str("checksum"),
            HashAlgorithm = Str("os_hash_algo"),
            HashValue = Str("os_hash_value"),
            CreatedAt = Str("created_at") is string created
                && DateTimeOffset.TryParse(created, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset at) ? at : null,
            Properties = properties,
        };
    }

    private static JsonDocument ParseJson(string text)
    {
        try
        {
            return JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException("Glance answered with malformed JSON: " + e.Message, e);
        }
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            write(w);
        }

        return buffer.ToArray();
    }

    private static ByteArrayContent JsonContent(byte[] body, string mediaType)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        return content;
    }

    /// <summary>The URL of a v2 resource: <paramref name="relative"/> is <c>images…</c> (under <c>/v2/</c>) or an
    /// absolute path <c>/v2/images…</c> (Glance's <c>next</c> links).</summary>
    internal static Uri Url(Uri endpoint, string relative)
    {
        string basePath = endpoint.AbsolutePath.TrimEnd('/');
        if (basePath.EndsWith("/v2", StringComparison.Ordinal))
        {
            basePath = basePath[..^3];
        }

        string pathAndQuery = relative.StartsWith('/') ? relative : "/v2/" + relative;
        return new Uri(endpoint.GetLeftPart(UriPartial.Authority) + basePath + pathAndQuery);
    }

    private static void Authorize(HttpRequestMessage request, string? token)
    {
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (token is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Auth-Token", token);
        }
    }

    private async Task<string> SendForTextAsync(HttpMethod method, string relative, Func<HttpContent>? content, HttpStatusCode expected, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        for (int attempt = 0; ; attempt++)
        {
            (string? token, Uri endpoint) = await _session.GetAsync(attempt > 0, cancellationToken).ConfigureAwait(false);
            Uri uri = Url(endpoint, relative);
            using var request = new HttpRequestMessage(method, uri) { Content = content?.Invoke() };
            Authorize(request, token);
            using HttpResponseMessage response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.Unauthorized && attempt == 0 && _session.CanRenew)
            {
                continue;
            }

            await EnsureAsync(response, expected, method.Method, uri, cancellationToken).ConfigureAwait(false);
            return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task EnsureAsync(HttpResponseMessage response, HttpStatusCode expected, string method, Uri uri, CancellationToken cancellationToken)
    {
        if (response.StatusCode == expected)
        {
            return;
        }

        string text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        throw new OpenStackException(response.StatusCode, method, uri, ErrorMessage(text));
    }
}
