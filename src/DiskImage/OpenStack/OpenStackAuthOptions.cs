namespace DiskImage.OpenStack;

/// <summary>
/// How to reach an OpenStack cloud's image service: Keystone v3 credentials (password or application
/// credential), a pre-issued token, or no authentication with a fixed endpoint (a standalone Glance).
/// The property names follow the <c>OS_*</c> variables of the OpenStack clients;
/// <see cref="FromEnvironment"/> reads them.
/// </summary>
/// <remarks>
/// <c>clouds.yaml</c> (<c>OS_CLOUD</c>) is not read; export the <c>OS_*</c> variables instead
/// (<c>FromEnvironment</c> throws <see cref="NotSupportedException"/> when only <c>OS_CLOUD</c> is set).
/// </remarks>
public sealed class OpenStackAuthOptions
{
    /// <summary>No credentials and no endpoint: set at least <see cref="Endpoint"/> or <see cref="AuthUrl"/>.</summary>
    public static OpenStackAuthOptions Default { get; } = new();

    /// <summary>The authentication type: <see cref="OpenStackAuthType.Password"/> when omitted and an
    /// <see cref="AuthUrl"/> is set, <see cref="OpenStackAuthType.None"/> when only <see cref="Endpoint"/> is.</summary>
    public OpenStackAuthType? AuthType { get; init; }

    /// <summary>Keystone's URL (<c>OS_AUTH_URL</c>), with or without the <c>/v3</c> suffix.</summary>
    public Uri? AuthUrl { get; init; }

    /// <summary>The user's name (<c>OS_USERNAME</c>).</summary>
    public string? UserName { get; init; }

    /// <summary>The user's ID (<c>OS_USER_ID</c>), used instead of the name and domain.</summary>
    public string? UserId { get; init; }

    /// <summary>The password (<c>OS_PASSWORD</c>).</summary>
    public string? Password { get; init; }

    /// <summary>The user's domain name (<c>OS_USER_DOMAIN_NAME</c>; <c>Default</c> when neither name nor ID is given).</summary>
    public string? UserDomainName { get; init; }

    /// <summary>The user's domain ID (<c>OS_USER_DOMAIN_ID</c>).</summary>
    public string? UserDomainId { get; init; }

    /// <summary>The project to scope the token to (<c>OS_PROJECT_NAME</c>, or the legacy <c>OS_TENANT_NAME</c>).</summary>
    public string? ProjectName { get; init; }

    /// <summary>The project's ID (<c>OS_PROJECT_ID</c>).</summary>
    public string? ProjectId { get; init; }

    /// <summary>The project's domain name (<c>OS_PROJECT_DOMAIN_NAME</c>; <c>Default</c> when neither name nor ID is given).</summary>
    public string? ProjectDomainName { get; init; }

    /// <summary>The project's domain ID (<c>OS_PROJECT_DOMAIN_ID</c>).</summary>
    public string? ProjectDomainId { get; init; }

    /// <summary>An application credential's ID (<c>OS_APPLICATION_CREDENTIAL_ID</c>).</summary>
    public string? ApplicationCredentialId { get; init; }

    /// <summary>An application credential's name (<c>OS_APPLICATION_CREDENTIAL_NAME</c>; needs the user).</summary>
    public string? ApplicationCredentialName { get; init; }

    /// <summary>An application credential's secret (<c>OS_APPLICATION_CREDENTIAL_SECRET</c>).</summary>
    public string? ApplicationCredentialSecret { get; init; }

    /// <summary>A pre-issued token (<c>OS_TOKEN</c>), sent as <c>X-Auth-Token</c> with <see cref="Endpoint"/>.</summary>
    public string? Token { get; init; }

    /// <summary>The image service's URL (<c>OS_ENDPOINT</c> or <c>OS_IMAGE_ENDPOINT_OVERRIDE</c>): used
    /// instead of the catalog's <c>image</c> endpoint.</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>The catalog region (<c>OS_REGION_NAME</c>); any region when omitted.</summary>
    public string? RegionName { get; init; }

    /// <summary>The catalog interface (<c>OS_INTERFACE</c>): <c>public</c> (default), <c>internal</c> or <c>admin</c>.</summary>
    public string Interface { get; init; } = "public";

