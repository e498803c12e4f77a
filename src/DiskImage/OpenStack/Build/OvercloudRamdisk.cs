using DiskImage.FileSystems;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// The seam through which a recipe's ramdisk images get their initramfs: one call with the customized guest's tree,
/// the image's <c>ramdisk:</c> section and the stream to write the (compressed) archive to. The initramfs builder from
/// a guest tree is not part of this version; until it is wired in here, ramdisk images are reported as skipped.
/// </summary>
internal static class OvercloudRamdisk
{
    /// <summary>Why ramdisk images are skipped while <see cref="IsAvailable"/> is false.</summary>
    public const string NotAvailableMessage = "ramdisk outputs (an initramfs assembled from the guest's tree) are not yet built by this version";

    /// <summary>Whether <see cref="Build"/> can build an initramfs. When false, ramdisk images are skipped without opening the guest.</summary>
    public static bool IsAvailable => false;

    /// <summary>Writes the initramfs described by <paramref name="recipe"/>, taken from <paramref name="guest"/>, to <paramref name="output"/>.</summary>
    /// <exception cref="NotSupportedException">Always, until the guest initramfs builder is wired in.</exception>
    public static void Build(IFileSystem guest, OvercloudRamdiskRecipe recipe, Stream output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(guest);
        ArgumentNullException.ThrowIfNull(recipe);
        ArgumentNullException.ThrowIfNull(output);
        cancellationToken.ThrowIfCancellationRequested();
        throw new NotSupportedException(NotAvailableMessage + ".");
    }
}
