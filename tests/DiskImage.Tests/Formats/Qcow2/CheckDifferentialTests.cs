using DiskImage.Formats.Qcow2;
using DiskImage.IO;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>
/// Differential check: seeded bit flips in the L1, L2 and refcount structures of qemu-img-made
/// images; wherever qemu-img check (qemu-utils 7.2) completes (exit 0, 2 or 3), our check must report
/// the same exit code, corruptions and leaks; our repair must then satisfy qemu-img check.
/// </summary>
public sealed class CheckDifferentialTests(MalformedImagesFixture images, ITestOutputHelper output) : IClassFixture<MalformedImagesFixture>
{
    private static readonly int FlipsPerCase = int.TryParse(Environment.GetEnvironmentVariable("DISKIMAGE_CHECK_FLIPS"), out int n) ? n : 30;

    public static IEnumerable<object[]> Cases()
    {
        foreach (string recipe in new[] { "data", "compressed", "snapshots", "refcount1", "extended-l2", "v2-snapshot" })
        {
            foreach (string region in new[] { "header", "l1", "l2", "reftable", "refblock", "snapshots" })
            {
                yield return [recipe, region];
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Check_BitFlippedMetadata_AgreesWithQemuImgCheck(string recipe, string region)
    {
        Oracle.Require("qemu-img");
        byte[] image = images.Get(recipe);
        Surgeon s = Surgeon.FromBytes((byte[])image.Clone());
        (long start, long length) = region switch
        {
            "header" => (0L, (long)Math.Min(s.ClusterSize, s.ExtensionsEnd() + 8)),
            "l1" => ((long)s.L1TableOffset, Math.Max(8, Math.Min(s.L1Size * 8L, 64))),
            "l2" => ((long)s.L2TableOffset(0), 1024L),
            "reftable" => ((long)s.RefcountTableOffset, 32L),
            "snapshots" when s.SnapshotCount != 0 => ((long)s.SnapshotsOffset, 64L),
            "snapshots" => ((long)s.L2TableOffset(0) + 1024, 1024L),
            _ => ((long)(s.RefTableEntry(0) & ~511UL), 256L),
        };

        using var dir = new TempDirectory();
        var failures = new List<string>();
        int compared = 0;
        for (int n = 0; n < FlipsPerCase; n++)
        {
            int seed = (recipe.Length * 1000) + (region.Length * 100) + n;
            var random = new Random(seed);
            byte[] mutated = (byte[])image.Clone();
            var flips = new List<string>();
            for (int k = 1 + random.Next(2); k > 0; k--)
            {
                long offset = start + random.NextInt64(length);
                int bit = random.Next(8);
                mutated[offset] ^= (byte)(1 << bit);
                flips.Add($"0x{offset:x}.{bit}");
            }

            string name = $"{recipe} {region} seed={seed} flips=[{string.Join(",", flips)}]";
            string path = dir.File($"m{n}.qcow2");
            File.WriteAllBytes(path, mutated);
            QemuCheck qemu = QemuCheck.Run(path);
            Qcow2CheckResult ours;
            using (var host = new MemoryBlockDevice((byte[])mutated.Clone(), writable: false))
            {
                ours = Qcow2Image.Check(host);
            }

            if (qemu.ExitCode is not (0 or 2 or 3))
            {
                output.WriteLine($"{name}: qemu exit {qemu.ExitCode}, ours {ours.ExitCode} (not compared)");
                continue;
            }

            compared++;
            if (qemu.ExitCode != ours.ExitCode || qemu.Corruptions != ours.Corruptions || qemu.Leaks != ours.Leaks)
            {
                failures.Add($"{name}\nqemu: {qemu.Output}\nours: {QemuCheck.Describe(ours)}");
                continue;
            }

            if (qemu.ExitCode == 0)
            {
                continue;
            }

            Qcow2CheckResult repaired;
            using (FileBlockDevice host = FileBlockDevice.Open(path, writable: true))
            {
                repaired = Qcow2Image.Check(host, Qcow2RepairMode.All);
            }

            QemuCheck after = QemuCheck.Run(path);
            if (repaired.ExitCode == 0 && after.ExitCode != 0)
            {
                failures.Add($"{name}: our repair claims clean, qemu-img check disagrees\n{after.Output}\nours: {QemuCheck.Describe(repaired)}");
            }
            else
            {
                output.WriteLine($"{name}: qemu {qemu.ExitCode}, repaired ours {repaired.ExitCode}, qemu after {after.ExitCode}");
            }
        }

        output.WriteLine($"{compared} compared, {failures.Count} differ");
        Assert.True(failures.Count == 0, string.Join("\n\n", failures.Take(4)));
    }
}