    /// <summary>How long one HTTP request may take before it is abandoned (default 30 minutes: an upload of
    /// a large image is one request).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// Reads the <c>OS_*</c> variables (<c>OS_AUTH_TYPE</c>, <c>OS_AUTH_URL</c>, <c>OS_USERNAME</c>,
    /// <c>OS_USER_ID</c>, <c>OS_PASSWORD</c>, <c>OS_PROJECT_NAME</c>/<c>OS_TENANT_NAME</c>,
    /// <c>OS_PROJECT_ID</c>, <c>OS_USER_DOMAIN_NAME</c>/<c>_ID</c>, <c>OS_PROJECT_DOMAIN_NAME</c>/<c>_ID</c>,
    /// <c>OS_APPLICATION_CREDENTIAL_ID</c>/<c>_NAME</c>/<c>_SECRET</c>, <c>OS_TOKEN</c>, <c>OS_ENDPOINT</c>,
    /// <c>OS_IMAGE_ENDPOINT_OVERRIDE</c>, <c>OS_REGION_NAME</c>, <c>OS_INTERFACE</c>).
    /// </summary>
    /// <param name="variables">The variables to read; the process environment when null.</param>
    /// <exception cref="NotSupportedException">Only <c>OS_CLOUD</c> is set (clouds.yaml is not read), or the
    /// auth type is not one of none, token, password, v3password, v3applicationcredential.</exception>
    /// <exception cref="ArgumentException">A URL variable is not an absolute http(s) URL.</exception>
    public static OpenStackAuthOptions FromEnvironment(IReadOnlyDictionary<string, string>? variables = null)
    {
        string? Get(string name)
        {
            string? value = variables is null
                ? Environment.GetEnvironmentVariable(name)
                : variables.TryGetValue(name, out string? v) ? v : null;
            return string.IsNullOrEmpty(value) ? null : value;
        }

        Uri? Url(string name)
        {
            string? value = Get(name);
            if (value is null)
            {
                return null;
            }

            if (!Uri.TryCreate(value, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new ArgumentException($"{name} is not an absolute http(s) URL: '{value}'.", nameof(variables));
            }

            return uri;
        }

        string? authType = Get("OS_AUTH_TYPE");
        var options = new OpenStackAuthOptions
        {
            AuthType = authType is null ? null : ParseAuthType(authType),
            AuthUrl = Url("OS_AUTH_URL"),
            UserName = Get("OS_USERNAME"),
            UserId = Get("OS_USER_ID"),
            Password = Get("OS_PASSWORD"),
            ProjectName = Get("OS_PROJECT_NAME") ?? Get("OS_TENANT_NAME"),
            ProjectId = Get("OS_PROJECT_ID") ?? Get("OS_TENANT_ID"),
            UserDomainName = Get("OS_USER_DOMAIN_NAME"),
            UserDomainId = Get("OS_USER_DOMAIN_ID"),
            ProjectDomainName = Get("OS_PROJECT_DOMAIN_NAME"),
            ProjectDomainId = Get("OS_PROJECT_DOMAIN_ID"),
            ApplicationCredentialId = Get("OS_APPLICATION_CREDENTIAL_ID"),
            ApplicationCredentialName = Get("OS_APPLICATION_CREDENTIAL_NAME"),
            ApplicationCredentialSecret = Get("OS_APPLICATION_CREDENTIAL_SECRET"),
            Token = Get("OS_TOKEN"),
            Endpoint = Url("OS_IMAGE_ENDPOINT_OVERRIDE") ?? Url("OS_ENDPOINT"),
            RegionName = Get("OS_REGION_NAME"),
            Interface = Get("OS_INTERFACE") ?? "public",
        };
        if (Get("OS_CLOUD") is string cloud && options.AuthUrl is null && options.Endpoint is null)
        {
            throw new NotSupportedException(
                $"OS_CLOUD={cloud}: clouds.yaml is not read; export the OS_* variables (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, ...) or OS_AUTH_TYPE=none with OS_ENDPOINT.");
        }

        return options;
    }

    /// <summary>The auth type in effect: the explicit one, or the one the other settings imply.</summary>
    internal OpenStackAuthType EffectiveAuthType =>
        AuthType ?? (AuthUrl is null ? (Token is not null ? OpenStackAuthType.Token : OpenStackAuthType.None)
            : ApplicationCredentialSecret is not null ? OpenStackAuthType.ApplicationCredential : OpenStackAuthType.Password);

    private static OpenStackAuthType ParseAuthType(string value) => value.ToLowerInvariant() switch
    {
        "none" or "noauth" => OpenStackAuthType.None,
        "token" or "admin_token" or "v3token" => OpenStackAuthType.Token,
        "password" or "v3password" => OpenStackAuthType.Password,
        "v3applicationcredential" or "applicationcredential" => OpenStackAuthType.ApplicationCredential,
        _ => throw new NotSupportedException($"OS_AUTH_TYPE={value} is not supported (none, token, password, v3password, v3applicationcredential are)."),
    };
}
