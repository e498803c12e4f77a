using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace DiskImage.OpenStack;

/// <summary>
/// Reads one cloud of <c>clouds.yaml</c> (with <c>secure.yaml</c> merged over it) where openstacksdk looks for
/// them, and gives its settings under the names of the <c>OS_*</c> variables they stand for, so that
/// <see cref="OpenStackAuthOptions.FromEnvironment(IReadOnlyDictionary{string, string}?, string?, IReadOnlyList{string}?)"/>
/// can let the environment override them as openstackclient does.
/// </summary>
internal static class CloudsYaml
{
    /// <summary>The keys of a cloud's <c>auth:</c> mapping that are read, with the variable each stands for.</summary>
    private static readonly (string Key, string Variable)[] AuthKeys =
    [
        ("auth_url", "OS_AUTH_URL"),
        ("username", "OS_USERNAME"),
        ("user_id", "OS_USER_ID"),
        ("password", "OS_PASSWORD"),
        ("project_name", "OS_PROJECT_NAME"),
        ("tenant_name", "OS_TENANT_NAME"),
        ("project_id", "OS_PROJECT_ID"),
        ("tenant_id", "OS_TENANT_ID"),
        ("user_domain_name", "OS_USER_DOMAIN_NAME"),
        ("user_domain_id", "OS_USER_DOMAIN_ID"),
        ("project_domain_name", "OS_PROJECT_DOMAIN_NAME"),
        ("project_domain_id", "OS_PROJECT_DOMAIN_ID"),
        ("application_credential_id", "OS_APPLICATION_CREDENTIAL_ID"),
        ("application_credential_name", "OS_APPLICATION_CREDENTIAL_NAME"),
        ("application_credential_secret", "OS_APPLICATION_CREDENTIAL_SECRET"),
        ("token", "OS_TOKEN"),
        ("endpoint", "OS_ENDPOINT"),
    ];

    /// <summary>The keys of a cloud's own mapping that are read, with the variable each stands for.</summary>
    private static readonly (string Key, string Variable)[] CloudKeys =
    [
        ("auth_type", "OS_AUTH_TYPE"),
        ("region_name", "OS_REGION_NAME"),
        ("interface", "OS_INTERFACE"),
        ("endpoint_type", "OS_INTERFACE"),
        ("image_endpoint_override", "OS_IMAGE_ENDPOINT_OVERRIDE"),
    ];

    private static readonly string[] Suffixes = [".yaml", ".yml", ".json"];

    /// <summary>A setting read from a file: its value and where it was read (<c>FILE:LINE:COLUMN (clouds.NAME.KEY)</c>).</summary>
    internal readonly record struct Setting(string Value, string Source);

    /// <summary>
    /// The directories searched, in order, as openstacksdk does on Unix: the current directory,
    /// <c>$XDG_CONFIG_HOME/openstack</c>, <c>~/.config/openstack</c> and <c>/etc/openstack</c>.
    /// </summary>
    internal static List<string> SearchDirectories(Func<string, string?> variable, string currentDirectory)
    {
        string home = variable("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string unixConfig = Path.Combine(home, ".config", "openstack");
        string userConfig = variable("XDG_CONFIG_HOME") is { } xdg && Path.IsPathRooted(xdg) ? Path.Combine(xdg, "openstack") : unixConfig;
        var dirs = new List<string>(4);
        foreach (string d in new[] { currentDirectory, userConfig, unixConfig, "/etc/openstack" })
        {
            if (!dirs.Contains(d))
            {
                dirs.Add(d);
            }
        }

        return dirs;
    }

    /// <summary>The first file that exists: <paramref name="explicitFile"/>, then <c>NAME.yaml</c>, <c>.yml</c>, <c>.json</c> in each directory.</summary>
    internal static string? FindFile(string? explicitFile, IReadOnlyList<string> directories, string name)
    {
        if (explicitFile is not null && File.Exists(explicitFile))
        {
            return Path.GetFullPath(explicitFile);
        }

        foreach (string dir in directories)
        {
            foreach (string suffix in Suffixes)
            {
                string path = Path.Combine(dir, name + suffix);
                if (File.Exists(path))
                {
                    return path;
                }
            }
        }

        return null;
    }

    /// <summary>
    /// The settings of <paramref name="cloud"/>, keyed by the <c>OS_*</c> variable each stands for: those of
    /// <c>clouds.yaml</c>, then those of <c>secure.yaml</c> over them.
    /// </summary>
    /// <exception cref="ArgumentException">No clouds.yaml or secure.yaml is found, or neither names the cloud.</exception>
    /// <exception cref="InvalidDataException">A file is not valid YAML, or a value has the wrong shape; the message names the file and position.</exception>
    /// <exception cref="NotSupportedException">The cloud uses a vendor profile.</exception>
    internal static Dictionary<string, Setting> Load(string cloud, Func<string, string?> variable, IReadOnlyList<string> directories)
    {
        string? cloudsPath = FindFile(variable("OS_CLIENT_CONFIG_FILE"), directories, "clouds");
        string? securePath = FindFile(variable("OS_CLIENT_SECURE_FILE"), directories, "secure");
        if (cloudsPath is null && securePath is null)
        {
            throw new ArgumentException(
                $"Cloud {cloud}: no clouds.yaml was found (searched {string.Join(", ", directories)}{(variable("OS_CLIENT_CONFIG_FILE") is { } f ? " and OS_CLIENT_CONFIG_FILE=" + f : string.Empty)}).");
        }

        var settings = new Dictionary<string, Setting>(StringComparer.Ordinal);
        List<string> names = [];
        bool found = false;
        foreach (string? path in new[] { cloudsPath, securePath })
        {
            if (path is null)
            {
                continue;
            }

            YamlMappingNode? node = FindCloud(path, cloud, names);
            if (node is not null)
            {
                found = true;
                Read(path, cloud, node, settings);
            }
        }

        if (!found)
        {
            string files = cloudsPath is not null && securePath is not null ? $"{cloudsPath} or {securePath}" : cloudsPath ?? securePath!;
            throw new ArgumentException(
                $"Cloud {cloud} was not found in {files} ({(names.Count == 0 ? "it defines no cloud" : "its clouds: " + string.Join(", ", names.Distinct()))}).");
        }

        return settings;
    }

    private static YamlMappingNode? FindCloud(string path, string cloud, List<string> names)
    {
        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            stream.Load(reader);
        }
        catch (YamlException e)
        {
            throw new InvalidDataException($"{path}:{e.Start.Line}:{e.Start.Column}: not valid YAML: {e.Message}", e);
        }

        if (stream.Documents.Count == 0)
        {
            return null;
        }

        if (stream.Documents.Count > 1)
        {
            throw new InvalidDataException($"{path}: expected one YAML document, found {stream.Documents.Count}.");
        }

        YamlNode root = stream.Documents[0].RootNode;
        if (root is YamlScalarNode { Value: null or "" })
        {
            return null;
        }

        YamlMappingNode top = Mapping(path, root, "the file");
        if (Find(top, "clouds") is not { } cloudsNode || cloudsNode is YamlScalarNode { Value: null or "" })
        {
            return null;
        }

        YamlMappingNode clouds = Mapping(path, cloudsNode, "'clouds:'");
        YamlMappingNode? match = null;
        foreach (KeyValuePair<YamlNode, YamlNode> kv in clouds.Children)
        {
            string name = kv.Key is YamlScalarNode { Value: { } n } ? n : throw Error(path, kv.Key, "a cloud's name must be a single value");
            names.Add(name);
            if (name == cloud)
            {
                match = kv.Value is YamlScalarNode { Value: null or "" } ? new YamlMappingNode() : Mapping(path, kv.Value, $"cloud '{cloud}'");
            }
        }

        return match;
    }

