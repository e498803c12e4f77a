using System.Security.Cryptography;
using DiskImage.OpenStack;

namespace DiskImage.Tests.OpenStack;

/// <summary>
/// <c>openstack overcloud image upload</c>'s semantics against a real glance-api: names, formats, properties
/// and links; reuse by MD5; <c>--update-existing</c>; what an interrupted upload leaves; HTTP boot copies.
/// </summary>
[Collection(GlanceCollection.Name)]
public sealed class OvercloudUploadTests(GlanceServer server)
{
    private GlanceClient Client()
    {
        server.Require();
        return new GlanceClient(new OpenStackAuthOptions { AuthType = OpenStackAuthType.None, Endpoint = server.Endpoint });
    }

    /// <summary>Writes overcloud-full.{qcow2,vmlinuz,initrd} and the agent pair with random bytes under a unique base name.</summary>
    private static (OvercloudUploadOptions Options, string Base) Inputs(TempDirectory dir, int seed, bool raw = false)
    {
        string baseName = "of" + Guid.NewGuid().ToString("N")[..8];
        var random = new Random(seed);
        foreach ((string suffix, int size) in new[] { (raw ? ".raw" : ".qcow2", 300_000), (".vmlinuz", 70_000), (".initrd", 90_000) })
        {
            byte[] data = new byte[size];
            random.NextBytes(data);
            File.WriteAllBytes(dir.File(baseName + suffix), data);
        }

        File.WriteAllBytes(dir.File("ironic-python-agent.kernel"), [1, 2, 3]);
        File.WriteAllBytes(dir.File("ironic-python-agent.initramfs"), [4, 5, 6, 7]);
        return (new OvercloudUploadOptions { ImageDirectory = dir.Path, OsImageName = baseName + (raw ? ".raw" : ".qcow2") }, baseName);
    }

    private static OvercloudUploadOptions Copy(OvercloudUploadOptions o, bool updateExisting = false) => new()
    {
        ImageDirectory = o.ImageDirectory,
        OsImageName = o.OsImageName,
        HttpBootDirectory = o.HttpBootDirectory,
        IncludeOsImage = o.IncludeOsImage,
        UpdateExisting = updateExisting,
    };

    private static string Md5(string file) => Convert.ToHexStringLower(MD5.HashData(File.ReadAllBytes(file)));

    [SkippableFact]
    public async Task Upload_CreatesTheThreeImagesWithTripleoFormatsPropertiesAndLinks()
    {
        using GlanceClient client = Client();
        using var dir = new TempDirectory();
        (OvercloudUploadOptions options, string b) = Inputs(dir, 1);

        IReadOnlyList<OvercloudUploadEntry> entries = await OvercloudImageUploader.UploadAsync(client, options);
        Assert.Equal([b + "-vmlinuz", b + "-initrd", b], entries.Select(e => e.Name));
        Assert.All(entries, e => Assert.Equal(OvercloudUploadAction.Uploaded, e.Action));

        GlanceImage kernel = Assert.Single(await client.FindImagesAsync(b + "-vmlinuz"));
        GlanceImage ramdisk = Assert.Single(await client.FindImagesAsync(b + "-initrd"));
        GlanceImage image = Assert.Single(await client.FindImagesAsync(b));
        Assert.Equal(("aki", "bare", "public"), (kernel.DiskFormat, kernel.ContainerFormat, kernel.Visibility));
        Assert.Equal(("ari", "bare", "public"), (ramdisk.DiskFormat, ramdisk.ContainerFormat, ramdisk.Visibility));
        Assert.Equal(("qcow2", "bare", "public"), (image.DiskFormat, image.ContainerFormat, image.Visibility));
        Assert.Equal(kernel.Id, image.Properties["kernel_id"]);
        Assert.Equal(ramdisk.Id, image.Properties["ramdisk_id"]);
        Assert.All(new[] { kernel, ramdisk, image }, i => Assert.Equal("x86_64", i.Properties["hw_architecture"]));
        Assert.False(kernel.Properties.ContainsKey("kernel_id"));
        Assert.Equal(Md5(dir.File(b + ".qcow2")), image.Checksum);
        Assert.Equal(Md5(dir.File(b + ".vmlinuz")), kernel.Checksum);

        var downloaded = new MemoryStream();
        await client.DownloadAsync(image.Id, downloaded);
        Assert.Equal(File.ReadAllBytes(dir.File(b + ".qcow2")), downloaded.ToArray());
    }

