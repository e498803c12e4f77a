using System.Buffers.Binary;
using System.Diagnostics;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using Xunit.Abstractions;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Fuzzing (issue 9, acceptance 3): 10,000 corrupted images per run, bit flips and field-aware
/// mutations of the superblock, descriptors, bitmaps, inodes, extent and indirect blocks, directory
/// blocks (linear and htree) and xattr blocks of mke2fs-made images, each read in full and then
/// written (create, mkdir, append, xattr, delete, rename, truncate, flush). Allowed outcomes: success,
/// <see cref="InvalidDataException"/>, <see cref="NotSupportedException"/>, and
/// <see cref="IOException"/> saying the file system is full (a corrupt free count or bitmap can make it
/// look full: that is the truth as the metadata tells it, and the kernel says ENOSPC too). Each image
/// must finish within <see cref="CaseBudget"/> and allocate at most <see cref="AllocationBudget"/> bytes.
/// Seeded and sequential; a failure prints the variant and seed to replay it
/// (DISKIMAGE_EXT4_FUZZ_SEED=variant:seed runs just that case).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class Ext4FuzzTests(Ext4FuzzFixture fixture, ITestOutputHelper output) : IClassFixture<Ext4FuzzFixture>
{
    /// <summary>Cases per variant; four variants make 10,000. DISKIMAGE_EXT4_FUZZ_CASES raises it for longer hunts.</summary>
    private static readonly int CasesPerVariant = int.TryParse(Environment.GetEnvironmentVariable("DISKIMAGE_EXT4_FUZZ_CASES"), out int n) ? n : 2500;

    private static readonly TimeSpan CaseBudget = TimeSpan.FromSeconds(10);
    private const long AllocationBudget = 64L << 20;
    private const int MaxEntries = 2000;
    private const int ReadHead = 128 * 1024;

    private static readonly ulong[] Interesting =
    [
        0, 1, 2, 3, 7, 8, 11, 12, 15, 16, 63, 64, 127, 128, 255, 256, 1023, 1024, 1025, 2047, 2048, 4096, 8192,
        0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE,
    ];

    [SkippableTheory]
    [InlineData("ext4-csum", "-t ext4", 100_000)]
    [InlineData("ext4-nocsum", "-t ext4 -O ^metadata_csum,uninit_bg", 200_000)]
    [InlineData("ext2", "-t ext2", 300_000)]
    [InlineData("ext4-inline", "-t ext4 -O ^metadata_csum,inline_data -I 256", 400_000)]
    public void Fuzz_MutatedImage_ReadAndWriteThrowOnlyInvalidDataOrNotSupported(string variant, string options, int seedBase)
    {
        Ext4FuzzImage image = fixture.Get(options);
        (int first, int count) = Range(variant, seedBase);
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        var failures = new List<string>();
        var clock = Stopwatch.StartNew();
        long currentSeed = -1;
        long caseStarted = 0;
        bool done = false;
        var worker = new Thread(() =>
        {
            byte[] work = new byte[image.Image.Length];
            for (int seed = first; seed < first + count; seed++)
            {
                Volatile.Write(ref caseStarted, Stopwatch.GetTimestamp());
                Volatile.Write(ref currentSeed, seed);
                image.Image.CopyTo(work, 0);
                string mutation = Mutate(work, image.Regions, new Random(seed));
                long allocated = GC.GetAllocatedBytesForCurrentThread();
                string outcome = RunCase(work, seed, out string? failure);
                allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
                if (failure is null && allocated > AllocationBudget)
                {
                    failure = $"allocated {allocated >> 20} MiB";
                }

                if (failure is not null)
                {
                    failures.Add($"{variant}:{seed} [{mutation}]: {failure}");
                }

                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }

            Volatile.Write(ref done, true);
        }, 16 * 1024 * 1024)
        { IsBackground = true, Name = "ext4 fuzz " + variant };
        worker.Start();
        while (!worker.Join(200))
        {
            long started = Volatile.Read(ref caseStarted);
            if (started != 0 && Stopwatch.GetElapsedTime(started) > CaseBudget)
            {
                Assert.Fail($"{variant}:{Volatile.Read(ref currentSeed)}: did not finish within {CaseBudget.TotalSeconds} s (a hang)");
            }
        }

        Assert.True(Volatile.Read(ref done));
        output.WriteLine($"{variant}: {count} cases in {clock.Elapsed.TotalSeconds:F1} s");
        foreach ((string outcome, int times) in outcomes.OrderByDescending(kv => kv.Value).Take(40))
        {
            output.WriteLine($"  {times,6}  {outcome}");
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {count} cases misbehaved:\n" + string.Join("\n", failures.Take(10)));
    }

    private static (int First, int Count) Range(string variant, int seedBase)
    {
        string? only = Environment.GetEnvironmentVariable("DISKIMAGE_EXT4_FUZZ_SEED");
        if (only is not null && only.Split(':') is [string v, string s] && int.TryParse(s, out int seed))
        {
            return v == variant ? (seed, 1) : (0, 0);
        }

        return (seedBase, CasesPerVariant);
    }

    /// <summary>Applies 1–3 mutations inside the metadata regions; returns what was done.</summary>
    private static string Mutate(byte[] image, IReadOnlyList<Ext4FuzzRegion> regions, Random rng)
    {
        var what = new List<string>();
        int mutations = 1 + rng.Next(3);
        for (int m = 0; m < mutations; m++)
        {
            Ext4FuzzRegion region = regions[rng.Next(regions.Count)];
            int kind = rng.Next(5);
            if (kind == 4)
            {
                // Zero or fill a run (a wiped bitmap, a cleared entry).
                int length = Math.Min(region.Length, 4 << rng.Next(9));
                int from = region.Offset + rng.Next(region.Length - length + 1);
                byte fill = rng.Next(2) == 0 ? (byte)0 : (byte)0xFF;
                image.AsSpan(from, length).Fill(fill);
                what.Add($"{region.Kind}@{from}+{length}={fill:X2}");
                continue;
            }

            int width = kind switch { 0 => 0, 1 => 1, 2 => 2, _ => 4 };
            int at = region.Offset + (rng.Next(region.Length / Math.Max(width, 1)) * Math.Max(width, 1));
            if (at + Math.Max(width, 1) > image.Length)
            {
                continue;
            }

            if (width == 0)
            {
                int bit = rng.Next(8);
                image[at] ^= (byte)(1 << bit);
                what.Add($"{region.Kind}@{at}^bit{bit}");
                continue;
            }

            ulong old = width switch
            {
                1 => image[at],
                2 => BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(at)),
                _ => BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(at)),
            };
            ulong value = rng.Next(4) switch
            {
                0 => old + 1,
                1 => old - 1,
                2 => (ulong)rng.NextInt64(),
                _ => Interesting[rng.Next(Interesting.Length)],
            };
            switch (width)
            {
                case 1:
                    image[at] = (byte)value;
                    break;
                case 2:
                    BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(at), (ushort)value);
                    break;
                default:
                    BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(at), (uint)value);
                    break;
            }

            what.Add($"{region.Kind}@{at}:{width}={value & (width == 4 ? 0xFFFFFFFF : width == 2 ? 0xFFFFUL : 0xFFUL):X}");
        }

        return string.Join(", ", what);
    }

    /// <summary>Reads everything (checksums verified on even seeds), then writes; returns the outcome and sets a failure text when an exception is not allowed.</summary>
    private static string RunCase(byte[] image, int seed, out string? failure)
    {
        failure = null;
        string stage = "read";
        try
        {
            using (Ext4FileSystem fs = Ext4FileSystem.Open(new MemoryBlockDevice(image, writable: false), new Ext4OpenOptions { VerifyChecksums = seed % 2 == 0 }))
            {
                ReadEverything(fs);
            }
        }
        catch (Exception e) when (Allowed(e))
        {
            // The write stage still runs: writing verifies what reading may have skipped.
            stage = "read " + Describe(e) + ", write";
        }
        catch (Exception e)
        {
            failure = $"{stage}: {e}";
            return stage + ": " + e.GetType().Name;
        }

        stage = stage == "read" ? "write" : stage;
        try
        {
            using Ext4FileSystem fs = Ext4FileSystem.Open(new MemoryBlockDevice(image), new Ext4OpenOptions { Writable = true, Clock = () => new UnixTime(1_700_000_000, 0) });
            WriteSome(fs);
            return stage + ": ok";
        }
        catch (Exception e) when (Allowed(e))
        {
            return stage + ": " + Describe(e);
        }
        catch (Exception e)
        {
            failure = $"{stage}: {e}";
            return stage + ": " + e.GetType().Name;
        }
    }

    private static string Describe(Exception e)
    {
        string m = e.Message;
        int colon = m.IndexOf(':', StringComparison.Ordinal);
        return e.GetType().Name + " (" + (colon > 0 ? m[..colon] : m.Length > 40 ? m[..40] : m) + ")";
    }

    private static bool Allowed(Exception e) =>
        e is InvalidDataException or NotSupportedException ||
        (e.GetType() == typeof(IOException) && (e.Message.StartsWith("No space left", StringComparison.Ordinal) || e.Message.StartsWith("No free inodes", StringComparison.Ordinal)));

    /// <summary>Walks the tree (cycles refused by inode identity), reading entries, xattrs, links and the head and tail of every file.</summary>
    private static void ReadEverything(Ext4FileSystem fs)
    {
        var guard = new DirectoryCycleGuard();
        var stack = new Stack<(UnixFileInfo Directory, List<UnixFileInfo> Children, int Next)>();
        UnixFileInfo root = fs.GetEntry("/");
        guard.Enter(root);
        stack.Push((root, [.. fs.EnumerateDirectory("/")], 0));
        byte[] buffer = new byte[16 * 1024];
        int entries = 0;
        while (stack.Count > 0 && entries < MaxEntries)
        {
            (UnixFileInfo dir, List<UnixFileInfo> children, int next) = stack.Pop();
            if (next == children.Count)
            {
                guard.Leave(dir);
                continue;
            }

            stack.Push((dir, children, next + 1));
            UnixFileInfo e = children[next];
            entries++;
            fs.GetXattrs(e.Path);
            switch (e.Type)
            {
                case UnixFileType.Directory:
                    guard.Enter(e);
                    stack.Push((e, [.. fs.EnumerateDirectory(e.Path)], 0));
                    break;
                case UnixFileType.RegularFile:
                    using (Stream s = fs.OpenFile(e.Path, FileMode.Open, FileAccess.Read))
                    {
                        int total = 0;
                        int n;
                        while (total < ReadHead && (n = s.Read(buffer)) > 0)
                        {
                            total += n;
                        }

                        if (s.Length > ReadHead)
                        {
                            s.Position = s.Length - buffer.Length;
                            s.ReadExactly(buffer);
                        }
                    }

                    break;
            }
        }
    }

    /// <summary>Runs one change; a change refused as unsupported (inline data, for one) lets the next one run.</summary>
    private static void Try(Action change)
    {
        try
        {
            change();
        }
        catch (NotSupportedException)
        {
        }
    }

    /// <summary>A few changes of every kind, on entries found in the (mutated) tree.</summary>
    private static void WriteSome(Ext4FileSystem fs)
    {
        UnixFileInfo? dir = null;
        var files = new List<UnixFileInfo>();
        foreach (UnixFileInfo e in fs.EnumerateDirectory("/"))
        {
            if (e.Type == UnixFileType.Directory && e.Name != "lost+found")
            {
                dir ??= e;
            }
            else if (e.Type == UnixFileType.RegularFile)
            {
                files.Add(e);
            }
        }

        byte[] data = new byte[5000];
        new Random(1).NextBytes(data);
        Try(() =>
        {
            using Stream s = fs.OpenFile("/fz-new", FileMode.CreateNew, FileAccess.Write);
            s.Write(data);
        });
        Try(() =>
        {
            fs.CreateDirectory("/fz-dir");
            using Stream s = fs.OpenFile("/fz-dir/a", FileMode.CreateNew, FileAccess.Write);
            s.Write(data.AsSpan(0, 100));
        });
        if (dir is not null)
        {
            Try(() => fs.OpenFile(FileSystemPath.Combine(dir.Path, "fz-in"), FileMode.CreateNew, FileAccess.Write).Dispose());
        }

        if (files.Count > 0)
        {
            Try(() =>
            {
                using Stream s = fs.OpenFile(files[0].Path, FileMode.Append, FileAccess.Write);
                s.Write(data.AsSpan(0, 3000));
            });
            Try(() => fs.SetXattr(files[0].Path, "user.fz", data.AsSpan(0, 40).ToArray()));
        }

        if (files.Count > 1)
        {
            Try(() => fs.Delete(files[1].Path));
        }

        Try(() => fs.Rename("/fz-new", "/fz-renamed"));
        if (files.Count > 0)
        {
            Try(() =>
            {
                using Stream s = fs.OpenFile(files[0].Path, FileMode.Open, FileAccess.Write);
                s.SetLength(100);
            });
        }

        fs.Flush();
    }
}
