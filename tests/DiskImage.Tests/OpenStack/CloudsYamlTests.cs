using DiskImage.OpenStack;

namespace DiskImage.Tests.OpenStack;

/// <summary>
/// clouds.yaml and secure.yaml as openstackclient reads them with <c>--os-cloud</c>/<c>OS_CLOUD</c>: where they are
/// searched, which keys are read, how secure.yaml and the <c>OS_*</c> variables override, and what is refused.
/// </summary>
public sealed class CloudsYamlTests
{
    private const string PasswordCloud = """
        clouds:
          other:
            auth:
              auth_url: http://elsewhere.test:5000
          overcloud:
            auth:
              auth_url: http://keystone.test:5000/v3
              username: admin
              project_name: admin
              user_domain_name: Users
              project_domain_name: Projects
            region_name: RegionTwo
            interface: internal
            identity_api_version: 3
        """;

    private static OpenStackAuthOptions Load(TempDirectory dir, string? cloud, Dictionary<string, string>? variables = null) =>
        OpenStackAuthOptions.FromEnvironment(variables ?? [], cloud, [dir.Path]);

    [Fact]
    public void PasswordCloud_EveryKeyRead_SecureYamlMergedOver()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("clouds.yaml"), PasswordCloud);
        File.WriteAllText(dir.File("secure.yaml"), "clouds:\n  overcloud:\n    auth:\n      password: from-secure\n      project_name: secured\n");
        OpenStackAuthOptions o = Load(dir, "overcloud");
        Assert.Null(o.AuthType);
        Assert.Equal(new Uri("http://keystone.test:5000/v3"), o.AuthUrl);
        Assert.Equal("admin", o.UserName);
        Assert.Equal("from-secure", o.Password);
        Assert.Equal("secured", o.ProjectName);
        Assert.Equal("Users", o.UserDomainName);
        Assert.Equal("Projects", o.ProjectDomainName);
        Assert.Equal("RegionTwo", o.RegionName);
        Assert.Equal("internal", o.Interface);
        Assert.Equal(OpenStackAuthType.Password, o.EffectiveAuthType);

        // OS_CLOUD selects the same cloud; no cloud at all reads no file.
        Assert.Equal("from-secure", Load(dir, null, new() { ["OS_CLOUD"] = "overcloud" }).Password);
        OpenStackAuthOptions none = Load(dir, null, new() { ["OS_AUTH_TYPE"] = "none", ["OS_ENDPOINT"] = "http://glance.test:9292" });
        Assert.Null(none.AuthUrl);
        Assert.Null(none.UserName);
    }

    [Fact]
    public void OsVariables_OverrideTheCloud_AndTheCloudOptionBeatsOsCloud()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("clouds.yaml"), PasswordCloud);
        OpenStackAuthOptions o = Load(dir, "overcloud", new()
        {
            ["OS_CLOUD"] = "other",
            ["OS_PASSWORD"] = "from-env",
            ["OS_TENANT_NAME"] = "legacy-env",
            ["OS_REGION_NAME"] = "RegionOne",
            ["OS_INTERFACE"] = "publicURL",
            ["OS_USERNAME"] = string.Empty, // empty is unset, as in the clients
        });
        Assert.Equal(new Uri("http://keystone.test:5000/v3"), o.AuthUrl); // the cloud given, not OS_CLOUD's
        Assert.Equal("from-env", o.Password);
        Assert.Equal("legacy-env", o.ProjectName); // the variable beats the file's project_name
        Assert.Equal("RegionOne", o.RegionName);
        Assert.Equal("public", o.Interface);
        Assert.Equal("admin", o.UserName);
    }

    [Fact]
    public void ApplicationCredential_None_Token_Regions_DomainName()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("clouds.yml"), """
            clouds:
              appcred:
                auth_type: v3applicationcredential
                auth:
                  auth_url: https://keystone.test/identity
                  application_credential_id: 0123abcd
                  application_credential_secret: 42
                regions:
                  - name: East
                  - West
              standalone:
                auth_type: none
                auth:
                  endpoint: http://127.0.0.1:9292
              pretoken:
                auth_type: token
                auth:
                  token: gAAAA-token
                  endpoint: http://glance.test:9292
              domains:
                auth:
                  auth_url: http://keystone.test:5000
                  username: u
                  password: p
                  project_id: p1
                  domain_name: Corp
                  user_domain_name: People
                image_endpoint_override: http://images.test:9292
                regions: [North]
            """);
        OpenStackAuthOptions app = Load(dir, "appcred");
        Assert.Equal(OpenStackAuthType.ApplicationCredential, app.AuthType);
        Assert.Equal("0123abcd", app.ApplicationCredentialId);
        Assert.Equal("42", app.ApplicationCredentialSecret);
        Assert.Equal("East", app.RegionName);

        OpenStackAuthOptions none = Load(dir, "standalone");
        Assert.Equal(OpenStackAuthType.None, none.AuthType);
        Assert.Equal(new Uri("http://127.0.0.1:9292"), none.Endpoint);

        OpenStackAuthOptions token = Load(dir, "pretoken");
        Assert.Equal(OpenStackAuthType.Token, token.AuthType);
        Assert.Equal("gAAAA-token", token.Token);

        OpenStackAuthOptions domains = Load(dir, "domains");
        Assert.Equal("People", domains.UserDomainName);
        Assert.Equal("Corp", domains.ProjectDomainName);
        Assert.Equal("p1", domains.ProjectId);
        Assert.Equal(new Uri("http://images.test:9292"), domains.Endpoint);
        Assert.Equal("North", domains.RegionName);
    }

    [Fact]
    public void SearchOrder_AsOpenstacksdk()
    {
        Func<string, string?> env = n => n switch { "HOME" => "/home/u", "XDG_CONFIG_HOME" => "/xdg", _ => null };
        Assert.Equal(["/work", "/xdg/openstack", "/home/u/.config/openstack", "/etc/openstack"], CloudsYaml.SearchDirectories(env, "/work"));
        Assert.Equal(["/work", "/home/u/.config/openstack", "/etc/openstack"], CloudsYaml.SearchDirectories(n => n == "HOME" ? "/home/u" : null, "/work"));

        using var first = new TempDirectory();
        using var second = new TempDirectory();
        File.WriteAllText(second.File("clouds.yaml"), "clouds:\n  c:\n    region_name: second\n");
        File.WriteAllText(first.File("clouds.json"), """{"clouds": {"c": {"region_name": "first-json"}}}""");
        Assert.Equal("first-json", OpenStackAuthOptions.FromEnvironment(new Dictionary<string, string>(), "c", [first.Path, second.Path]).RegionName);
        File.WriteAllText(first.File("clouds.yaml"), "clouds:\n  c:\n    region_name: first-yaml\n");
        Assert.Equal("first-yaml", OpenStackAuthOptions.FromEnvironment(new Dictionary<string, string>(), "c", [first.Path, second.Path]).RegionName);
        // Only the first clouds.yaml found is read: a cloud that only the second one has is not found.
        File.WriteAllText(second.File("clouds.yaml"), "clouds:\n  only-second: {}\n");
        Assert.Throws<ArgumentException>(() => OpenStackAuthOptions.FromEnvironment(new Dictionary<string, string>(), "only-second", [first.Path, second.Path]));
        // OS_CLIENT_CONFIG_FILE comes before every directory.
        Assert.Null(OpenStackAuthOptions.FromEnvironment(new Dictionary<string, string> { ["OS_CLIENT_CONFIG_FILE"] = second.File("clouds.yaml") }, "only-second", [first.Path]).RegionName);
    }

    [Fact]
    public void CloudNotFound_NoFile_Profile_AreRefusedClearly()
    {
        using var dir = new TempDirectory();
        var noFile = Assert.Throws<ArgumentException>(() => Load(dir, "overcloud"));
        Assert.Contains("no clouds.yaml was found", noFile.Message);
        Assert.Contains(dir.Path, noFile.Message);

        File.WriteAllText(dir.File("clouds.yaml"), PasswordCloud);
        var unknown = Assert.Throws<ArgumentException>(() => Load(dir, "undercloud"));
        Assert.Contains("Cloud undercloud was not found in " + dir.File("clouds.yaml"), unknown.Message);
        Assert.Contains("its clouds: other, overcloud", unknown.Message);

        File.WriteAllText(dir.File("clouds.yaml"), "clouds:\n  vendor:\n    profile: vexxhost\n    auth:\n      username: u\n");
        var profile = Assert.Throws<NotSupportedException>(() => Load(dir, "vendor"));
        Assert.StartsWith(dir.File("clouds.yaml") + ":3:14:", profile.Message);
    }

    [Theory]
    [InlineData("clouds:\n  c:\n    auth: [unclosed\n", ":4:1:")]
    [InlineData("clouds:\n  c:\n\tauth: {}\n", ":1:1: not valid YAML")]
    [InlineData("clouds:\n  - c\n", ":2:3:")]
    [InlineData("clouds:\n  c: just-a-string\n", ":2:6:")]
    [InlineData("clouds:\n  c:\n    auth: password\n", ":3:11:")]
    [InlineData("clouds:\n  c:\n    auth:\n      password: {nested: x}\n", ":4:17:")]
    [InlineData("clouds:\n  c:\n    region_name: [a, b]\n", ":3:18:")]
    [InlineData("- a list\n", ":1:1:")]
    [InlineData("clouds: {}\n---\nclouds: {}\n", ": expected one YAML document")]
    public void MalformedFile_InvalidDataException_NamesFileAndPosition(string text, string position)
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("clouds.yaml"), text);
        var e = Assert.Throws<InvalidDataException>(() => Load(dir, "c"));
        Assert.True(e.Message.StartsWith(dir.File("clouds.yaml") + position, StringComparison.Ordinal), e.Message);
    }

    [Fact]
    public void MalformedSecureYaml_NamesSecureYaml_AndBadValuesNameTheirKey()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("clouds.yaml"), PasswordCloud);
        File.WriteAllText(dir.File("secure.yaml"), "clouds: [\n");
        var e = Assert.Throws<InvalidDataException>(() => Load(dir, "overcloud"));
        Assert.StartsWith(dir.File("secure.yaml") + ":", e.Message);

        File.Delete(dir.File("secure.yaml"));
        File.WriteAllText(dir.File("clouds.yaml"), "clouds:\n  c:\n    auth_type: v3oidcpassword\n    auth:\n      auth_url: keystone:5000\n");
        var type = Assert.Throws<NotSupportedException>(() => Load(dir, "c"));
        Assert.StartsWith(dir.File("clouds.yaml") + ":3:16 (clouds.c.auth_type): auth type 'v3oidcpassword' is not supported", type.Message);
        var url = Assert.Throws<ArgumentException>(() => Load(dir, "c", new() { ["OS_AUTH_TYPE"] = "password" }));
        Assert.StartsWith(dir.File("clouds.yaml") + ":5:17 (clouds.c.auth.auth_url) is not an absolute http(s) URL: 'keystone:5000'", url.Message);
    }
}
