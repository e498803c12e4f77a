using System.Globalization;
using System.Security.Cryptography;

namespace DiskImage.OpenStack;

/// <summary>
/// Puts the overcloud images into Glance the way <c>openstack overcloud image upload</c> does: the kernel
/// (<c>NAME-vmlinuz</c>, <c>aki</c>) and ramdisk (<c>NAME-initrd</c>, <c>ari</c>), then the image (<c>qcow2</c> or
/// <c>raw</c>) with <c>kernel_id</c>, <c>ramdisk_id</c> and <c>hw_architecture</c>; an image whose name exists
/// with the same MD5 is reused, a changed one is replaced only with
/// <see cref="OvercloudUploadOptions.UpdateExisting"/> (the old one renamed <c>NAME_&lt;created_at&gt;</c>);
/// the agent kernel and ramdisk are copied to the HTTP boot directory.
/// </summary>
/// <remarks>
/// Every input file is checked before the first request. A failed or cancelled upload deletes the image
/// it created and gives a renamed image its name back; images an interrupted run left behind under the
/// same name (status <c>queued</c>, <c>saving</c>, <c>killed</c>, <c>uploading</c>, <c>importing</c>) are deleted
/// by the next run before it looks for an existing image.
/// </remarks>
public static class OvercloudImageUploader
{
    private static readonly string[] LeftoverStatuses = ["queued", "saving", "killed", "uploading", "importing"];

    /// <summary>Uploads the images the options name and returns what was done with each.</summary>
    /// <exception cref="FileNotFoundException">An input file is missing (nothing was uploaded).</exception>
    /// <exception cref="InvalidOperationException">Glance holds several active images of one name.</exception>
    /// <exception cref="OpenStackException">Glance refused a request.</exception>
    public static async Task<IReadOnlyList<OvercloudUploadEntry>> UploadAsync(
        GlanceClient client, OvercloudUploadOptions? options = null, IProgress<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        options ??= OvercloudUploadOptions.Default;
        string baseName = Path.GetFileNameWithoutExtension(options.OsImageName);
        string diskFormat = Path.GetExtension(options.OsImageName).ToLowerInvariant() switch
        {
            ".qcow2" => "qcow2",
            ".raw" or ".img" => "raw",
            string ext => throw new NotSupportedException($"'{options.OsImageName}': the image must be .qcow2 or .raw (not '{ext}')."),
        };
        string osImage = Path.Combine(options.ImageDirectory, options.OsImageName);
        string kernel = Path.Combine(options.ImageDirectory, baseName + ".vmlinuz");
        string ramdisk = Path.Combine(options.ImageDirectory, baseName + ".initrd");
        string agentKernel = Path.Combine(options.ImageDirectory, options.IronicPythonAgentName + ".kernel");
        string agentRamdisk = Path.Combine(options.ImageDirectory, options.IronicPythonAgentName + ".initramfs");
        bool copyAgent = options.IncludeAgent && options.HttpBootDirectory is not null;

        var required = new List<string>();
        if (options.IncludeOsImage)
        {
            required.Add(osImage);
            if (!options.WholeDisk)
            {
                required.Add(kernel);
                required.Add(ramdisk);
            }
        }

        if (copyAgent)
        {
            required.Add(agentKernel);
            required.Add(agentRamdisk);
        }

        foreach (string file in required)
        {
            if (!File.Exists(file))
            {
                throw new FileNotFoundException($"'{file}' does not exist; nothing was uploaded.", file);
            }
        }

        var entries = new List<OvercloudUploadEntry>();
        if (options.IncludeOsImage)
        {
            var properties = new Dictionary<string, string>(StringComparer.Ordinal) { ["hw_architecture"] = options.Architecture };
            if (options.Platform is not null)
            {
                properties["tripleo_platform"] = options.Platform;
            }

            if (!options.WholeDisk)
            {
                var common = new Dictionary<string, string>(properties, StringComparer.Ordinal);
                OvercloudUploadEntry k = await EnsureAsync(client, options, GlanceName(baseName + "-vmlinuz", options), kernel, "aki", common, log, cancellationToken).ConfigureAwait(false);
                OvercloudUploadEntry r = await EnsureAsync(client, options, GlanceName(baseName + "-initrd", options), ramdisk, "ari", common, log, cancellationToken).ConfigureAwait(false);
                entries.Add(k);
                entries.Add(r);
                properties["kernel_id"] = k.ImageId;
                properties["ramdisk_id"] = r.ImageId;
            }

            entries.Add(await EnsureAsync(client, options, GlanceName(baseName, options), osImage, diskFormat, properties, log, cancellationToken).ConfigureAwait(false));
        }

        if (copyAgent)
        {
            entries.Add(await CopyIfChangedAsync(agentKernel, Path.Combine(options.HttpBootDirectory!, "agent.kernel"), options.UpdateExisting, log, cancellationToken).ConfigureAwait(false));
            entries.Add(await CopyIfChangedAsync(agentRamdisk, Path.Combine(options.HttpBootDirectory!, "agent.ramdisk"), options.UpdateExisting, log, cancellationToken).ConfigureAwait(false));
        }

        return entries;
    }

