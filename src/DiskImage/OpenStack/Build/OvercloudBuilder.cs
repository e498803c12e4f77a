using System.Security.Cryptography;
using System.Text;
using DiskImage.Conversion;
using DiskImage.Customization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Xfs;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.Guests;
using DiskImage.IO;
using DiskImage.Sysprep;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// Builds the images of an <see cref="OvercloudRecipe"/> from a base guest image, in-process: the base is opened
/// read-only behind a scratch qcow2 overlay, customized and sysprepped there, and each image's files are written
/// into the output directory atomically (temporary name, then rename) and recorded in a manifest, so an interrupted
/// run leaves no partial file and a rerun skips the files that are current.
/// </summary>
public static class OvercloudBuilder
{
    /// <summary>The manifest's file name in the output directory.</summary>
    public const string ManifestFileName = OvercloudManifest.FileName;

    /// <summary>The name prefix of the scratch directories (under <see cref="OvercloudBuildOptions.TemporaryDirectory"/>) holding the overlay of the base guest.</summary>
    internal const string ScratchPrefix = "diskimage-overcloud-";

    /// <summary>Free space given to a partition image's file system beyond what its tree needs, in percent.</summary>
    private const int PartitionExtraPercent = 20;

    /// <summary>Builds the selected images of <paramref name="recipe"/>; see <see cref="OvercloudBuilder"/>.</summary>
    /// <param name="recipe">The recipe.</param>
    /// <param name="options">Base image, output directory, selection, <c>SOURCE_DATE_EPOCH</c>.</param>
    /// <param name="progress">Receives a message at each step; null for none.</param>
    /// <param name="cancellationToken">Stops the build; no partial file is left under a final name.</param>
    /// <returns>Every file of the selected images and what was done with it.</returns>
    /// <exception cref="ArgumentException">A selected name is not an image of the recipe, or <see cref="OvercloudBuildOptions.BaseImage"/> is empty.</exception>
    /// <exception cref="FileNotFoundException">The base image does not exist.</exception>
    /// <exception cref="InvalidDataException">The base image holds no operating system, or is malformed.</exception>
    /// <exception cref="NotSupportedException">Something in the guest cannot be processed (see the message).</exception>
    public static Task<OvercloudBuildResult> BuildAsync(OvercloudRecipe recipe, OvercloudBuildOptions options,
        IProgress<OvercloudBuildProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrEmpty(options.BaseImage))
        {
            throw new ArgumentException("OvercloudBuildOptions.BaseImage names no base image.", nameof(options));
        }

