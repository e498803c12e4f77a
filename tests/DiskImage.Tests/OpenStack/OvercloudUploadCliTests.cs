using System.Text.Json;
using DiskImage.OpenStack;
using DiskImage.Tests.Cli;

namespace DiskImage.Tests.OpenStack;

/// <summary><c>diskimage overcloud upload</c> against a real glance-api, credentials from OS_* variables.</summary>
[Collection(GlanceCollection.Name)]
public sealed class OvercloudUploadCliTests(GlanceServer server)
{
    [SkippableFact]
    public async Task Upload_Json_ThenRerunIsUpToDate()
    {
        server.Require();
        using var dir = new TempDirectory();
        string b = "cli" + Guid.NewGuid().ToString("N")[..8];
        File.WriteAllBytes(dir.File(b + ".qcow2"), new byte[65536]);
        File.WriteAllBytes(dir.File(b + ".vmlinuz"), [1, 2, 3]);
        File.WriteAllBytes(dir.File(b + ".initrd"), [4, 5]);
        string? oldType = Environment.GetEnvironmentVariable("OS_AUTH_TYPE");
        string? oldEndpoint = Environment.GetEnvironmentVariable("OS_ENDPOINT");
        Environment.SetEnvironmentVariable("OS_AUTH_TYPE", "none");
        Environment.SetEnvironmentVariable("OS_ENDPOINT", server.Endpoint.ToString());
        try
        {
            CliResult first = CliHarness.RunOk("overcloud", "upload", "-o", dir.Path, "--os-image-name", b + ".qcow2", "--output=json");
            using JsonDocument doc = JsonDocument.Parse(first.StandardOutput);
            Assert.Equal(["uploaded", "uploaded", "uploaded"], doc.RootElement.EnumerateArray().Select(e => e.GetProperty("action").GetString()));
            Assert.Equal([b + "-vmlinuz", b + "-initrd", b], doc.RootElement.EnumerateArray().Select(e => e.GetProperty("name").GetString()));

            CliResult again = CliHarness.RunOk("overcloud", "upload", "-o", dir.Path, "--os-image-name", b + ".qcow2");
            Assert.Equal(3, again.StandardOutput.Split('\n').Count(l => l.Contains("up-to-date", StringComparison.Ordinal)));

            CliResult missing = CliHarness.Run("overcloud", "upload", "-o", dir.Path, "--os-image-name", "absent.qcow2");
            Assert.Equal(1, missing.ExitCode);
            Assert.Contains("absent.qcow2", missing.StandardError);
        }
        finally
        {
            Environment.SetEnvironmentVariable("OS_AUTH_TYPE", oldType);
            Environment.SetEnvironmentVariable("OS_ENDPOINT", oldEndpoint);
        }

        using var client = new GlanceClient(new OpenStackAuthOptions { AuthType = OpenStackAuthType.None, Endpoint = server.Endpoint });
        Assert.Single(await client.FindImagesAsync(b));
    }
}
