using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// The images the hostile-image fuzzer damages, each made once per test run and shared by every case (cases write
/// through an <see cref="XfsOverlayDevice"/>): <c>mkfs.xfs</c> version 5 defaults and <c>-n size=8192</c>, both filled by
/// the kernel (a node-form directory, a file whose block map is a btree, shortform, leaf and node attributes, remote
/// values, a remote symlink); <c>mkfs.xfs -m crc=0 -p protofile</c> (version 4, which the kernel no longer mounts); and
/// <see cref="XfsFileSystem.Build(BlockDevice, string, XfsBuildOptions?, CancellationToken)"/> of a host tree with the
/// same structures (leaf attributes only: the builder does not write node-form attributes).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class XfsHostileCorpus : IDisposable
{
    public const string MkfsV5 = "mkfs.xfs v5";
    public const string MkfsDir8K = "mkfs.xfs -n size=8192";
    public const string MkfsV4 = "mkfs.xfs -m crc=0 (protofile)";
    public const string BuildDebian12 = "Build Debian12";

    private readonly TempDirectory _temp = new();
    private readonly ConcurrentDictionary<string, Lazy<XfsCorpusImage>> _images = new(StringComparer.Ordinal);

    public static IReadOnlyList<string> Kinds { get; } = [MkfsV5, MkfsDir8K, MkfsV4, BuildDebian12];

    /// <summary>Skips (or fails under DISKIMAGE_REQUIRE_ORACLES=1) when the tools a kind needs are missing.</summary>
    public static void Require(string kind)
    {
        if (kind != BuildDebian12)
        {
            Oracle.Require("mkfs.xfs");
        }

        if (kind is MkfsV5 or MkfsDir8K)
        {
            Ext4KernelMount.Require();
        }
    }

    internal XfsCorpusImage Get(string kind) => _images.GetOrAdd(kind, k => new Lazy<XfsCorpusImage>(() => Create(k))).Value;

    public void Dispose()
    {
        foreach (Lazy<XfsCorpusImage> image in _images.Values)
        {
            if (image.IsValueCreated)
            {
                image.Value.Device.Dispose();
            }
        }

        _temp.Dispose();
    }

    /// <summary>
    /// Directories in every form (shortform, block, leaf, node), a file of <paramref name="extents"/> one-block extents
    /// (a btree block map), attributes in shortform and leaf form (and node form when <paramref name="nodeAttributes"/>),
    /// a remote value, and local and remote symlinks.
    /// </summary>
    internal static void AddStructures(string root, int seed, bool nodeAttributes, int extents = 100)
    {
        var rng = new Random(seed);
        foreach ((string name, int count) in new[] { ("short", 3), ("block", 30), ("leaf", 200), ("node", 700) })
        {
            string d = Path.Combine(root, name);
            Directory.CreateDirectory(d);
            for (int i = 0; i < count; i++)
            {
                File.WriteAllBytes(Path.Combine(d, string.Create(CultureInfo.InvariantCulture, $"entry-{i:D4}-{new string('n', 24)}")), Bytes(rng, i % 7));
            }
        }

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

        File.WriteAllBytes(Path.Combine(root, "small.txt"), "small file\n"u8.ToArray());
        File.WriteAllBytes(Path.Combine(root, "big.bin"), Bytes(rng, 300_000));
        string shortAttrs = Path.Combine(root, "attrs-short");
        File.WriteAllBytes(shortAttrs, []);
        HostFiles.SetXattr(shortAttrs, "user.a", "1"u8.ToArray());
        HostFiles.SetXattr(shortAttrs, "trusted.b", "22"u8.ToArray());
        string leaf = Path.Combine(root, "attrs-leaf");
        File.WriteAllBytes(leaf, []);
        for (int i = 0; i < 20; i++)
        {
            HostFiles.SetXattr(leaf, "user.leaf" + i.ToString(CultureInfo.InvariantCulture), Bytes(rng, 90));
        }

        if (nodeAttributes)
        {
            string node = Path.Combine(root, "attrs-node");
            File.WriteAllBytes(node, []);
            for (int i = 0; i < 300; i++)
            {
                HostFiles.SetXattr(node, "user.node-attribute-" + i.ToString(CultureInfo.InvariantCulture), Bytes(rng, 60));
            }
        }

        string remote = Path.Combine(root, "attrs-remote");
        File.WriteAllBytes(remote, []);
        // ext4 (a host tree for Build) holds at most one block of xattrs per inode.
        HostFiles.SetXattr(remote, "user.remote", Bytes(rng, nodeAttributes ? 10_000 : 3600));
        File.CreateSymbolicLink(Path.Combine(root, "link"), "small.txt");
        File.CreateSymbolicLink(Path.Combine(root, "long-link"), string.Join('/', Enumerable.Repeat("component-name", 60)));
    }

    private XfsCorpusImage Create(string kind)
    {
        string image = _temp.File(kind.Replace(' ', '_').Replace('/', '_') + ".img");
        switch (kind)
        {
            case MkfsV5 or MkfsDir8K:
                XfsTestImages.Format(image, kind == MkfsDir8K ? ["-n", "size=8192"] : []);
                XfsTestImages.Fill(image, _temp.File("mnt-" + kind.Length.ToString(CultureInfo.InvariantCulture)), root => AddStructures(root, 17, nodeAttributes: true));
                break;
            case MkfsV4:
                using (var f = new FileStream(image, FileMode.Create))
                {
                    f.SetLength(XfsTestImages.ImageSize);
                }

                Oracle.RunOk("mkfs.xfs", "-f", "-q", "-m", "crc=0", "-p", WriteProtofile(), image);
                break;
            default:
                string tree = _temp.File("build-tree");
                Directory.CreateDirectory(tree);
                AddStructures(tree, 17, nodeAttributes: false);
                XfsBuildTests.BuildImage(tree, image, XfsBuildTests.Options(extraPercent: 20));
                break;
        }

        BlockDevice device = FileBlockDevice.Open(image);
        return new XfsCorpusImage(kind, device, XfsMetadataMap.Scan(device), Writable: kind is MkfsV5 or BuildDebian12);
    }

    /// <summary>A version 4 tree: a 700-entry directory, files, local and remote symlinks, devices.</summary>
    private string WriteProtofile()
    {
        string content = _temp.File("proto-content");
        File.WriteAllBytes(content, Bytes(new Random(4), 70_000));
        string tiny = _temp.File("proto-tiny");
        File.WriteAllBytes(tiny, Bytes(new Random(5), 100));
        var proto = new StringBuilder("/dev/null\n0 0\nd--755 0 0\n");
        proto.Append(CultureInfo.InvariantCulture, $"file ---644 0 0 {content}\nshort l--777 0 0 file\n");
        proto.Append(CultureInfo.InvariantCulture, $"long l--777 0 0 {string.Join('/', Enumerable.Repeat("long-component", 40))}\n");
        proto.Append("tty c--620 0 5 4 1\nwide d--755 0 0\n");
        for (int i = 0; i < 700; i++)
        {
            proto.Append(CultureInfo.InvariantCulture, $"entry-{i:D4}-with-a-longer-name ---644 0 0 {tiny}\n");
        }

        proto.Append("$\n$\n");
        string path = _temp.File("proto");
        File.WriteAllText(path, proto.ToString());
        return path;
    }

    private static byte[] Bytes(Random rng, int length)
    {
        byte[] b = new byte[length];
        rng.NextBytes(b);
        return b;
    }
}