    private static void Read(string path, string cloud, YamlMappingNode node, Dictionary<string, Setting> settings)
    {
        foreach (string key in new[] { "profile", "cloud" })
        {
            if (Find(node, key) is { } profile)
            {
                throw new NotSupportedException(
                    $"{Position(path, profile)}: cloud '{cloud}' uses the vendor profile '{(profile as YamlScalarNode)?.Value}'; profiles are not read: give its auth_url, region_name and interface in clouds.yaml.");
            }
        }

        foreach ((string key, string variable) in CloudKeys)
        {
            if (Find(node, key) is { } value && Scalar(path, value, $"clouds.{cloud}.{key}") is { } text)
            {
                settings[variable] = new Setting(text, $"{Position(path, value)} (clouds.{cloud}.{key})");
            }
        }

        if (Find(node, "region_name") is null && Find(node, "regions") is { } regions && regions is YamlSequenceNode { Children.Count: > 0 } list)
        {
            // openstacksdk takes the first of the cloud's regions when none is named.
            YamlNode first = list.Children[0] is YamlMappingNode m && Find(m, "name") is { } n ? n : list.Children[0];
            if (Scalar(path, first, $"clouds.{cloud}.regions") is { } region)
            {
                settings["OS_REGION_NAME"] = new Setting(region, $"{Position(path, first)} (clouds.{cloud}.regions)");
            }
        }

        if (Find(node, "auth") is not { } authNode || authNode is YamlScalarNode { Value: null or "" })
        {
            return;
        }

        YamlMappingNode auth = Mapping(path, authNode, $"clouds.{cloud}.auth");
        foreach ((string key, string variable) in AuthKeys)
        {
            if (Find(auth, key) is { } value && Scalar(path, value, $"clouds.{cloud}.auth.{key}") is { } text)
            {
                settings[variable] = new Setting(text, $"{Position(path, value)} (clouds.{cloud}.auth.{key})");
            }
        }

        // keystoneauth's domain_name/domain_id stand for the user's and the project's domain when those are not given.
        foreach ((string key, string user, string project) in new[] { ("domain_name", "OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME"), ("domain_id", "OS_USER_DOMAIN_ID", "OS_PROJECT_DOMAIN_ID") })
        {
            if (Find(auth, key) is { } value && Scalar(path, value, $"clouds.{cloud}.auth.{key}") is { } text)
            {
                var setting = new Setting(text, $"{Position(path, value)} (clouds.{cloud}.auth.{key})");
                settings.TryAdd(user, setting);
                settings.TryAdd(project, setting);
            }
        }
    }

    private static YamlNode? Find(YamlMappingNode m, string key)
    {
        foreach (KeyValuePair<YamlNode, YamlNode> kv in m.Children)
        {
            if (kv.Key is YamlScalarNode { Value: { } k } && k == key)
            {
                return kv.Value;
            }
        }

        return null;
    }

    private static YamlMappingNode Mapping(string path, YamlNode node, string what) =>
        node as YamlMappingNode ?? throw Error(path, node, $"{what} must be a mapping ('key: value' lines)");

    /// <summary>The scalar's text; null for an empty value (as if the key were absent).</summary>
    private static string? Scalar(string path, YamlNode node, string what) => node switch
    {
        YamlScalarNode { Value: null or "" } => null,
        YamlScalarNode { Value: { } v } => v,
        _ => throw Error(path, node, $"'{what}' must be a single value"),
    };

    private static string Position(string path, YamlNode node) => $"{path}:{node.Start.Line}:{node.Start.Column}";

    private static InvalidDataException Error(string path, YamlNode node, string message) => new($"{Position(path, node)}: {message}");
}
