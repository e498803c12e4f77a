using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>
/// Recipes for qcow2 test images made by qemu-img and qemu-io (the oracle tools), so every image a
/// check test examines has a reproducible origin.
/// </summary>
public static class CheckImages
{
    /// <summary>Names of the recipes in <see cref="Make"/>.</summary>
    public static readonly string[] Names =
    [
        "empty", "data", "compressed", "zero", "snapshots", "backing", "v2", "v2-snapshot", "refcount1", "refcount64-snapshot",
        "cluster512", "cluster2M", "extended-l2", "zstd", "bitmap", "prealloc-metadata", "large-sparse", "lazy-refcounts",
    ];

    private static void Img(params string[] args) => Oracle.RunOk("qemu-img", args);

    private static void Io(string path, params string[] commands)
    {
        var args = new List<string>();
        foreach (string c in commands)
        {
            args.Add("-c");
            args.Add(c);
        }

        args.Add(path);
        ToolResult r = Oracle.Run("qemu-io", args, TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0 && !r.StandardOutput.Contains("failed", StringComparison.OrdinalIgnoreCase), r.ToString());
    }

    /// <summary>Creates the image <paramref name="recipe"/> in <paramref name="dir"/> and returns its path.</summary>
    public static string Make(TempDirectory dir, string recipe)
    {
        string path = dir.File(recipe + ".qcow2");
        switch (recipe)
        {
            case "empty":
                Img("create", "-q", "-f", "qcow2", path, "1M");
                break;
            case "data":
                Img("create", "-q", "-f", "qcow2", path, "4M");
                Io(path, "write -P 1 0 64k", "write -P 2 1M 128k", "write -P 3 3M 4k", "write -P 4 192k 64k");
                break;
            case "compressed":
                Img("create", "-q", "-f", "qcow2", path, "4M");
                Io(path, "write -c -P 1 0 64k", "write -c -P 2 64k 64k", "write -c -P 3 256k 64k", "write -P 4 512k 64k");
                break;
            case "zero":
                Img("create", "-q", "-f", "qcow2", path, "4M");
                Io(path, "write -P 1 0 128k", "write -z 0 64k", "write -z 1M 64k", "write -P 5 2M 64k");
                break;
            case "snapshots":
                Img("create", "-q", "-f", "qcow2", path, "4M");
                Io(path, "write -P 1 0 256k");
                Img("snapshot", "-c", "s1", path);
                Io(path, "write -P 2 64k 64k", "write -P 3 1M 64k");
                Img("snapshot", "-c", "s2", path);
                Io(path, "write -P 4 0 4k");
                break;
            case "backing":
            {
                string basePath = dir.File("backing-base.qcow2");
                Img("create", "-q", "-f", "qcow2", basePath, "4M");
                Io(basePath, "write -P 1 0 1M");
                Img("create", "-q", "-f", "qcow2", "-b", basePath, "-F", "qcow2", path);
                Io(path, "write -P 2 4k 4k", "write -P 3 2M 64k");
                break;
            }

            case "v2":
                Img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", path, "4M");
                Io(path, "write -P 1 0 64k", "write -c -P 2 1M 64k", "write -z 2M 64k");
                break;
            case "v2-snapshot":
                Img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", path, "4M");
                Io(path, "write -P 1 0 128k");
                Img("snapshot", "-c", "a", path);
                Io(path, "write -P 2 0 64k");
                break;
            case "refcount1":
                Img("create", "-q", "-f", "qcow2", "-o", "refcount_bits=1", path, "4M");
                Io(path, "write -P 1 0 64k", "write -P 2 1M 128k");
                break;
            case "refcount64-snapshot":
                Img("create", "-q", "-f", "qcow2", "-o", "refcount_bits=64", path, "4M");
                Io(path, "write -P 1 0 128k");
                Img("snapshot", "-c", "a", path);
                Io(path, "write -P 2 0 64k");
                break;
            case "cluster512":
                Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", path, "1M");
                Io(path, "write -P 1 0 100k", "write -P 2 512k 3k");
                break;
            case "cluster2M":
                Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=2M", path, "8M");
                Io(path, "write -P 1 0 64k", "write -P 2 5M 64k");
                break;
            case "extended-l2":
                Img("create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=64k", path, "4M");
                Io(path, "write -P 1 0 4k", "write -P 2 64k 64k", "write -z 1M 8k", "write -P 3 2M 2k");
                break;
            case "zstd":
                Img("create", "-q", "-f", "qcow2", "-o", "compression_type=zstd", path, "4M");
                Io(path, "write -c -P 1 0 64k", "write -c -P 2 64k 64k", "write -P 3 1M 64k");
                break;
            case "bitmap":
                Img("create", "-q", "-f", "qcow2", path, "4M");
                Img("bitmap", "--add", path, "b0");
                Io(path, "write -P 1 0 64k");
                Img("bitmap", "--add", "-g", "64k", path, "b1");
                break;
            case "prealloc-metadata":
                Img("create", "-q", "-f", "qcow2", "-o", "preallocation=metadata", path, "4M");
                break;
            case "large-sparse":
                Img("create", "-q", "-f", "qcow2", path, "10G");
                Io(path, "write -P 1 0 64k", "write -P 2 5G 128k", "write -P 3 9G 64k", "write -P 4 64k 64k");
                break;
            case "lazy-crash":
            {
                // qemu-io's abort leaves a dirty image whose refcounts were never written.
                Img("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", path, "4M");
                ToolResult r = Oracle.Run("qemu-io", ["-c", "write -P 1 0 128k", "-c", "write -P 2 1M 64k", "-c", "abort", path], TimeSpan.FromMinutes(1));
                Assert.NotEqual(0, r.ExitCode);
                break;
            }

            case "lazy-refcounts":
                Img("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", path, "4M");
                Io(path, "write -P 1 0 64k");
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(recipe), recipe, "Unknown recipe.");
        }

        return path;
    }

    /// <summary>xunit member data over <see cref="Names"/>.</summary>
    public static IEnumerable<object[]> All() => Names.Select(n => new object[] { n });
}
