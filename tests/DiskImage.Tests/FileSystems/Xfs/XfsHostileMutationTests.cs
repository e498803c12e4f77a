using System.Globalization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using Xunit.Abstractions;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// The hostile-image mutation campaign (issue 10, acceptance 5), read and write side: seeded damage — bit flips,
/// boundary values, off-by-a-few counts and levels, pointers to other metadata or to the structure itself (cycles) — to
/// one metadata structure of a real image (<see cref="XfsHostileCorpus"/>: superblocks, AGF/AGI/AGFL, every btree,
/// inodes, directory and attribute blocks, remote blocks, log records), with the structure's CRC re-stamped in two
/// cases of three so the parsers behind the checksum are reached, and opened with CRC verification on and off.
/// Read: open and walk the whole tree (entries, link targets, xattrs, some file content). Write: open writable, create
/// a directory, a file and an xattr, delete a file, flush. Every outcome must be success,
/// <see cref="InvalidDataException"/> or <see cref="NotSupportedException"/> ("No space left" <see cref="IOException"/>
/// on the write side), in bounded time and allocation; a refused write leaves every byte of the device as it was, and
/// a write that succeeds leaves a file system the reader walks without error. Each case prints its seed on failure;
/// DISKIMAGE_XFS_HOSTILE_CASES (cases per image for the read side; a fifth of it for the write side) and
/// DISKIMAGE_XFS_HOSTILE_SEED (the first seed) run more locally.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class XfsHostileMutationTests(XfsHostileCorpus corpus, ITestOutputHelper output) : IClassFixture<XfsHostileCorpus>
{
    private const long ReadAllocationLimit = 256L << 20;
    private const long WriteAllocationLimit = 1L << 30;
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(30);
    private static readonly ulong[] Boundary = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, ulong.MaxValue, 1UL << 40, 1UL << 62];

    public static TheoryData<string> Kinds => [.. XfsHostileCorpus.Kinds];

    private static int ReadCases => Setting("DISKIMAGE_XFS_HOSTILE_CASES", 150);

    private static int FirstSeed => Setting("DISKIMAGE_XFS_HOSTILE_SEED", 1);

    [SkippableTheory]
    [MemberData(nameof(Kinds))]
    public void ReadWalk_SeededMutations_OnlyInvalidDataOrNotSupported(string kind)
    {
        XfsHostileCorpus.Require(kind);
        XfsCorpusImage image = corpus.Get(kind);
        output.WriteLine($"{kind}: {string.Join(", ", image.Map.Kinds.Select(k => $"{k} {image.Map.Count(k)}"))}");
        var outcomes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < ReadCases; i++)
        {
            int seed = FirstSeed + i;
            var device = new XfsOverlayDevice(image.Device);
            string what = Mutate(device, image.Map, new Random(seed));
            bool verify = seed % 2 == 0;
            bool content = seed % 4 < 2;
            string outcome = Bounded(kind, seed, what, ReadAllocationLimit, () => ReadCase(device, verify, content));
            Count(outcomes, outcome);
        }

        output.WriteLine($"{kind}: {string.Join(", ", outcomes.Select(kv => $"{kv.Key} {kv.Value}"))}");
        Assert.True(outcomes.Where(kv => kv.Key.StartsWith("Invalid", StringComparison.Ordinal)).Sum(kv => kv.Value) > ReadCases / 8, string.Join(", ", outcomes));
    }

    [SkippableTheory]
    [MemberData(nameof(Kinds))]
    public void WriteBack_SeededMutations_RefusedUnchangedOrConsistent(string kind)
    {
        XfsHostileCorpus.Require(kind);
        XfsCorpusImage image = corpus.Get(kind);
        int cases = image.Writable ? Math.Max(1, ReadCases / (kind == XfsHostileCorpus.MkfsV5 ? 10 : 5)) : 4;
        var outcomes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < cases; i++)
        {
            int seed = FirstSeed + 100_000 + i;
            var device = new XfsOverlayDevice(image.Device);
            string what = Mutate(device, image.Map, new Random(seed));
            string outcome = Bounded(kind, seed, what, WriteAllocationLimit, () => WriteCase(device, what, seed));
            Count(outcomes, outcome);
        }

        output.WriteLine($"{kind}: {string.Join(", ", outcomes.Select(kv => $"{kv.Key} {kv.Value}"))}");
        if (!image.Writable)
        {
            Assert.Equal(["open refused: NotSupportedException"], outcomes.Keys);
        }
    }

    /// <summary>Damages one metadata structure of <paramref name="map"/> on <paramref name="device"/>; returns what was done.</summary>
    internal static string Mutate(XfsOverlayDevice device, XfsMetadataMap map, Random rng)
    {
        IReadOnlyList<string> kinds = map.Kinds;
        string kind = kinds[rng.Next(kinds.Count)];
        IReadOnlyList<XfsStructure> list = map.Of(kind);
        XfsStructure s = list[rng.Next(list.Count)];
        for (int tries = 0; tries < 8 && !s.InUse; tries++)
        {
            s = list[rng.Next(list.Count)];
        }

        int length = (int)Math.Min(s.Length, device.Length - s.Offset);
        byte[] b = new byte[length];
        device.ReadExactly(s.Offset, b);
        var what = new System.Text.StringBuilder(string.Create(CultureInfo.InvariantCulture, $"{kind} at byte {s.Offset}:"));
        int edits = 1 + rng.Next(3);
        for (int k = 0; k < edits; k++)
        {
            // Headers hold most fields: aim there half the time.
            int at = rng.Next(2) == 0 ? rng.Next(Math.Min(length, 128)) : rng.Next(length);
            int width = 1 << rng.Next(4);
            at = Math.Max(0, Math.Min(at & ~(width - 1), length - width));
            ulong old = Get(b, at, width);
            ulong value;
            switch (rng.Next(4))
            {
                case 0:
                    width = 1;
                    value = b[at] ^ (1UL << rng.Next(8));
                    break;
                case 1:
                    value = Boundary[rng.Next(Boundary.Length)];
                    break;
                case 2:
                    value = old + (ulong)(rng.Next(7) - 3);
                    break;
                default:
                    // A pointer to metadata: this structure itself (a cycle) or another one, as an AG block, a
                    // file-system block or a disk address.
                    XfsStructure target = rng.Next(3) == 0 ? s : Pick(map, rng);
                    ulong fsBlock = map.FsBlock(target.Offset);
                    value = rng.Next(3) switch
                    {
                        0 => fsBlock & ((1UL << map.AgBlockLog) - 1),
                        1 => fsBlock,
                        _ => (ulong)target.Offset >> 9,
                    };
                    break;
            }

            Put(b, at, width, value);
            what.Append(CultureInfo.InvariantCulture, $" [{at}..+{width}] {old:x}->{value:x}");
        }

        if (map.HasCrc && s.CrcOffset >= 0 && rng.Next(3) != 0)
        {
            XfsChecksum.Update(b, s.CrcOffset);
            what.Append(" (CRC re-stamped)");
        }

        device.Write(s.Offset, b);
        return what.ToString();
    }

    private static XfsStructure Pick(XfsMetadataMap map, Random rng)
    {
        IReadOnlyList<XfsStructure> list = map.Of(map.Kinds[rng.Next(map.Kinds.Count)]);
        return list[rng.Next(list.Count)];
    }

    private static string ReadCase(BlockDevice device, bool verify, bool content)
    {
        try
        {
            using XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { VerifyChecksums = verify }, leaveOpen: true);
            return SafeWalk(fs, content) ? "walked" : "walked (directory cycle skipped)";
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException)
        {
            return e.GetType().Name;
        }
    }

    private string WriteCase(XfsOverlayDevice device, string what, int seed)
    {
        Dictionary<long, byte[]> before = device.Snapshot();
        XfsFileSystem fs;
        try
        {
            fs = XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true }, leaveOpen: true);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException)
        {
            AssertUnchanged(device, before, seed, what, e);
            return "open refused: " + e.GetType().Name;
        }

        byte[] content = new byte[5000];
        new Random(seed).NextBytes(content);
        Exception? failure = null;
        try
        {
            try
            {
                fs.CreateDirectory("/hostile-dir");
                using (Stream s = fs.OpenFile("/hostile-dir/new.bin", FileMode.CreateNew, FileAccess.Write))
                {
                    s.Write(content);
                }

                fs.SetXattr("/hostile-dir/new.bin", "user.hostile", "value"u8);
                // The builder does not write node-form attributes: delete the file that has them, else the first file.
                if (fs.Exists("/attrs-node"))
                {
                    fs.Delete("/attrs-node");
                }
                else
                {
                    foreach (UnixFileInfo e in fs.EnumerateDirectory("/"))
                    {
                        if (e.Type == UnixFileType.RegularFile)
                        {
                            fs.Delete(e.Path);
                            break;
                        }
                    }
                }

                fs.Flush();
            }
            finally
            {
                fs.Dispose();
            }
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException ||
            (e is IOException && e.Message.StartsWith("No space left", StringComparison.Ordinal)))
        {
            failure = e;
        }

        if (failure is not null)
        {
            AssertUnchanged(device, before, seed, what, failure);
            return "flush refused: " + failure.GetType().Name;
        }

        // Written: the result must be a file system the reader walks without error, holding the change.
        try
        {
            using XfsFileSystem check = XfsFileSystem.Open(device, leaveOpen: true);
            SafeWalk(check, readContent: true);
            using Stream s = check.OpenFile("/hostile-dir/new.bin", FileMode.Open, FileAccess.Read);
            byte[] back = new byte[content.Length];
            s.ReadExactly(back);
            Assert.Equal(content, back);
            Assert.Equal("value"u8.ToArray(), check.GetXattrs("/hostile-dir/new.bin")["user.hostile"]);
        }
        catch (Exception e)
        {
            Assert.Fail($"seed {seed} ({what}): the written file system does not read back: {e}");
        }

        return "written";
    }

    private void AssertUnchanged(XfsOverlayDevice device, Dictionary<long, byte[]> before, int seed, string what, Exception e)
    {
        if (!device.SameAs(before, out long at))
        {
            Assert.Fail($"seed {seed} ({what}): the writer refused ({e.GetType().Name}: {e.Message}) but changed byte {at} of the device.");
        }

        _ = output;
    }

    /// <summary>
    /// Reads everything a caller can (entries, link targets, xattrs, the start and end of file content), visiting each
    /// directory inode once; returns false when a directory was reached twice (a cycle or a directory hard link,
    /// which a path walk cannot tell from a deep tree).
    /// </summary>
    internal static bool SafeWalk(IFileSystem fs, bool readContent)
    {
        bool acyclic = true;
        var seen = new HashSet<long> { fs.GetEntry("/").Inode };
        var pending = new Stack<string>();
        pending.Push("/");
        byte[] buffer = new byte[65536];
        while (pending.TryPop(out string? dir))
        {
            foreach (UnixFileInfo e in fs.EnumerateDirectory(dir))
            {
                fs.GetXattrs(e.Path);
                if (e.Type == UnixFileType.Directory)
                {
                    if (seen.Add(e.Inode))
                    {
                        pending.Push(e.Path);
                    }
                    else
                    {
                        acyclic = false;
                    }
                }
                else if (e.Type == UnixFileType.RegularFile && readContent)
                {
                    using Stream s = fs.OpenFile(e.Path, FileMode.Open, FileAccess.Read);
                    s.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
                    if (s.Length > buffer.Length)
                    {
                        s.Position = s.Length - buffer.Length;
                        s.ReadExactly(buffer);
                    }
                }
            }
        }

        return acyclic;
    }

    private static string Bounded(string kind, int seed, string what, long allocationLimit, Func<string> run)
    {
        Task<(string Outcome, long Allocated)> task = Task.Factory.StartNew(
            () =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                string outcome = run();
                return (outcome, GC.GetAllocatedBytesForCurrentThread() - before);
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        bool finished;
        try
        {
            finished = task.Wait(CaseTimeout);
        }
        catch (AggregateException)
        {
            finished = true;
        }

        if (!finished)
        {
            Assert.Fail($"{kind} seed {seed} ({what}): did not finish in {CaseTimeout.TotalSeconds} s.");
        }

        if (task.IsFaulted)
        {
            Assert.Fail($"{kind} seed {seed} ({what}): {task.Exception!.InnerException}");
        }

        (string outcome, long allocated) = task.Result;
        Assert.True(allocated < allocationLimit, $"{kind} seed {seed} ({what}): {allocated} bytes allocated.");
        return outcome;
    }

    private static void Count(SortedDictionary<string, int> outcomes, string outcome) => outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;

    private static ulong Get(byte[] b, int at, int width)
    {
        ulong v = 0;
        for (int i = 0; i < width; i++)
        {
            v = (v << 8) | b[at + i];
        }

        return v;
    }

    private static void Put(byte[] b, int at, int width, ulong value)
    {
        for (int i = 0; i < width; i++)
        {
            b[at + i] = (byte)(value >> (8 * (width - 1 - i)));
        }
    }

    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : fallback;
}
