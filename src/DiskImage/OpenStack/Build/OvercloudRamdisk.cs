using System.Text;
using DiskImage.Archives.Cpio;
using DiskImage.FileSystems;
using DiskImage.Guests;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// Builds the initramfs of a recipe's ramdisk image with <see cref="GuestRamdiskBuilder"/>: the customized guest's
/// programs (with their shared libraries), kernel modules of the guest's default kernel (with their dependencies),
/// whole guest files or directories, and an <c>/init</c> (the recipe's, or one that mounts the pseudo file systems,
/// loads the listed modules and starts a shell).
/// </summary>
internal static class OvercloudRamdisk
{
    /// <summary>Writes the initramfs described by <paramref name="recipe"/>, taken from <paramref name="guest"/>, to <paramref name="output"/>.</summary>
    /// <param name="guest">The customized guest's composed tree.</param>
    /// <param name="recipe">The image's <c>ramdisk:</c> section.</param>
    /// <param name="output">Where the compressed archive goes.</param>
    /// <param name="sourceDateEpoch">Every entry's time (<c>SOURCE_DATE_EPOCH</c>), or null for 0.</param>
    /// <param name="cancellationToken">Stops the build.</param>
    public static void Build(IFileSystem guest, OvercloudRamdiskRecipe recipe, Stream output, long? sourceDateEpoch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(guest);
        ArgumentNullException.ThrowIfNull(recipe);
        ArgumentNullException.ThrowIfNull(output);
        cancellationToken.ThrowIfCancellationRequested();
        string? kernelVersion = recipe.Modules.Count > 0 ? GuestKernel.TryFind(guest)?.Version : null;
        var options = new GuestRamdiskOptions
        {
            Binaries = recipe.Binaries,
            Modules = recipe.Modules,
            KernelVersion = kernelVersion,
            Trees = recipe.Files,
            InitScript = recipe.Init ?? DefaultInit(recipe.Modules),
            Compression = recipe.Compression switch
            {
                "gzip" => InitramfsCompression.Gzip,
                "zstd" => InitramfsCompression.Zstd,
                "xz" => InitramfsCompression.Xz,
                "lz4" => InitramfsCompression.Lz4,
                "bzip2" => InitramfsCompression.Bzip2,
                "none" => InitramfsCompression.None,
                _ => throw new InvalidDataException($"Unknown ramdisk compression '{recipe.Compression}'."),
            },
            ModificationTime = DateTimeOffset.FromUnixTimeSeconds(sourceDateEpoch ?? 0),
        };
        GuestRamdiskBuilder.BuildAsync(guest, options, output, cancellationToken).GetAwaiter().GetResult();
    }

    /// <summary>
    /// The <c>/init</c> of a recipe that names none: mounts <c>/proc</c>, <c>/sys</c> and <c>/dev</c>, loads the
    /// listed modules when the ramdisk has <c>modprobe</c>, and runs a shell on the console.
    /// </summary>
    internal static string DefaultInit(IReadOnlyList<string> modules)
    {
        var text = new StringBuilder();
        text.Append("#!/bin/sh\n");
        text.Append("mount -t proc proc /proc\n");
        text.Append("mount -t sysfs sysfs /sys\n");
        text.Append("mount -t devtmpfs devtmpfs /dev 2>/dev/null\n");
        if (modules.Count > 0)
        {
            text.Append("if command -v modprobe >/dev/null 2>&1; then\n");
            text.Append("  for m in ").Append(string.Join(' ', modules)).Append("; do modprobe \"$m\"; done\n");
            text.Append("fi\n");
        }

        text.Append("exec /bin/sh </dev/console >/dev/console 2>&1\n");
        return text.ToString();
    }
}
