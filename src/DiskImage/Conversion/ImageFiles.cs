using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>The host files an opened image or device reads: the image file and every backing file.</summary>
internal static class ImageFiles
{
    /// <summary>The files behind <paramref name="device"/>, when it is a file or a qcow2 image's content; otherwise none.</summary>
    public static List<string> Of(BlockDevice device)
    {
        var files = new List<string>();
        switch (device)
        {
            case FileBlockDevice { Path: { } path }:
                files.Add(path);
                break;
            case Qcow2ContentDevice content:
                AddChain(content.Image, files);
                break;
        }

        return files;
    }

    /// <summary>The image file and the files of its opened backing chain, top first.</summary>
    public static List<string> Of(DiskImageFile image)
    {
        var files = new List<string>();
        AddChain(image, files);
        return files;
    }

    /// <summary>
    /// The first of <paramref name="inputs"/> that is the same file as <paramref name="target"/>
    /// (compared by device and inode where the platform has them), or null.
    /// </summary>
    public static string? FindAlias(string target, IEnumerable<string> inputs)
    {
        if (!FileIdentity.TryGet(target, out FileIdentity targetIdentity))
        {
            return null;
        }

        foreach (string input in inputs)
        {
            if (FileIdentity.TryGet(input, out FileIdentity inputIdentity) && inputIdentity == targetIdentity)
            {
                return input;
            }
        }

        return null;
    }

    private static void AddChain(DiskImageFile image, List<string> files)
    {
        DiskImageFile? current = image;
        for (int depth = 0; current is not null && depth <= 1024; depth++)
        {
            if (current.FileName is { } name)
            {
                files.Add(name);
            }

            current = (current as Qcow2Image)?.Backing;
        }
    }
}