        return Task.Run(() => Build(recipe, options, progress, cancellationToken), cancellationToken);
    }

    private static OvercloudBuildResult Build(OvercloudRecipe recipe, OvercloudBuildOptions options, IProgress<OvercloudBuildProgress>? progress, CancellationToken ct)
    {
        List<OvercloudImageRecipe> selected = Select(recipe, options.Images);
        string basePath = Path.GetFullPath(options.BaseImage);
        if (!File.Exists(basePath))
        {
            throw new FileNotFoundException($"{options.BaseImage}: the base image does not exist.", basePath);
        }

        string outDir = Path.GetFullPath(options.OutputDirectory);
        Directory.CreateDirectory(outDir);
        foreach (OvercloudImageRecipe image in selected)
        {
            foreach (string f in image.Files)
            {
                AtomicOutputFile.DeleteStale(outDir, f);
            }
        }

        AtomicOutputFile.DeleteStale(outDir, OvercloudManifest.FileName);
        ScratchDirectory.DeleteStale(Path.GetFullPath(options.TemporaryDirectory ?? Path.GetTempPath()), ScratchPrefix);
        OvercloudManifest manifest = OvercloudManifest.Load(outDir);
        if (!MayBeCurrent(recipe, selected, manifest, outDir, options.Force))
        {
            // Every file is built whatever the base's hash is: it is needed only for the file-system seeds and the
            // manifest, so it is computed beside opening, customizing and sysprepping the guest.
            Report(progress, null, null, "hashing the base image (in the background)");
            using var hashCancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
            CancellationToken hashToken = hashCancel.Token;
            Task<string> hashTask = Task.Factory.StartNew(() => OvercloudHashing.InputHash(basePath, options.SourceDateEpoch, hashToken), hashToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            try
            {
                List<OvercloudBuildOutput> built = BuildImages(recipe, options, selected, basePath, outDir, hashTask, manifest, [], progress, ct);
                return Ordered(selected, built, outDir, hashTask.GetAwaiter().GetResult());
            }
            finally
            {
                hashCancel.Cancel();
                try
                {
                    hashTask.Wait(CancellationToken.None);
                }
                catch (AggregateException)
                {
                    // Cancelled, or its failure was reported where the hash was needed.
                }
            }
        }

        Report(progress, null, null, "hashing the base image");
        string inputHash = OvercloudHashing.InputHash(basePath, options.SourceDateEpoch, ct);

        var outputs = new List<OvercloudBuildOutput>();
        var toBuild = new List<OvercloudImageRecipe>();
        var currentFiles = new Dictionary<string, OvercloudBuildOutput>(StringComparer.Ordinal);
        foreach (OvercloudImageRecipe image in selected)
        {
            string recipeHash = recipe.HashFor(image);
            List<OvercloudBuildOutput> current = options.Force ? [] : CurrentFiles(image, manifest, outDir, recipeHash, inputHash, ct);
            foreach (OvercloudBuildOutput o in current)
            {
                currentFiles[o.File] = o;
            }

            if (current.Count == image.Files.Count)
            {
                outputs.AddRange(current);
                Report(progress, image.Name, null, "current");
            }
            else
            {
                toBuild.Add(image);
            }
        }

        if (toBuild.Count > 0)
        {
            outputs.AddRange(BuildImages(recipe, options, toBuild, basePath, outDir, Task.FromResult(inputHash), manifest, currentFiles, progress, ct));
        }

        return Ordered(selected, outputs, outDir, inputHash);
    }

    /// <summary>The result, in the recipe's order.</summary>
    private static OvercloudBuildResult Ordered(List<OvercloudImageRecipe> selected, List<OvercloudBuildOutput> outputs, string outDir, string inputHash)
    {
        var ordered = new List<OvercloudBuildOutput>(outputs.Count);
        foreach (OvercloudImageRecipe image in selected)
        {
            foreach (string f in image.Files)
            {
                ordered.Add(outputs.Find(o => o.File == f)!);
            }
        }

        return new OvercloudBuildResult { Outputs = ordered, ManifestPath = Path.Combine(outDir, OvercloudManifest.FileName), InputHash = inputHash };
    }

    /// <summary>
    /// Whether some selected file could be current: the manifest records it for its image with the current recipe
    /// hash, and a file of the recorded size exists. When none can be, the input hash decides nothing before the build.
    /// </summary>
    private static bool MayBeCurrent(OvercloudRecipe recipe, List<OvercloudImageRecipe> selected, OvercloudManifest manifest, string outDir, bool force)
    {
        if (force)
        {
            return false;
        }

        foreach (OvercloudImageRecipe image in selected)
        {
            string recipeHash = recipe.HashFor(image);
            foreach (string f in image.Files)
            {
                var info = new FileInfo(Path.Combine(outDir, f));
                if (manifest.Find(f) is { } e && e.Image == image.Name && e.RecipeHash == recipeHash && info.Exists && info.Length == e.Size)
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static List<OvercloudImageRecipe> Select(OvercloudRecipe recipe, IReadOnlyList<string> names)
    {
        if (names.Count == 0)
        {
            return [.. recipe.Images.Where(i => i.BuildByDefault)];
        }

        var wanted = new HashSet<string>(StringComparer.Ordinal);
        foreach (string n in names)
        {
            if (recipe.FindImage(n) is null)
            {
                throw new ArgumentException($"'{n}' is not an image of the recipe (its images: {string.Join(", ", recipe.Images.Select(i => i.Name))}).", nameof(names));
            }

            wanted.Add(n);
        }

        return [.. recipe.Images.Where(i => wanted.Contains(i.Name))];
    }

    private static List<OvercloudBuildOutput> BuildImages(OvercloudRecipe recipe, OvercloudBuildOptions options, List<OvercloudImageRecipe> images,
        string basePath, string outDir, Task<string> inputHashTask, OvercloudManifest manifest, Dictionary<string, OvercloudBuildOutput> currentFiles,
        IProgress<OvercloudBuildProgress>? progress, CancellationToken ct)
    {
        var outputs = new List<OvercloudBuildOutput>();
        UnixTime? epoch = options.SourceDateEpoch is { } sde ? new UnixTime(sde, 0) : null;
        // A killed run leaves its scratch directory behind; creating this one deletes such stale ones.
        using ScratchDirectory work = ScratchDirectory.Create(options.TemporaryDirectory, ScratchPrefix);
        {
            string overlay = Path.Combine(work.Path, "overlay.qcow2");
            CreateOverlay(basePath, overlay);
            // The overlay names the base as its backing file (opened read-only); only the overlay is written.
            using DiskImageFile overlayImage = DiskImageFile.Open(overlay, new DiskImageOpenOptions { Writable = true, BackingFiles = BackingFilePolicy.Allow });
            var pending = new List<PendingOutput>();
            Guest guest = Guest.Open(overlayImage.Content, new GuestOpenOptions { Writable = true, Clock = epoch is { } clockTime ? () => clockTime : null }, leaveOpen: true);
            try
            {
                IReadOnlyList<GuestOperatingSystem> systems = guest.Inspect();
                if (systems.Count == 0)
                {
                    throw new InvalidDataException($"{options.BaseImage}: no operating system was found in the base image.");
                }

                if (systems.Count > 1)
                {
                    throw new NotSupportedException($"{options.BaseImage}: the base image holds {systems.Count} operating systems; a recipe builds from one.");
                }

                GuestOperatingSystem os = systems[0];
                IFileSystem view = guest.Mount(os);
                Customize(recipe, view, progress, ct);
                ct.ThrowIfCancellationRequested();
                if (recipe.Sysprep is not null)
                {
                    Report(progress, null, null, "sysprep: " + recipe.SysprepOperations);
                    SysprepRunner.Run(view, new SysprepOptions { Operations = recipe.Sysprep, MachineId = recipe.MachineId }, ct);
                }

                // The file-system seeds and the manifest need the input hash from here on.
                string inputHash = inputHashTask.GetAwaiter().GetResult();
                var merged = new List<string>();
                foreach (GuestMount m in os.Mounts)
                {
                    if (m.MountPoint != "/")
                    {
                        merged.Add(m.MountPoint);
                    }
                }

                foreach (OvercloudImageRecipe image in images)
                {
                    ct.ThrowIfCancellationRequested();
                    string recipeHash = recipe.HashFor(image);
                    var context = new ImageContext(image, view, outDir, recipeHash, inputHash, manifest, currentFiles, progress, epoch, work.Path, pending, ct);
                    if (image.Kind == OvercloudImageKind.Partition)
                    {
                        outputs.AddRange(BuildPartitionImage(context, merged));
                    }
                    else if (image.Kind == OvercloudImageKind.WholeDisk)
                    {
                        outputs.AddRange(BuildWholeDiskImage(context, merged));
                    }
                    else
                    {
                        outputs.AddRange(BuildRamdiskImage(context));
                    }
                }

                CompletePending(pending, outputs);
            }
            finally
            {
                // Stops (on failure or cancellation) and waits for background conversions before the scratch directory goes.
                foreach (PendingOutput p in pending)
                {
                    p.Conversion.Dispose();
                }

                // The overlay is thrown away, so the guest is not disposed: Dispose flushes its file systems, and an XFS
                // flush lays the whole tree out again in a scratch file and copies what differs into the overlay (seconds
                // and a root-sized temporary file, for nothing). The guest holds no handle of its own: its devices are
                // views of overlayImage, which is disposed below.
                GC.KeepAlive(guest);
            }
        }

        return outputs;
    }

    private static void CreateOverlay(string basePath, string overlay)
    {
        DiskImageFormat format;
        long size;
        using (DiskImageFile b = DiskImageFile.Open(basePath, new DiskImageOpenOptions { Writable = false }))
        {
            format = b.Format;
            size = b.Content.Length;
        }

        using Qcow2Image created = Qcow2Image.Create(overlay, size, new Qcow2CreateOptions { BackingFile = basePath, BackingFormat = format });
    }

    private static void Customize(OvercloudRecipe recipe, IFileSystem view, IProgress<OvercloudBuildProgress>? progress, CancellationToken ct)
    {
        if (recipe.Customize.Count == 0)
        {
            return;
        }

        ct.ThrowIfCancellationRequested();
        Report(progress, null, null, "customize: " + string.Join(' ', recipe.Customize));
        CustomizeScript script = CustomizeScript.Parse(recipe.Customize);
        Customizer.Apply(view, script, new CustomizeOptions { RefreshRandomSeedAndMachineId = false }, message => Report(progress, null, null, message));
    }

    private sealed record ImageContext(OvercloudImageRecipe Image, IFileSystem View, string OutDir, string RecipeHash, string InputHash,
        OvercloudManifest Manifest, Dictionary<string, OvercloudBuildOutput> Current, IProgress<OvercloudBuildProgress>? Progress, UnixTime? Epoch, string WorkDir,
        List<PendingOutput> Pending, CancellationToken Ct);

    /// <summary>An image file whose qcow2 conversion runs in the background, committed by <see cref="CompletePending"/>.</summary>
    private sealed record PendingOutput(ImageContext Context, BackgroundConversion Conversion, string File, string Format);

    private static List<OvercloudBuildOutput> BuildPartitionImage(ImageContext c, List<string> merged)
    {
        OvercloudImageRecipe image = c.Image;
        var outputs = new List<OvercloudBuildOutput>();
        string fstabText = FstabRewriter.Rewrite(ReadText(c.View, "/etc/fstab"), image.Label, image.FileSystem, merged);
        WriteText(c.View, "/etc/fstab", fstabText);
        GuestKernel? kernel = image.KernelFile is null && image.InitrdFile is null ? null : GuestKernel.Find(c.View);
        if (image.InitrdFile is not null && kernel!.InitrdPath is null)
        {
            throw new InvalidDataException($"{image.Name}: the guest's kernel {kernel.KernelPath} has no initrd in /boot.");
        }

        IFileSystem tree = c.Epoch is { } epoch ? new ClampedTimeFileSystem(c.View, epoch) : c.View;
        if (image.ImageFile is { } currentImage && c.Current.TryGetValue(currentImage, out OvercloudBuildOutput? done))
        {
            outputs.Add(done);
        }
        else if (image.ImageFile is { } imageFile)
        {
            var output = new AtomicOutputFile(c.OutDir, imageFile);
            string raw = image.Format == "raw" ? output.TempPath : Path.Combine(c.WorkDir, image.Name + ".raw");
            bool handedOver = false;
            try
            {
                Report(c.Progress, image.Name, imageFile, $"building the {image.FileSystem} file system '{image.Label}'");
                BuildFileSystem(c, tree, raw);
                if (image.Format == "qcow2")
                {
                    // The conversion runs beside the next files (kernel, initrd, ramdisks); it is committed at the end.
                    ConvertInBackground(c, raw, output, imageFile);
                    handedOver = true;
                }
                else
                {
                    outputs.Add(Commit(c, output, imageFile, image.Format));
                }
            }
            finally
            {
                if (!handedOver)
                {
                    output.Dispose();
                    if (raw != output.TempPath)
                    {
                        File.Delete(raw);
                    }
                }
            }
        }

        if (image.KernelFile is { } kernelFile)
        {
            outputs.Add(CopyGuestFile(c, kernel!.KernelPath, kernelFile, "kernel"));
        }

        if (image.InitrdFile is { } initrdFile)
        {
            outputs.Add(CopyGuestFile(c, kernel!.InitrdPath!, initrdFile, "initrd"));
        }

        return outputs;
    }

    private static List<OvercloudBuildOutput> BuildWholeDiskImage(ImageContext c, List<string> merged)
    {
        OvercloudImageRecipe image = c.Image;
        string imageFile = image.ImageFile!;
        if (c.Current.TryGetValue(imageFile, out OvercloudBuildOutput? done))
        {
            return [done];
        }

        IFileSystem tree = c.Epoch is { } epoch ? new ClampedTimeFileSystem(c.View, epoch) : c.View;
        var output = new AtomicOutputFile(c.OutDir, imageFile);
        string raw = image.Format == "raw" ? output.TempPath : Path.Combine(c.WorkDir, image.Name + ".raw");
        bool handedOver = false;
        try
        {
            byte[] seed = SHA256.HashData(Encoding.UTF8.GetBytes($"{c.InputHash}\n{c.RecipeHash}\n{image.Name}\n"));
            OvercloudWholeDiskBuilder.Write(image, c.View, tree, merged, raw, seed, c.Epoch, message => Report(c.Progress, image.Name, imageFile, message), c.Ct);
            if (image.Format == "qcow2")
            {
                ConvertInBackground(c, raw, output, imageFile);
                handedOver = true;
                return [];
            }

            return [Commit(c, output, imageFile, image.Format)];
        }
        finally
        {
            if (!handedOver)
            {
                output.Dispose();
                if (raw != output.TempPath)
                {
                    File.Delete(raw);
                }
            }
        }
    }

    /// <summary>Starts converting the raw scratch image <paramref name="raw"/> into <paramref name="output"/> (which it owns from here on); <see cref="CompletePending"/> commits it.</summary>
    private static void ConvertInBackground(ImageContext c, string raw, AtomicOutputFile output, string imageFile)
    {
        OvercloudImageRecipe image = c.Image;
        Report(c.Progress, image.Name, imageFile, image.Compress ? $"writing compressed qcow2 (deflate level {image.CompressionLevel})" : "writing qcow2");
        var options = new ConvertOptions { TargetFormat = DiskImageFormat.Qcow2, Compress = image.Compress, CompressionLevel = image.Compress ? image.CompressionLevel : null };
        BackgroundConversion conversion;
        try
        {
            conversion = BackgroundConversion.Start(raw, output, options, OvercloudHashing.HashFile, c.Ct);
        }
        catch
        {
            output.Dispose();
            File.Delete(raw);
            throw;
        }

        c.Pending.Add(new PendingOutput(c, conversion, imageFile, image.Format));
    }

    /// <summary>Waits for the background conversions in the order they were started and commits their outputs.</summary>
    private static void CompletePending(List<PendingOutput> pending, List<OvercloudBuildOutput> outputs)
    {
        foreach (PendingOutput p in pending)
        {
            (AtomicOutputFile output, string sha, long size) = p.Conversion.Complete();
            using (output)
            {
                outputs.Add(Commit(p.Context, output, p.File, p.Format, (sha, size)));
            }
        }
    }

    private static List<OvercloudBuildOutput> BuildRamdiskImage(ImageContext c)
    {
        OvercloudImageRecipe image = c.Image;
        var outputs = new List<OvercloudBuildOutput>();
        if (image.InitrdFile is { } initramfs)
        {
            using var output = new AtomicOutputFile(c.OutDir, initramfs);
            Report(c.Progress, image.Name, initramfs, "assembling the initramfs");
            using (FileStream s = output.Create())
            {
                OvercloudRamdisk.Build(c.View, image.Ramdisk ?? new OvercloudRamdiskRecipe(), s, c.Epoch?.Seconds, c.Ct);
            }

            outputs.Add(Commit(c, output, initramfs, "initramfs"));
        }

        if (image.KernelFile is { } kernelFile)
        {
            outputs.Add(CopyGuestFile(c, GuestKernel.Find(c.View).KernelPath, kernelFile, "kernel"));
        }

        return outputs;
    }

    private static void BuildFileSystem(ImageContext c, IFileSystem tree, string path)
    {
        OvercloudImageRecipe image = c.Image;
        DateTimeOffset? timestamp = c.Epoch?.ToDateTimeOffset();
        byte[] seed = SHA256.HashData(Encoding.UTF8.GetBytes($"{c.InputHash}\n{c.RecipeHash}\n{image.Name}\n"));
        Guid uuid = DerivedUuid(seed, 0);
        if (image.FileSystem == "xfs")
        {
            var options = new XfsBuildOptions
            {
                ExtraPercent = PartitionExtraPercent,
                Format = new XfsFormatOptions { Profile = XfsProfile(image.XfsProfile), Label = image.Label, Uuid = uuid, Timestamp = timestamp },
            };
            long size = XfsFileSystem.ComputeBuildSize(tree, options);
            using var device = FileBlockDevice.Create(path, size);
            XfsFileSystem.Build(device, tree, options, c.Ct);
            device.Flush();
        }
        else
        {
            var options = new Ext4BuildOptions
            {
                ExtraPercent = PartitionExtraPercent,
                Format = new Ext4FormatOptions { Label = image.Label, Uuid = uuid, HashSeed = DerivedUuid(seed, 16), Timestamp = timestamp },
            };
            long size = Ext4FileSystem.ComputeBuildSize(tree, options);
            using var device = FileBlockDevice.Create(path, size);
            Ext4FileSystem.Build(device, tree, options, c.Ct);
            device.Flush();
        }
    }

    internal static XfsFormatProfile XfsProfile(string name) => name switch
    {
        "rhel7" => XfsFormatProfile.Rhel7,
        "rhel8" => XfsFormatProfile.Rhel8,
        "rhel9" => XfsFormatProfile.Rhel9,
        _ => XfsFormatProfile.Debian12,
    };

    /// <summary>A version-4 style UUID made from 16 bytes of <paramref name="seed"/>, so the same inputs give the same file system.</summary>
    internal static Guid DerivedUuid(byte[] seed, int offset)
    {
        Span<byte> b = stackalloc byte[16];
        seed.AsSpan(offset, 16).CopyTo(b);
        b[6] = (byte)((b[6] & 0x0F) | 0x40);
        b[8] = (byte)((b[8] & 0x3F) | 0x80);
        return new Guid(b, bigEndian: true);
    }

    private static OvercloudBuildOutput CopyGuestFile(ImageContext c, string guestPath, string fileName, string format)
    {
        if (c.Current.TryGetValue(fileName, out OvercloudBuildOutput? done))
        {
            return done;
        }

        using var output = new AtomicOutputFile(c.OutDir, fileName);
        Report(c.Progress, c.Image.Name, fileName, "copying " + guestPath);
        using (Stream source = c.View.OpenFile(guestPath, FileMode.Open, FileAccess.Read))
        using (FileStream target = output.Create())
        {
            source.CopyToAsync(target, 1 << 20, c.Ct).GetAwaiter().GetResult();
        }

        return Commit(c, output, fileName, format);
    }

    private static OvercloudBuildOutput Commit(ImageContext c, AtomicOutputFile output, string fileName, string format, (string Sha256, long Size)? hashed = null)
    {
        c.Ct.ThrowIfCancellationRequested();
        (string sha, long size) = hashed ?? OvercloudHashing.HashFile(output.TempPath, c.Ct);
        output.Commit();
        c.Manifest.Set(new OvercloudManifest.Entry(fileName, c.Image.Name, format, size, sha, c.RecipeHash, c.InputHash));
        c.Manifest.Save(c.OutDir);
        Report(c.Progress, c.Image.Name, fileName, $"written ({size} bytes, sha256 {sha})");
        return new OvercloudBuildOutput { Image = c.Image.Name, File = fileName, Path = output.FinalPath, Format = format, Action = OvercloudBuildAction.Built, Sha256 = sha, Size = size };
    }

    /// <summary>The files of <paramref name="image"/> that are current.</summary>
    private static List<OvercloudBuildOutput> CurrentFiles(OvercloudImageRecipe image, OvercloudManifest manifest, string outDir, string recipeHash, string inputHash, CancellationToken ct)
    {
        var list = new List<OvercloudBuildOutput>();
        foreach (string f in image.Files)
        {
            string path = Path.Combine(outDir, f);
            if (manifest.Find(f) is not { } e || e.RecipeHash != recipeHash || e.InputHash != inputHash || e.Image != image.Name || !File.Exists(path)
                || new FileInfo(path).Length != e.Size || OvercloudHashing.HashFile(path, ct).Sha256 != e.Sha256)
            {
                continue;
            }

            list.Add(new OvercloudBuildOutput { Image = image.Name, File = f, Path = path, Format = e.Format, Action = OvercloudBuildAction.Current, Sha256 = e.Sha256, Size = e.Size });
        }

        return list;
    }

    private static string? ReadText(IFileSystem fs, string path)
    {
        if (!fs.Exists(path))
        {
            return null;
        }

        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        using var reader = new StreamReader(s, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private static void WriteText(IFileSystem fs, string path, string text)
    {
        using Stream s = fs.OpenFile(path, fs.Exists(path) ? FileMode.Truncate : FileMode.Create, FileAccess.Write);
        s.Write(Encoding.UTF8.GetBytes(text));
    }

    private static void Report(IProgress<OvercloudBuildProgress>? progress, string? image, string? file, string message) =>
        progress?.Report(new OvercloudBuildProgress { Image = image, File = file, Message = message });
}
