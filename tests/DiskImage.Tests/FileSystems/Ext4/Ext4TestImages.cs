using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>Builds ext2/3/4 images from host trees with mke2fs -d (e2fsprogs) and opens them with the managed reader.</summary>
public static class Ext4TestImages
{
    /// <summary>Runs <c>mke2fs -q -F [options] -d sourceDir image sizeKiB</c> and returns the image bytes.</summary>
    public static byte[] Build(string sourceDir, string imagePath, long sizeKiB, params string[] options)
    {
        Oracle.Require("mke2fs");
        if (File.Exists(imagePath))
        {
            File.Delete(imagePath);
        }

        var args = new List<string> { "-q", "-F" };
        args.AddRange(options);
        args.AddRange(["-d", sourceDir, imagePath, sizeKiB.ToString(System.Globalization.CultureInfo.InvariantCulture) + "k"]);
        ToolResult r = Oracle.Run("mke2fs", args, TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, r.ToString());
        return File.ReadAllBytes(imagePath);
    }

    public static Ext4FileSystem Open(byte[] image, Ext4OpenOptions? options = null) =>
        Ext4FileSystem.Open(new MemoryBlockDevice(image, writable: false), options);
}
