using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.IO;

namespace DiskImage.Cli;

/// <summary>
/// The second and later sources of <c>convert a b c out</c>, opened in order (the first is opened
/// by the caller), with their concatenation after the first source's content.
/// </summary>
internal sealed class SourceImages : IDisposable
{
    private readonly List<DiskImageFile> _images = [];

    /// <summary>Opens <paramref name="names"/> read-only, as the first source was opened.</summary>
    public SourceImages(IEnumerable<string> names, string? format, bool followBacking, bool forceShare)
    {
        try
        {
            foreach (string name in names)
            {
                _images.Add(ImageOpener.Open(name, format, writable: false, followBacking, forceShare: forceShare));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Whether there is more than the first source.</summary>
    public bool Any => _images.Count > 0;

    /// <summary>Adds every file the later sources read to <paramref name="inputs"/>.</summary>
    public void AddFiles(List<string> inputs)
    {
        foreach (DiskImageFile image in _images)
        {
            inputs.AddRange(ImageFiles.Of(image));
        }
    }

    /// <summary>The first source's content followed by every later source's.</summary>
    public BlockDevice Concatenate(DiskImageFile first)
    {
        var parts = new List<(BlockDevice, bool)> { (first.Content, ImageFiles.Of(first).Count > 1) };
        foreach (DiskImageFile image in _images)
        {
            parts.Add((image.Content, ImageFiles.Of(image).Count > 1));
        }

        return new ConcatBlockDevice(parts);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (DiskImageFile image in _images)
        {
            image.Dispose();
        }

        _images.Clear();
    }
}
