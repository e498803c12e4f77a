using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>
/// An image and its backing chain opened read-only without image locks (the chain verbs take the
/// locks themselves, as one QEMU process holds them), with each file's name as qemu-img shows it.
/// </summary>
internal sealed class ImageChain : IDisposable
{
    private ImageChain(DiskImageFile top, List<DiskImageFile> images, List<string> names)
    {
        Top = top;
        Images = images;
        Names = names;
    }

    /// <summary>The opened top image (owns the chain).</summary>
    public DiskImageFile Top { get; }

    /// <summary>The images, top first.</summary>
    public List<DiskImageFile> Images { get; }

    /// <summary>The names qemu-img shows, top first: the top as given, each backing file joined to its overlay's directory as given.</summary>
    public List<string> Names { get; }

    /// <summary>Number of images in the chain.</summary>
    public int Count => Images.Count;

    /// <summary>Opens <paramref name="path"/> and its backing chain read-only, taking no locks.</summary>
    public static ImageChain Open(string path, DiskImageFormat? format, int maxDepth = 16)
    {
        DiskImageFile top = DiskImageFile.Open(path, new DiskImageOpenOptions
        {
            Format = format,
            BackingFiles = BackingFilePolicy.Allow,
            Locking = ImageLocking.Disabled,
            MaxBackingChainDepth = maxDepth,
        });
        var images = new List<DiskImageFile> { top };
        var names = new List<string> { path };
        DiskImageFile current = top;
        string name = path;
        while (current is Qcow2Image q && q.Backing is { } backing && images.Count <= 1024)
        {
            string? stored = q.GetInfo().BackingFileName;
            name = stored is null ? backing.FileName ?? string.Empty : CombineBackingName(name, stored);
            images.Add(backing);
            names.Add(name);
            current = backing;
        }

        return new ImageChain(top, images, names);
    }

    /// <summary>A relative backing name joined to the directory part of the overlay's name as given (qemu's <c>full-backing-filename</c>).</summary>
    public static string CombineBackingName(string overlayName, string backingName)
    {
        if (Path.IsPathRooted(backingName))
        {
            return backingName;
        }

        int slash = overlayName.LastIndexOfAny(['/', Path.DirectorySeparatorChar]);
        return slash < 0 ? backingName : string.Concat(overlayName.AsSpan(0, slash + 1), backingName);
    }

    /// <summary>The file of image <paramref name="index"/> as opened (a full path), or its shown name.</summary>
    public string PathOf(int index) => Images[index].FileName ?? Names[index];

    /// <summary>
    /// The index (1 or more) of the backing image named <paramref name="name"/>: the same spelling as
    /// stored or shown, or the same file (device and inode); -1 when the chain holds none.
    /// </summary>
    public int Find(string name)
    {
        for (int i = 1; i < Images.Count; i++)
        {
            if (Names[i] == name || (Images[i - 1] is Qcow2Image q && q.GetInfo().BackingFileName == name))
            {
                return i;
            }
        }

        if (!FileIdentity.TryGet(name, out FileIdentity wanted))
        {
            return -1;
        }

        for (int i = 1; i < Images.Count; i++)
        {
            if (FileIdentity.TryGet(PathOf(i), out FileIdentity id) && id == wanted)
            {
                // The top itself is never "in its backing chain", whatever the spelling.
                return FileIdentity.TryGet(PathOf(0), out FileIdentity top) && top == wanted ? -1 : i;
            }
        }

        return -1;
    }

    /// <summary>
    /// The first image of the chain (by index) that is the same file as an earlier one under another
    /// name (a hard link, a bind mount), or -1: such a chain reads and writes one file twice.
    /// </summary>
    public int FindRepeatedFile()
    {
        var seen = new List<FileIdentity>(Images.Count);
        for (int i = 0; i < Images.Count; i++)
        {
            if (!FileIdentity.TryGet(PathOf(i), out FileIdentity id))
            {
                continue;
            }

            if (seen.Contains(id))
            {
                return i;
            }

            seen.Add(id);
        }

        return -1;
    }

    /// <inheritdoc />
    public void Dispose() => Top.Dispose();
}