    [SkippableFact]
    public async Task Rerun_ReusesUnchangedImagesAndReplacesOnlyTheChangedOneWithUpdateExisting()
    {
        using GlanceClient client = Client();
        using var dir = new TempDirectory();
        (OvercloudUploadOptions options, string b) = Inputs(dir, 2);
        IReadOnlyList<OvercloudUploadEntry> first = await OvercloudImageUploader.UploadAsync(client, options);

        IReadOnlyList<OvercloudUploadEntry> again = await OvercloudImageUploader.UploadAsync(client, Copy(options));
        Assert.All(again, e => Assert.Equal(OvercloudUploadAction.UpToDate, e.Action));
        Assert.Equal(first.Select(e => e.ImageId), again.Select(e => e.ImageId));
        Assert.Single(await client.FindImagesAsync(b));

        File.WriteAllBytes(dir.File(b + ".initrd"), [9, 9, 9, 9, 9]);
        IReadOnlyList<OvercloudUploadEntry> withoutFlag = await OvercloudImageUploader.UploadAsync(client, options);
        Assert.Equal(OvercloudUploadAction.Outdated, withoutFlag[1].Action);
        Assert.Equal(first[1].ImageId, withoutFlag[1].ImageId);

        IReadOnlyList<OvercloudUploadEntry> updated = await OvercloudImageUploader.UploadAsync(client, Copy(options, updateExisting: true));
        Assert.Equal([OvercloudUploadAction.UpToDate, OvercloudUploadAction.Replaced, OvercloudUploadAction.UpToDate], updated.Select(e => e.Action));
        GlanceImage newRamdisk = Assert.Single(await client.FindImagesAsync(b + "-initrd"));
        Assert.Equal(updated[1].ImageId, newRamdisk.Id);
        Assert.NotEqual(first[1].ImageId, newRamdisk.Id);
        Assert.Equal(Md5(dir.File(b + ".initrd")), newRamdisk.Checksum);
        GlanceImage old = await client.GetImageAsync(first[1].ImageId);
        Assert.Equal(updated[1].RenamedTo, old.Name);
        Assert.Matches("^" + b + @"-initrd_\d{8}T\d{6}Z$", old.Name);

        // The unchanged partition image now links the new ramdisk.
        GlanceImage image = Assert.Single(await client.FindImagesAsync(b));
        Assert.Equal(first[2].ImageId, image.Id);
        Assert.Equal(newRamdisk.Id, image.Properties["ramdisk_id"]);
        Assert.Equal(first[0].ImageId, image.Properties["kernel_id"]);
    }

    [SkippableFact]
    public async Task CancelledUpload_LeavesNoImage_AndLeftoversOfAKilledRunAreDeletedByTheNext()
    {
        using GlanceClient client = Client();
        using var dir = new TempDirectory();
        (OvercloudUploadOptions options, string b) = Inputs(dir, 3);

        // Cancelled the moment the first upload starts: the image it created is deleted again.
        using var cts = new CancellationTokenSource();
        var cancelOnUpload = new SynchronousProgress(m => { if (m.StartsWith("Uploading", StringComparison.Ordinal)) { cts.Cancel(); } });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => OvercloudImageUploader.UploadAsync(client, options, cancelOnUpload, cts.Token));
        Assert.Empty(await client.FindImagesAsync(b + "-vmlinuz"));

