using DiskImage.Formats;
using DiskImage.Guests;

namespace DiskImage.Cli;

/// <summary>An image (raw or qcow2) opened read-only as a whole guest disk, for <c>inspect</c>, <c>filesystems</c> and <c>get-kernel</c>.</summary>
internal sealed class GuestImage : IDisposable
{
    private readonly DiskImageFile _image;

    private GuestImage(DiskImageFile image, Guest guest)
    {
        _image = image;
        Guest = guest;
    }

    /// <summary>The guest.</summary>
    public Guest Guest { get; }

    /// <summary>Opens <paramref name="path"/> read-only and finds its volumes.</summary>
    /// <exception cref="CliException">The image cannot be opened or its partition table is malformed.</exception>
    public static GuestImage Open(string path, string? format)
    {
        if (Directory.Exists(path))
        {
            throw new CliException($"'{path}': Is a directory (give the image file)");
        }

        DiskImageFile image = ImageOpener.Open(path, format, writable: false, followBacking: true);
        try
        {
            return new GuestImage(image, Guest.Open(image.Content, GuestOpenOptions.Default, leaveOpen: true));
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            image.Dispose();
            throw new CliException($"'{path}': {e.Message}");
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Guest.Dispose();
        _image.Dispose();
    }
}
