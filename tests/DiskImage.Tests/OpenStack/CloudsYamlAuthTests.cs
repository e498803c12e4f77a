using System.Text;
using System.Text.Json;
using DiskImage.OpenStack;
using DiskImage.Tests.Cli;

namespace DiskImage.Tests.OpenStack;

/// <summary>
/// A cloud of clouds.yaml (secrets in secure.yaml) against the real Keystone and Glance: password and
/// application-credential tokens, a standalone Glance with <c>auth_type: none</c>, and <c>overcloud upload --os-cloud</c>.
/// </summary>
[Collection(GlanceCollection.Name)]
public sealed class CloudsYamlAuthTests(GlanceServer glance, KeystoneServer keystone)
{
    private static async Task RoundTripAsync(OpenStackAuthOptions options)
    {
        using var client = new GlanceClient(options);
        string name = "cy-" + Guid.NewGuid().ToString("N")[..8];
        GlanceImage image = await client.CreateImageAsync(new GlanceImageDefinition { Name = name, DiskFormat = "raw" });
        GlanceUploadResult uploaded = await client.UploadAsync(image.Id, new MemoryStream(Encoding.ASCII.GetBytes("hello clouds.yaml")));
        Assert.Equal("active", uploaded.Image.Status);
        Assert.Single(await client.FindImagesAsync(name));
        Assert.True(await client.DeleteImageAsync(image.Id));
    }

    [SkippableFact]
    public async Task PasswordCloud_SecretInSecureYaml_GetsATokenAndUsesGlance()
    {
        await KeystoneAuthTests.RegisterImageEndpointOnceAsync(glance, keystone);
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("clouds.yaml"), $"""
            clouds:
              undercloud:
                auth:
                  auth_url: {keystone.AuthUrl.GetLeftPart(UriPartial.Authority)}
                  username: admin
                  project_name: admin
                  user_domain_name: Default
                  project_domain_name: Default
                region_name: RegionOne
                interface: public
            """);
        File.WriteAllText(dir.File("secure.yaml"), $"clouds:\n  undercloud:\n    auth:\n      password: {KeystoneServer.Password}\n");
        await RoundTripAsync(OpenStackAuthOptions.FromEnvironment(new Dictionary<string, string> { ["OS_CLOUD"] = "undercloud" }, null, [dir.Path]));

        // The environment overrides the file: a wrong OS_PASSWORD is what Keystone sees.
        using var wrong = new GlanceClient(OpenStackAuthOptions.FromEnvironment(new Dictionary<string, string> { ["OS_PASSWORD"] = "not-it" }, "undercloud", [dir.Path]));
        var refused = await Assert.ThrowsAsync<OpenStackException>(() => wrong.FindImagesAsync("x"));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [SkippableFact]
    public async Task ApplicationCredentialCloud_Works()
    {
        await KeystoneAuthTests.RegisterImageEndpointOnceAsync(glance, keystone);
        (string id, string secret) = await keystone.CreateApplicationCredentialAsync("clouds-yaml-" + Guid.NewGuid().ToString("N")[..6]);
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("clouds.yaml"), $"""
            clouds:
              appcred:
                auth_type: v3applicationcredential
                auth:
                  auth_url: {keystone.AuthUrl}
                  application_credential_id: {id}
                  application_credential_secret: "{secret}"
            """);
        await RoundTripAsync(OpenStackAuthOptions.FromEnvironment(new Dictionary<string, string>(), "appcred", [dir.Path]));
    }

    [SkippableFact]
    public async Task NoneCloud_StandaloneGlance()
    {
        glance.Require();
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("clouds.yaml"), $"clouds:\n  local:\n    auth_type: none\n    auth:\n      endpoint: {glance.Endpoint}\n");
        await RoundTripAsync(OpenStackAuthOptions.FromEnvironment(new Dictionary<string, string>(), "local", [dir.Path]));
    }

    [SkippableFact]
    public async Task Cli_OsCloud_Uploads_AndMalformedCloudsYamlNamesTheFile()
    {
        glance.Require();
        using var dir = new TempDirectory();
        string b = "oscloud" + Guid.NewGuid().ToString("N")[..8];
        File.WriteAllBytes(dir.File(b + ".qcow2"), new byte[65536]);
        File.WriteAllBytes(dir.File(b + ".vmlinuz"), [1, 2, 3]);
        File.WriteAllBytes(dir.File(b + ".initrd"), [4, 5]);
        string clouds = dir.File("my-clouds.yaml");
        File.WriteAllText(clouds, $"clouds:\n  local:\n    auth_type: none\n    auth:\n      endpoint: {glance.Endpoint}\n");
        string[] names = ["OS_CLIENT_CONFIG_FILE", "OS_CLOUD", "OS_AUTH_TYPE", "OS_ENDPOINT", "OS_AUTH_URL"];
        string?[] old = [.. names.Select(Environment.GetEnvironmentVariable)];
        try
        {
            foreach (string n in names)
            {
                Environment.SetEnvironmentVariable(n, null);
            }

            Environment.SetEnvironmentVariable("OS_CLIENT_CONFIG_FILE", clouds);
            CliResult first = CliHarness.RunOk("overcloud", "upload", "--os-cloud", "local", "-o", dir.Path, "--os-image-name", b + ".qcow2", "--output=json");
            using (JsonDocument doc = JsonDocument.Parse(first.StandardOutput))
            {
                Assert.Equal(["uploaded", "uploaded", "uploaded"], doc.RootElement.EnumerateArray().Select(e => e.GetProperty("action").GetString()));
            }

            // OS_CLOUD selects the cloud as --os-cloud does.
            Environment.SetEnvironmentVariable("OS_CLOUD", "local");
            CliResult again = CliHarness.RunOk("overcloud", "upload", "-o", dir.Path, "--os-image-name", b + ".qcow2");
            Assert.Equal(3, again.StandardOutput.Split('\n').Count(l => l.Contains("up-to-date", StringComparison.Ordinal)));

            CliResult unknown = CliHarness.Run("overcloud", "upload", "--os-cloud", "nowhere", "-o", dir.Path, "--os-image-name", b + ".qcow2");
            Assert.Equal(1, unknown.ExitCode);
            Assert.Contains("Cloud nowhere was not found in " + clouds, unknown.StandardError);

            File.WriteAllText(clouds, "clouds:\n  local:\n    auth: [\n");
            CliResult malformed = CliHarness.Run("overcloud", "upload", "-o", dir.Path, "--os-image-name", b + ".qcow2");
            Assert.Equal(1, malformed.ExitCode);
            Assert.Contains(clouds + ":", malformed.StandardError);
            Assert.Contains("not valid YAML", malformed.StandardError);
        }
        finally
        {
            for (int i = 0; i < names.Length; i++)
            {
                Environment.SetEnvironmentVariable(names[i], old[i]);
            }
        }

        using var client = new GlanceClient(new OpenStackAuthOptions { AuthType = OpenStackAuthType.None, Endpoint = glance.Endpoint });
        Assert.Single(await client.FindImagesAsync(b));
    }
}
