namespace DiskImage.OpenStack;

/// <summary>
/// How to reach an OpenStack cloud's image service: Keystone v3 credentials (password or application
/// credential), a pre-issued token, or no authentication with a fixed endpoint (a standalone Glance).
/// The property names follow the <c>OS_*</c> variables of the OpenStack clients;
/// <see cref="FromEnvironment(IReadOnlyDictionary{string, string}?)"/> reads them.
/// </summary>
/// <remarks>
/// With <c>OS_CLOUD</c> (or a cloud name given to <c>FromEnvironment</c>), the cloud's settings are read from
/// <c>clouds.yaml</c> and <c>secure.yaml</c> as openstackclient reads them, and the <c>OS_*</c> variables override them.
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
    /// <c>OS_IMAGE_ENDPOINT_OVERRIDE</c>, <c>OS_REGION_NAME</c>, <c>OS_INTERFACE</c>) over the cloud that
    /// <c>OS_CLOUD</c> names in <c>clouds.yaml</c>, if it names one.
    /// </summary>
    /// <param name="variables">The variables to read; the process environment when null.</param>
    /// <returns>The options.</returns>
    /// <exception cref="NotSupportedException">The auth type is not one of none, token, password, v3password,
    /// v3applicationcredential, or the cloud uses a vendor profile.</exception>
    /// <exception cref="ArgumentException">A URL is not an absolute http(s) URL, or the cloud is not found.</exception>
    /// <exception cref="InvalidDataException">clouds.yaml or secure.yaml is malformed (the message names the file).</exception>
    public static OpenStackAuthOptions FromEnvironment(IReadOnlyDictionary<string, string>? variables = null) => FromEnvironment(variables, null, null);

    /// <summary>
    /// Reads the settings of a cloud of <c>clouds.yaml</c> as openstackclient does with <c>--os-cloud NAME</c> (or
    /// <c>OS_CLOUD</c>), with the <c>OS_*</c> variables overriding them. The first <c>clouds.yaml</c> (or
    /// <c>.yml</c>, <c>.json</c>) found is read: <c>OS_CLIENT_CONFIG_FILE</c>, then the current directory,
    /// <c>$XDG_CONFIG_HOME/openstack</c>, <c>~/.config/openstack</c>, <c>/etc/openstack</c>; the first
    /// <c>secure.yaml</c> found the same way (or <c>OS_CLIENT_SECURE_FILE</c>) is merged over it. Read: <c>auth_type</c>,
    /// <c>auth:</c> (<c>auth_url</c>, <c>username</c>/<c>user_id</c>, <c>password</c>, <c>project_name</c>/<c>_id</c>,
    /// <c>user_domain_name</c>/<c>_id</c>, <c>project_domain_name</c>/<c>_id</c>, <c>domain_name</c>/<c>_id</c>,
    /// <c>application_credential_id</c>/<c>_name</c>/<c>_secret</c>, <c>token</c>, <c>endpoint</c>),
    /// <c>region_name</c> (or the first of <c>regions</c>), <c>interface</c> and <c>image_endpoint_override</c>.
    /// </summary>
    /// <param name="variables">The variables to read; the process environment when null.</param>
    /// <param name="cloud">The cloud's name (<c>--os-cloud</c>); null for <c>OS_CLOUD</c>, and no clouds.yaml when neither is set.</param>
    /// <param name="configDirectories">The directories searched for clouds.yaml and secure.yaml; null for openstacksdk's.</param>
    /// <returns>The options.</returns>
    /// <exception cref="NotSupportedException">The auth type is not supported, or the cloud uses a vendor profile.</exception>
    /// <exception cref="ArgumentException">No clouds.yaml is found or it has no such cloud, or a URL is not an absolute http(s) URL.</exception>
    /// <exception cref="InvalidDataException">clouds.yaml or secure.yaml is malformed; the message names the file and position.</exception>
    public static OpenStackAuthOptions FromEnvironment(IReadOnlyDictionary<string, string>? variables, string? cloud, IReadOnlyList<string>? configDirectories = null)
    {
        string? Env(string name)
        {
            string? value = variables is null
                ? Environment.GetEnvironmentVariable(name)
                : variables.TryGetValue(name, out string? v) ? v : null;
            return string.IsNullOrEmpty(value) ? null : value;
        }

        cloud = string.IsNullOrEmpty(cloud) ? Env("OS_CLOUD") : cloud;
        Dictionary<string, CloudsYaml.Setting>? file = cloud is null
            ? null
            : CloudsYaml.Load(cloud, Env, configDirectories ?? CloudsYaml.SearchDirectories(Env, Environment.CurrentDirectory));

        // The variable when it is set, else the cloud's setting; with the name of where the value came from.
        (string Value, string Source)? Lookup(params string[] names)
        {
            foreach (string name in names)
            {
                if (Env(name) is { } v)
                {
                    return (v, name);
                }
            }

            foreach (string name in names)
            {
                if (file is not null && file.TryGetValue(name, out CloudsYaml.Setting s))
                {
                    return (s.Value, s.Source);
                }
            }

            return null;
        }

        string? Get(params string[] names) => Lookup(names)?.Value;

        Uri? Url(string name)
        {
            if (Lookup(name) is not { } found)
            {
                return null;
            }

            if (!Uri.TryCreate(found.Value, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new ArgumentException($"{found.Source} is not an absolute http(s) URL: '{found.Value}'.", nameof(variables));
            }

            return uri;
        }

        var options = new OpenStackAuthOptions
        {
            AuthType = Lookup("OS_AUTH_TYPE") is { } authType ? ParseAuthType(authType.Value, authType.Source) : null,
            AuthUrl = Url("OS_AUTH_URL"),
            UserName = Get("OS_USERNAME"),
            UserId = Get("OS_USER_ID"),
            Password = Get("OS_PASSWORD"),
            ProjectName = Get("OS_PROJECT_NAME", "OS_TENANT_NAME"),
            ProjectId = Get("OS_PROJECT_ID", "OS_TENANT_ID"),
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
            Interface = Get("OS_INTERFACE") is { } iface ? NormalizeInterface(iface) : "public",
        };
        return options;
    }

    /// <summary>The interface without the legacy <c>URL</c> suffix (<c>publicURL</c> is <c>public</c>).</summary>
    private static string NormalizeInterface(string value) =>
        value.EndsWith("URL", StringComparison.Ordinal) ? value[..^3] : value;

    /// <summary>The auth type in effect: the explicit one, or the one the other settings imply.</summary>
    internal OpenStackAuthType EffectiveAuthType =>
        AuthType ?? (AuthUrl is null ? (Token is not null ? OpenStackAuthType.Token : OpenStackAuthType.None)
            : ApplicationCredentialSecret is not null ? OpenStackAuthType.ApplicationCredential : OpenStackAuthType.Password);

    private static OpenStackAuthType ParseAuthType(string value, string source) => value.ToLowerInvariant() switch
    {
        "none" or "noauth" => OpenStackAuthType.None,
        "token" or "admin_token" or "v3token" => OpenStackAuthType.Token,
        "password" or "v3password" => OpenStackAuthType.Password,
        "v3applicationcredential" or "applicationcredential" => OpenStackAuthType.ApplicationCredential,
        _ => throw new NotSupportedException($"{source}: auth type '{value}' is not supported (none, token, password, v3password, v3applicationcredential are)."),
    };
}
