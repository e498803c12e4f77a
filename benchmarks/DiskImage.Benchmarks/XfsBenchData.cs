using DiskImage.FileSystems.InMemory;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;

namespace DiskImage.Benchmarks;

/// <summary>Shared inputs of the XFS benchmarks: fixed format options and generated trees held in memory.</summary>
internal static class XfsBenchData
{
    /// <summary>Tree shape: 2,000 text-like files of 0–64 KiB in 50 directories (about 64 MiB; the tree of <see cref="Ext4BuildBenchmarks"/>).</summary>
    public const string Mixed = "Mixed2000";

    /// <summary>Tree shape: 5,000 small files of 0–8 KiB and 500 symbolic links in 250 directories two levels deep, like a
    /// root file system's <c>/usr</c> (metadata-heavy, about 20 MiB).</summary>
    public const string Small = "Small5000";

    /// <summary>A fixed UUID and time, so that every run writes the same bytes.</summary>
    public static readonly XfsFormatOptions Format = new()
    {
        Uuid = new Guid("11111111-2222-4333-8444-555555555555"),
        Timestamp = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero),
    };

    /// <summary>The tree named by <paramref name="shape"/> (<see cref="Mixed"/> or <see cref="Small"/>).</summary>
    public static InMemoryFileSystem Tree(string shape) => shape switch
    {
        Mixed => MixedTree(),
        Small => SmallFileTree(),
        _ => throw new ArgumentOutOfRangeException(nameof(shape), shape, "Unknown tree shape."),
    };

    /// <summary>
    /// An XFS image (as a byte array) built from <paramref name="tree"/> with <paramref name="freeBytes"/> of room beyond
    /// the smallest size that holds it.
    /// </summary>
    public static byte[] BuildImage(InMemoryFileSystem tree, long freeBytes)
    {
        long size = XfsFileSystem.ComputeBuildSize(tree, new XfsBuildOptions { Format = Format, ExtraBytes = freeBytes });
        byte[] image = new byte[checked((int)size)];
        using var device = new MemoryBlockDevice(image);
        XfsFileSystem.Build(device, tree, new XfsBuildOptions { Format = Format });
        return image;
    }

    private static InMemoryFileSystem MixedTree()
    {
        var rng = new Random(BenchmarkData.Seed);
        var tree = new InMemoryFileSystem();
        for (int d = 0; d < 50; d++)
        {
            tree.CreateDirectory($"/d{d}");
        }

        byte[] data = new byte[64 * 1024];
        for (int i = 0; i < 2000; i++)
        {
            int length = rng.Next(0, data.Length);
            BenchmarkData.FillText(rng, data.AsSpan(0, length));
            using Stream s = tree.OpenFile($"/d{i % 50}/file{i}", FileMode.CreateNew, FileAccess.Write);
            s.Write(data, 0, length);
        }

        return tree;
    }

    private static InMemoryFileSystem SmallFileTree()
    {
        var rng = new Random(BenchmarkData.Seed);
        var tree = new InMemoryFileSystem();
        for (int a = 0; a < 25; a++)
        {
            tree.CreateDirectory($"/p{a:D2}");
            for (int b = 0; b < 10; b++)
            {
                tree.CreateDirectory($"/p{a:D2}/s{b}");
            }
        }

        byte[] data = new byte[8 * 1024];
        for (int i = 0; i < 5000; i++)
        {
            int length = rng.Next(0, data.Length + 1);
            BenchmarkData.FillText(rng, data.AsSpan(0, length));
            string path = $"/p{i % 25:D2}/s{i / 25 % 10}/file{i:D4}";
            using (Stream s = tree.OpenFile(path, FileMode.CreateNew, FileAccess.Write))
            {
                s.Write(data, 0, length);
            }

            if (i % 10 == 0)
            {
                tree.CreateSymbolicLink(path + ".link", $"file{i:D4}");
            }
        }

        return tree;
    }
}
