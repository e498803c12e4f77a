using System.Globalization;
using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// XFS images made by the real tools: <c>mkfs.xfs</c> (xfsprogs) formats, the running kernel fills the
/// file system through a read-write loop mount (so every structure is the kernel's own), and the kernel
/// reads it back read-only as the judge.
/// </summary>
[SupportedOSPlatform("linux")]
public static class XfsTestImages
{
    /// <summary>Image size: mkfs.xfs refuses new file systems below 300 MB.</summary>
    public const long ImageSize = 512L << 20;

    /// <summary>"mkfs.xfs version 6.1.0", for messages that state which oracle judged.</summary>
    public static string MkfsVersion => Oracle.Run("mkfs.xfs", "-V").StandardOutput.Trim();

    /// <summary>Formats <paramref name="image"/> with <c>mkfs.xfs -f -q</c> and the given options.</summary>
    public static void Format(string image, params string[] options)
    {
        using (var f = new FileStream(image, FileMode.Create))
        {
            f.SetLength(ImageSize);
        }

        ToolResult r = Oracle.Run("mkfs.xfs", ["-f", "-q", .. options, image], TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    /// <summary>Mounts <paramref name="image"/> read-write, runs <paramref name="fill"/> on the mount point, unmounts.</summary>
    public static void Fill(string image, string mountPoint, Action<string> fill)
    {
        using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(image, mountPoint, "xfs", "loop");
        fill(m.MountPoint);
    }

    /// <summary>The tree as the kernel reads it through a read-only loop mount.</summary>
    public static RandomTreeSnapshot KernelSnapshot(string image, string mountPoint)
    {
        using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(image, mountPoint, "xfs", "ro,loop");
        return Ext4KernelMount.Snapshot(m.MountPoint);
    }

    /// <summary>Opens an image file read-only with <see cref="XfsFileSystem"/>.</summary>
    public static XfsFileSystem Open(string image) => XfsFileSystem.Open(FileBlockDevice.Open(image));

    /// <summary>
    /// Adds what the generated tree lacks on XFS: a node-form directory, a file whose block map is a
    /// btree of depth 2, attributes in leaf and node form and with remote values, and a remote symlink.
    /// </summary>
    public static void AddXfsStructures(string root, int seed, bool deepBtree)
    {
        var rng = new Random(seed);
        string node = Path.Combine(root, "node-dir");
        Directory.CreateDirectory(node);
        for (int i = 0; i < 6000; i++)
        {
            File.WriteAllBytes(Path.Combine(node, string.Create(CultureInfo.InvariantCulture, $"entry-{i:D5}-{new string('n', 30)}")), []);
        }

        // One block in every other one: each written block is its own extent (holes keep them apart).
        int extents = deepBtree ? 5500 : 600;
        using (var s = new FileStream(Path.Combine(root, "fragmented.bin"), FileMode.CreateNew))
        {
            byte[] block = new byte[4096];
            for (int i = 0; i < extents; i++)
            {
                rng.NextBytes(block);
                s.Position = (long)i * 2 * block.Length;
                s.Write(block);
            }
        }

        string leaf = Path.Combine(root, "attrs-leaf");
        File.WriteAllBytes(leaf, "leaf attributes\n"u8.ToArray());
        for (int i = 0; i < 40; i++)
        {
            HostFiles.SetXattr(leaf, "user.leaf" + i.ToString(CultureInfo.InvariantCulture), Random(rng, 100));
        }

        string nodeAttrs = Path.Combine(root, "attrs-node");
        Directory.CreateDirectory(nodeAttrs);
        for (int i = 0; i < 600; i++)
        {
            HostFiles.SetXattr(nodeAttrs, "user.node-attribute-" + i.ToString(CultureInfo.InvariantCulture), Random(rng, 60));
        }

        string remote = Path.Combine(root, "attrs-remote");
        File.WriteAllBytes(remote, []);
        HostFiles.SetXattr(remote, "user.remote", Random(rng, 10_000));
        HostFiles.SetXattr(remote, "trusted.remote", Random(rng, 65_536));
        HostFiles.SetXattr(remote, "security.selinux", "system_u:object_r:etc_t:s0\0"u8.ToArray());

        File.CreateSymbolicLink(Path.Combine(root, "long-link"), string.Join('/', Enumerable.Repeat("component-name", 60)));
    }

    private static byte[] Random(Random rng, int length)
    {
        byte[] b = new byte[length];
        rng.NextBytes(b);
        return b;
    }
}