    /// <summary>tripleoclient's name helper: <c>[PLATFORM-]ARCH-NAME</c> when a platform or another architecture
    /// than x86_64 is given, otherwise the name itself.</summary>
    internal static string GlanceName(string name, OvercloudUploadOptions options) =>
        options.Platform is not null ? $"{options.Platform}-{options.Architecture}-{name}"
        : options.Architecture != "x86_64" ? $"{options.Architecture}-{name}"
        : name;

    /// <summary>The name an image replaced under <c>--update-existing</c> gets: <c>NAME_yyyyMMddTHHmmssZ</c> of its creation.</summary>
    internal static string ReplacedName(string name, DateTimeOffset? createdAt) =>
        name + "_" + (createdAt ?? DateTimeOffset.UtcNow).UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    private static async Task<OvercloudUploadEntry> EnsureAsync(
        GlanceClient client, OvercloudUploadOptions options, string name, string file, string diskFormat,
        IReadOnlyDictionary<string, string> properties, IProgress<string>? log, CancellationToken cancellationToken)
    {
        string md5 = await Md5Async(file, cancellationToken).ConfigureAwait(false);
        var active = new List<GlanceImage>();
        foreach (GlanceImage image in await client.FindImagesAsync(name, cancellationToken).ConfigureAwait(false))
        {
            if (Array.IndexOf(LeftoverStatuses, image.Status) >= 0)
            {
                log?.Report($"Deleting image {image.Id} ({name}, {image.Status}) left by an interrupted upload");
                await client.DeleteImageAsync(image.Id, cancellationToken).ConfigureAwait(false);
            }
            else if (image.Status == "active")
            {
                active.Add(image);
            }
        }

        if (active.Count > 1)
        {
            throw new InvalidOperationException(
                $"Glance holds {active.Count} active images named '{name}' ({string.Join(", ", active.Select(i => i.Id))}); delete all copies except the first one.");
        }

        GlanceImage? existing = active.Count == 1 ? active[0] : null;
        if (existing is not null && string.Equals(existing.Checksum, md5, StringComparison.OrdinalIgnoreCase))
        {
            log?.Report($"Image \"{name}\" ({existing.Id}) is up-to-date, skipping.");
            await UpdateChangedPropertiesAsync(client, existing, properties, options, log, cancellationToken).ConfigureAwait(false);
            return new OvercloudUploadEntry { Name = name, File = file, Action = OvercloudUploadAction.UpToDate, ImageId = existing.Id, Md5 = md5 };
        }

        if (existing is not null && !options.UpdateExisting)
        {
            log?.Report($"Image \"{name}\" ({existing.Id}) already exists and can be updated with --update-existing.");
            return new OvercloudUploadEntry { Name = name, File = file, Action = OvercloudUploadAction.Outdated, ImageId = existing.Id, Md5 = md5 };
        }

        string? renamedTo = null;
        if (existing is not null)
        {
            renamedTo = ReplacedName(name, existing.CreatedAt);
            log?.Report($"Renaming image \"{name}\" ({existing.Id}) to \"{renamedTo}\"");
            await client.UpdateImageAsync(existing.Id, [new("name", renamedTo)], cancellationToken).ConfigureAwait(false);
        }

        try
        {
            string id = await UploadNewAsync(client, name, file, diskFormat, options.Visibility, properties, md5, log, cancellationToken).ConfigureAwait(false);
            return new OvercloudUploadEntry
            {
                Name = name,
                File = file,
                Action = existing is null ? OvercloudUploadAction.Uploaded : OvercloudUploadAction.Replaced,
                ImageId = id,
                Md5 = md5,
                RenamedTo = renamedTo,
            };
        }
        catch when (existing is not null)
        {
            // Give the old image its name back so the cloud is as it was.
            try
            {
                await client.UpdateImageAsync(existing.Id, [new("name", name)], CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception restore) when (restore is OpenStackException or HttpRequestException or TaskCanceledException)
            {
                log?.Report($"Could not rename image {existing.Id} back to \"{name}\": {restore.Message}");
            }

            throw;
        }
    }

    private static async Task<string> UploadNewAsync(
        GlanceClient client, string name, string file, string diskFormat, string visibility,
        IReadOnlyDictionary<string, string> properties, string md5, IProgress<string>? log, CancellationToken cancellationToken)
    {
        GlanceImage created = await client.CreateImageAsync(
            new GlanceImageDefinition { Name = name, DiskFormat = diskFormat, ContainerFormat = "bare", Visibility = visibility, Properties = properties },
            cancellationToken).ConfigureAwait(false);
        try
        {
            log?.Report($"Uploading \"{name}\" ({created.Id}) from {file}");
            await using var data = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
            GlanceUploadResult result = await client.UploadAsync(created.Id, data, cancellationToken).ConfigureAwait(false);
            if (!string.Equals(result.Md5, md5, StringComparison.Ordinal))
            {
                throw new IOException($"'{file}' changed while it was uploaded (MD5 {md5} before, {result.Md5} sent).");
            }

            return created.Id;
        }
        catch
        {
            try
            {
                await client.DeleteImageAsync(created.Id, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception cleanup) when (cleanup is OpenStackException or HttpRequestException or TaskCanceledException)
            {
                log?.Report($"Could not delete the unfinished image {created.Id}: {cleanup.Message}; the next upload deletes it.");
            }

            throw;
        }
    }

    private static async Task UpdateChangedPropertiesAsync(
        GlanceClient client, GlanceImage image, IReadOnlyDictionary<string, string> properties, OvercloudUploadOptions options,
        IProgress<string>? log, CancellationToken cancellationToken)
    {
        var changes = new List<KeyValuePair<string, string?>>();
        foreach (KeyValuePair<string, string> p in properties)
        {
            if (!image.Properties.TryGetValue(p.Key, out string? current) || current != p.Value)
            {
                changes.Add(new(p.Key, p.Value));
            }
        }

        if (changes.Count == 0)
        {
            return;
        }

        if (!options.UpdateExisting)
        {
            log?.Report($"Image \"{image.Name}\" ({image.Id}) has other properties than expected ({string.Join(", ", changes.Select(c => c.Key))}); update them with --update-existing.");
            return;
        }

        log?.Report($"Updating {string.Join(", ", changes.Select(c => c.Key))} of image \"{image.Name}\" ({image.Id})");
        await client.UpdateImageAsync(image.Id, changes, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<OvercloudUploadEntry> CopyIfChangedAsync(string source, string destination, bool updateExisting, IProgress<string>? log, CancellationToken cancellationToken)
    {
        string md5 = await Md5Async(source, cancellationToken).ConfigureAwait(false);
        string name = Path.GetFileName(destination);
        if (File.Exists(destination))
        {
            string current = await Md5Async(destination, cancellationToken).ConfigureAwait(false);
            if (current == md5)
            {
                log?.Report($"{destination} is up-to-date, skipping.");
                return new OvercloudUploadEntry { Name = name, File = source, Action = OvercloudUploadAction.UpToDate, ImageId = destination, Md5 = md5 };
            }

            if (!updateExisting)
            {
                log?.Report($"{destination} already exists and can be updated with --update-existing.");
                return new OvercloudUploadEntry { Name = name, File = source, Action = OvercloudUploadAction.Outdated, ImageId = destination, Md5 = md5 };
            }
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
        string temporary = destination + ".part-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        try
        {
            await using (var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan))
            await using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
            {
                await input.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
                output.Flush(flushToDisk: true);
            }

            File.Move(temporary, destination, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }

        log?.Report($"Copied {source} to {destination}");
        return new OvercloudUploadEntry { Name = name, File = source, Action = OvercloudUploadAction.Copied, ImageId = destination, Md5 = md5 };
    }

    private static async Task<string> Md5Async(string file, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
        byte[] hash = await MD5.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
        return Convert.ToHexStringLower(hash);
    }
}