        // A killed run leaves a queued record (created, never uploaded) — the next run deletes it.
        GlanceImage leftover = await client.CreateImageAsync(new GlanceImageDefinition { Name = b, DiskFormat = "qcow2" });
        IReadOnlyList<OvercloudUploadEntry> entries = await OvercloudImageUploader.UploadAsync(client, options);
        Assert.All(entries, e => Assert.Equal(OvercloudUploadAction.Uploaded, e.Action));
        GlanceImage image = Assert.Single(await client.FindImagesAsync(b));
        Assert.NotEqual(leftover.Id, image.Id);
        Assert.Equal("active", image.Status);
    }

    [SkippableFact]
    public async Task MissingInput_UploadsNothing()
    {
        using GlanceClient client = Client();
        using var dir = new TempDirectory();
        (OvercloudUploadOptions options, string b) = Inputs(dir, 4);
        File.Delete(dir.File(b + ".initrd"));
        await Assert.ThrowsAsync<FileNotFoundException>(() => OvercloudImageUploader.UploadAsync(client, options));
        Assert.Empty(await client.FindImagesAsync(b + "-vmlinuz"));
        Assert.Empty(await client.FindImagesAsync(b));
    }

    [SkippableFact]
    public async Task WholeDiskRawWithPlatform_HasNoKernelOrRamdiskAndPrefixedName()
    {
        using GlanceClient client = Client();
        using var dir = new TempDirectory();
        (OvercloudUploadOptions options, string b) = Inputs(dir, 5, raw: true);
        File.Delete(dir.File(b + ".vmlinuz"));
        File.Delete(dir.File(b + ".initrd"));
        IReadOnlyList<OvercloudUploadEntry> entries = await OvercloudImageUploader.UploadAsync(
            client, new OvercloudUploadOptions { ImageDirectory = options.ImageDirectory, OsImageName = options.OsImageName, WholeDisk = true, Architecture = "ppc64le", Platform = "p9" });
        OvercloudUploadEntry entry = Assert.Single(entries);
        Assert.Equal("p9-ppc64le-" + b, entry.Name);
        GlanceImage image = Assert.Single(await client.FindImagesAsync("p9-ppc64le-" + b));
        Assert.Equal("raw", image.DiskFormat);
        Assert.False(image.Properties.ContainsKey("kernel_id"));
        Assert.False(image.Properties.ContainsKey("ramdisk_id"));
        Assert.Equal("ppc64le", image.Properties["hw_architecture"]);
        Assert.Equal("p9", image.Properties["tripleo_platform"]);
    }

    [SkippableFact]
    public async Task AgentFiles_AreCopiedToHttpBootAndReplacedOnlyWithUpdateExisting()
    {
        using GlanceClient client = Client();
        using var dir = new TempDirectory();
        (OvercloudUploadOptions options, _) = Inputs(dir, 6);
        string boot = dir.File("httpboot");
        options = new OvercloudUploadOptions { ImageDirectory = options.ImageDirectory, OsImageName = options.OsImageName, HttpBootDirectory = boot, IncludeOsImage = false };
        IReadOnlyList<OvercloudUploadEntry> entries = await OvercloudImageUploader.UploadAsync(client, options);
        Assert.Equal([OvercloudUploadAction.Copied, OvercloudUploadAction.Copied], entries.Select(e => e.Action));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(Path.Combine(boot, "agent.kernel")));
        Assert.Equal([4, 5, 6, 7], File.ReadAllBytes(Path.Combine(boot, "agent.ramdisk")));

        File.WriteAllBytes(dir.File("ironic-python-agent.kernel"), [8]);
        entries = await OvercloudImageUploader.UploadAsync(client, options);
        Assert.Equal([OvercloudUploadAction.Outdated, OvercloudUploadAction.UpToDate], entries.Select(e => e.Action));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(Path.Combine(boot, "agent.kernel")));
        entries = await OvercloudImageUploader.UploadAsync(client, Copy(options, updateExisting: true));
        Assert.Equal([OvercloudUploadAction.Copied, OvercloudUploadAction.UpToDate], entries.Select(e => e.Action));
        Assert.Equal([8], File.ReadAllBytes(Path.Combine(boot, "agent.kernel")));
        Assert.Equal(["agent.kernel", "agent.ramdisk"], Directory.GetFiles(boot).Select(Path.GetFileName).Order());
    }

    private sealed class SynchronousProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
