using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;
using Xunit.Abstractions;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Shrinks a failing random sequence to a short one that still fails (for bug reports): operations are removed
/// in chunks while the replay on a fresh image still ends with a tree (as our reopened reader sees it, or as
/// e2fsck judges it) that differs from the model. Run on demand:
/// DISKIMAGE_MINIMIZE="&lt;kind SeedBase&gt;:&lt;seed&gt;" (e.g. 1000:1037) with the filter Ext4RandomMinimizer.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class Ext4RandomMinimizer(ITestOutputHelper output)
{
    [SkippableFact]
    public void Minimize_SeedFromEnvironment_PrintsShortSequence()
    {
        string? spec = Environment.GetEnvironmentVariable("DISKIMAGE_MINIMIZE");
        Skip.If(string.IsNullOrEmpty(spec), "on demand only: set DISKIMAGE_MINIMIZE=<kind seed base>:<seed>");
        string[] parts = spec!.Split(':');
        Ext4RandomImageKind kind = Ext4RandomImageKind.All.Single(k => k.SeedBase == int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture));
        int seed = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);

        List<RandomOperation> ops;
        using (var model = new InMemoryFileSystem())
        using (var dev = new MemoryBlockDevice(File.ReadAllBytes(kind.Template)))
        using (var fs = Ext4FileSystem.Open(dev, new Ext4OpenOptions { Writable = true }))
        {
            RandomOperationRunner.Mirror(fs, model);
            var runner = new RandomOperationRunner(seed, model, kind.GeneratorOptions);
            try
            {
                runner.Run(fs);
            }
            catch (Xunit.Sdk.XunitException)
            {
                // An outcome mismatch: the sequence up to it is what we shrink.
            }

            ops = [.. runner.Operations];
        }

        byte[] template = File.ReadAllBytes(kind.Template);
        Skip.IfNot(Fails(template, ops, out string first), $"seed {seed} does not fail in memory");
        output.WriteLine($"{kind.Name} seed {seed}: {ops.Count} operations fail: {first}");
        int chunk = Math.Max(1, ops.Count / 2);
        while (chunk >= 1)
        {
            bool removed = false;
            for (int start = 0; start < ops.Count; start += chunk)
            {
                var candidate = new List<RandomOperation>(ops);
                candidate.RemoveRange(start, Math.Min(chunk, ops.Count - start));
                if (Fails(template, candidate, out _))
                {
                    ops = candidate;
                    removed = true;
                    start -= chunk;
                }
            }

            if (!removed)
            {
                chunk /= 2;
            }
        }

        Fails(template, ops, out string why);
        output.WriteLine($"minimal ({ops.Count} operations): {why}");
        foreach (RandomOperation op in ops)
        {
            output.WriteLine("  " + op);
        }
    }

    private static bool Fails(byte[] template, List<RandomOperation> ops, out string why)
    {
        byte[] image = (byte[])template.Clone();
        using var model = new InMemoryFileSystem();
        try
        {
            using (var dev = new MemoryBlockDevice(image))
            using (var fs = Ext4FileSystem.Open(dev, new Ext4OpenOptions { Writable = true }))
            {
                RandomOperationRunner.Mirror(fs, model);
                int bad = RandomOperationRunner.Replay(ops, fs, model);
                if (bad >= 0)
                {
                    why = $"operation {bad} ({ops[bad]}) has a different outcome";
                    return true;
                }
            }

            using (var dev = new MemoryBlockDevice(image, writable: false))
            using (var fs = Ext4FileSystem.Open(dev))
            {
                RandomTreeSnapshot expected = RandomTreeSnapshot.FromFileSystem(model);
                List<string> diffs = RandomTreeSnapshot.Compare(expected, RandomTreeSnapshot.FromFileSystem(fs), new RandomTreeCompareOptions { ModificationTimes = false }, 3);
                why = string.Join("; ", diffs);
                return diffs.Count > 0;
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            why = e.GetType().Name + ": " + e.Message;
            return true;
        }
    }
}
