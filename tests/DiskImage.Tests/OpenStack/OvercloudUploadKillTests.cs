using System.Diagnostics;
using System.Security.Cryptography;
using DiskImage.OpenStack;
using DiskImage.Tests.Cli;

namespace DiskImage.Tests.OpenStack;

/// <summary>
/// <c>overcloud upload</c> as a child process killed (SIGKILL) at seeded random points against a real glance-api:
/// after the next successful run no image of ours is left queued or half-uploaded, and each name has exactly one
/// active image with the file's checksum.
/// </summary>
[Collection(GlanceCollection.Name)]
public sealed class OvercloudUploadKillTests(GlanceServer server)
{
    private const int Seed = 5151;

    [SkippableFact]
    public async Task KilledUpload_AtSeededPoints_NextRunLeavesOnlyActiveImagesWithTheRightChecksums()
    {
        server.Require();
        using var dir = new TempDirectory();
        string b = "kill" + Guid.NewGuid().ToString("N")[..8];
        var random = new Random(Seed);
        foreach ((string suffix, int size) in new[] { (".qcow2", 24 << 20), (".vmlinuz", 3 << 20), (".initrd", 6 << 20) })
        {
            byte[] data = new byte[size];
            random.NextBytes(data);
            File.WriteAllBytes(dir.File(b + suffix), data);
        }

        var env = new Dictionary<string, string> { ["OS_AUTH_TYPE"] = "none", ["OS_ENDPOINT"] = server.Endpoint.ToString() };
        string[] args = ["overcloud", "upload", "-o", dir.Path, "--os-image-name", b + ".qcow2", "-q"];
        using var client = new GlanceClient(new OpenStackAuthOptions { AuthType = OpenStackAuthType.None, Endpoint = server.Endpoint });

        // How long an uninterrupted upload takes (start-up included), measured on another name, to spread the kill points over it.
        string pilot = "pilot" + b;
        foreach (string suffix in new[] { ".qcow2", ".vmlinuz", ".initrd" })
        {
            File.Copy(dir.File(b + suffix), dir.File(pilot + suffix));
        }

        var clock = Stopwatch.StartNew();
        using (CliProcess p = CliProcess.Start(env, ["overcloud", "upload", "-o", dir.Path, "--os-image-name", pilot + ".qcow2", "-q"]))
        {
            CliResult done = p.WaitForExit();
            Assert.True(done.ExitCode == 0, done.ToString());
        }

        int total = (int)clock.ElapsedMilliseconds;
        var leftovers = new List<string>();
        for (int i = 0; i < 4; i++)
        {
            int delay = random.Next(total / 5, total);
            using (CliProcess child = CliProcess.Start(env, args))
            {
                Thread.Sleep(delay);
                child.Kill();
            }

            foreach (string name in new[] { b + "-vmlinuz", b + "-initrd", b })
            {
                foreach (GlanceImage image in await client.FindImagesAsync(name))
                {
                    if (image.Status != "active")
                    {
                        leftovers.Add($"kill {i} after {delay} ms: {name} {image.Status}");
                    }
                }
            }
        }

        using (CliProcess next = CliProcess.Start(env, args))
        {
            CliResult done = next.WaitForExit();
            Assert.True(done.ExitCode == 0, $"seed {Seed}: {done}");
        }

        string context = $"seed {Seed}, {total} ms uninterrupted; leftovers seen between kills: [{string.Join("; ", leftovers)}]";
        foreach ((string name, string suffix) in new[] { (b + "-vmlinuz", ".vmlinuz"), (b + "-initrd", ".initrd"), (b, ".qcow2") })
        {
            IReadOnlyList<GlanceImage> images = await client.FindImagesAsync(name);
            Assert.True(images.Count == 1, $"{context}: {name} has {images.Count} images ({string.Join(", ", images.Select(x => x.Status))})");
            Assert.Equal("active", images[0].Status);
            Assert.True(Convert.ToHexStringLower(MD5.HashData(File.ReadAllBytes(dir.File(b + suffix)))) == images[0].Checksum, $"{context}: {name} checksum");
        }

        GlanceImage full = (await client.FindImagesAsync(b))[0];
        Assert.Equal((await client.FindImagesAsync(b + "-vmlinuz"))[0].Id, full.Properties["kernel_id"]);
        Assert.Equal((await client.FindImagesAsync(b + "-initrd"))[0].Id, full.Properties["ramdisk_id"]);
    }
}
