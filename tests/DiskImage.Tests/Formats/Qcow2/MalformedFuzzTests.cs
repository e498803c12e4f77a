using DiskImage.Tests.Oracles;
using Xunit.Abstractions;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>Base images for the malformed-input suite, made once per test class by qemu-img/qemu-io.</summary>
public sealed class MalformedImagesFixture : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly Dictionary<string, byte[]> _images = [];
    private readonly Lock _lock = new();

    /// <summary>The bytes of recipe <paramref name="recipe"/> from <see cref="CheckImages"/>.</summary>
    public byte[] Get(string recipe)
    {
        Oracle.Require("qemu-img");
        lock (_lock)
        {
            if (!_images.TryGetValue(recipe, out byte[]? bytes))
            {
                bytes = File.ReadAllBytes(CheckImages.Make(_dir, recipe));
                _images[recipe] = bytes;
            }

            return (byte[])bytes.Clone();
        }
    }

    /// <summary>Scratch directory for cases that need files.</summary>
    public TempDirectory Directory => _dir;

    public void Dispose() => _dir.Dispose();
}

/// <summary>
/// Truncations and seeded bit flips of images made by qemu-img: every variant must open, read,
/// write and check without any exception other than InvalidDataException/NotSupportedException,
/// without hanging and within the allocation budget (<see cref="MalformedCaseRunner"/>).
/// </summary>
public sealed class MalformedFuzzTests(MalformedImagesFixture images, ITestOutputHelper output) : IClassFixture<MalformedImagesFixture>
{
    /// <summary>Mutations per metadata region; DISKIMAGE_MALFORMED_FLIPS raises it for longer hunts.</summary>
    private static readonly int FlipsPerRegion = int.TryParse(Environment.GetEnvironmentVariable("DISKIMAGE_MALFORMED_FLIPS"), out int n) ? n : 40;

    public static IEnumerable<object[]> Recipes() =>
        new[] { "data", "compressed", "snapshots", "extended-l2", "v2-snapshot", "zstd", "refcount1", "bitmap", "cluster512" }.Select(r => new object[] { r });

    private void AssertNoFailures(List<string> failures, int cases)
    {
        output.WriteLine($"{cases} cases, {failures.Count} failed");
        foreach (string f in failures.Take(20))
        {
            output.WriteLine(f);
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {cases} cases misbehaved; first:\n" + string.Join("\n\n", failures.Take(5)));
    }

    [SkippableTheory]
    [MemberData(nameof(Recipes))]
    public void Malformed_Truncated_ThrowsOnlyInvalidDataOrNotSupported(string recipe)
    {
        byte[] image = images.Get(recipe);
        Surgeon s = Surgeon.Open(WriteTemp(recipe, image));
        int cluster = s.ClusterSize;
        var offsets = new SortedSet<int> { 0, 1, 3, 4, 7, 8, 20, 24, 36, 40, 48, 60, 64, 71, 72, 96, 100, 103, 104, 111, 112, 200, 511, 512 };
        for (long c = cluster; c < image.Length; c += cluster)
        {
            offsets.Add((int)c - 1);
            offsets.Add((int)c);
            offsets.Add((int)c + 8);
            offsets.Add((int)Math.Min(image.Length - 1, c + (cluster / 2)));
            if (offsets.Count > 400)
            {
                break;
            }
        }

        offsets.Add(image.Length - 1);
        var failures = new List<string>();
        foreach (int at in offsets)
        {
            if (at >= image.Length)
            {
                continue;
            }

            string? f = MalformedCaseRunner.Run($"{recipe} truncated at {at}", image.AsSpan(0, at).ToArray());
            if (f is not null)
            {
                failures.Add(f);
            }
        }

        AssertNoFailures(failures, offsets.Count);
    }

    private string WriteTemp(string recipe, byte[] image)
    {
        string path = images.Directory.File($"fuzz-{recipe}-{Guid.NewGuid():N}.qcow2");
        File.WriteAllBytes(path, image);
        return path;
    }

    /// <summary>Byte ranges of the metadata structures of an image, by name.</summary>
    private static List<(string Name, long Start, long Length)> Regions(Surgeon s)
    {
        var list = new List<(string, long, long)>();
        int cluster = s.ClusterSize;
        list.Add(("header", 0, Math.Min(cluster, s.ExtensionsEnd() + 8)));
        list.Add(("l1", (long)s.L1TableOffset, Math.Max(8, s.L1Size * 8L)));
        for (int i = 0; i < s.L1Size && list.Count < 6; i++)
        {
            ulong l2 = s.L2TableOffset(i);
            if (l2 != 0)
            {
                list.Add(($"l2[{i}]", (long)l2, Math.Min(cluster, 4096)));
            }
        }

        list.Add(("reftable", (long)s.RefcountTableOffset, 64));
        ulong block = s.RefTableEntry(0) & ~511UL;
        if (block != 0)
        {
            list.Add(("refblock[0]", (long)block, Math.Min(cluster, 512)));
        }

        if (s.SnapshotCount != 0)
        {
            List<Surgeon.SnapshotEntry> snaps = s.Snapshots();
            list.Add(("snapshots", (long)s.SnapshotsOffset, snaps.Sum(e => e.Length)));
        }

        return list;
    }

    [SkippableTheory]
    [MemberData(nameof(Recipes))]
    public void Malformed_RandomBitFlips_ThrowsOnlyInvalidDataOrNotSupported(string recipe)
    {
        byte[] image = images.Get(recipe);
        Surgeon s = Surgeon.Open(WriteTemp(recipe, image));
        var failures = new List<string>();
        int cases = 0;
        int seedBase = StableHash(recipe);
        foreach ((string name, long start, long length) in Regions(s))
        {
            for (int n = 0; n < FlipsPerRegion; n++)
            {
                int seed = seedBase + (n * 7919) + name.Length;
                var random = new Random(seed);
                byte[] mutated = (byte[])image.Clone();
                int flips = 1 + random.Next(3);
                var what = new List<string>();
                for (int k = 0; k < flips; k++)
                {
                    long offset = start + random.NextInt64(length);
                    if (offset >= mutated.Length)
                    {
                        continue;
                    }

                    int bit = random.Next(8);
                    mutated[offset] ^= (byte)(1 << bit);
                    what.Add($"0x{offset:x}.{bit}");
                }

                cases++;
                string? f = MalformedCaseRunner.Run($"{recipe} {name} seed={seed} flips=[{string.Join(",", what)}]", mutated);
                if (f is not null)
                {
                    failures.Add(f);
                }
            }
        }

        AssertNoFailures(failures, cases);
    }

    private static int StableHash(string text)
    {
        int h = 17;
        foreach (char c in text)
        {
            h = (h * 31) + c;
        }

        return h & 0x7fffffff;
    }
}
