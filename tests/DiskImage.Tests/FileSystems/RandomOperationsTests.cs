using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;

namespace DiskImage.Tests.FileSystems;

/// <summary>
/// The randomized operation generator checked on its own: two <see cref="InMemoryFileSystem"/>s driven with the
/// same seed end equal, the sequences are reproducible, and they reach the cases the ext4 tests rely on.
/// </summary>
public sealed class RandomOperationsTests
{
    private readonly Xunit.Abstractions.ITestOutputHelper _output;

    public RandomOperationsTests(Xunit.Abstractions.ITestOutputHelper output) => _output = output;

    public static TheoryData<int> Seeds() => new() { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Run_InMemoryAgainstInMemory_TreesEqual(int seed)
    {
        using var model = new InMemoryFileSystem();
        using var target = new InMemoryFileSystem();
        target.CreateDirectory("/lost+found", (UnixFileMode)0x1C0);
        RandomOperationRunner.Mirror(target, model);
        UnixTime start = UnixTime.Now;
        var runner = new RandomOperationRunner(seed, model);
        runner.Run(target);
        UnixTime end = UnixTime.Now;

        RandomTreeSnapshot expected = RandomTreeSnapshot.FromFileSystem(model);
        RandomTreeSnapshot actual = RandomTreeSnapshot.FromFileSystem(target);
        List<string> diffs = RandomTreeSnapshot.Compare(expected, actual, new RandomTreeCompareOptions { NowWindow = (Widen(start, -2), Widen(end, 2)) });
        Assert.True(diffs.Count == 0, string.Join("\n", diffs) + "\n" + runner.Describe());
        foreach (string line in runner.Log.Where(l => l.Contains(" ms]", StringComparison.Ordinal)))
        {
            _output.WriteLine(line);
        }
    }

    [Fact]
    public void Run_SameSeed_SameOperations()
    {
        string Log(int seed)
        {
            using var model = new InMemoryFileSystem();
            using var target = new InMemoryFileSystem();
            var runner = new RandomOperationRunner(seed, model);
            runner.Run(target);
            return string.Join("\n", runner.Operations); // the log also holds timings
        }

        Assert.Equal(Log(42), Log(42));
        Assert.NotEqual(Log(42), Log(43));
    }

    [Fact]
    public void Run_ManySeeds_CoverEveryOperationKindAndLargeDirectories()
    {
        var kinds = new HashSet<string>(StringComparer.Ordinal);
        int largestDirectory = 0, failures = 0, total = 0;
        for (int seed = 1; seed <= 20; seed++)
        {
            using var model = new InMemoryFileSystem();
            using var target = new InMemoryFileSystem();
            var runner = new RandomOperationRunner(seed, model);
            runner.Run(target);
            foreach (string line in runner.Log)
            {
                kinds.Add(line.Split(' ')[1]);
                failures += line.Contains(" → ", StringComparison.Ordinal) ? 1 : 0;
                total++;
            }

            foreach (RandomTreeSnapshot.Entry e in RandomTreeSnapshot.FromFileSystem(model).Entries.Values)
            {
                if (e.Type == UnixFileType.Directory)
                {
                    largestDirectory = Math.Max(largestDirectory, model.EnumerateDirectory(e.Path).Count());
                }
            }
        }

        foreach (RandomOperationKind k in Enum.GetValues<RandomOperationKind>())
        {
            Assert.Contains(k.ToString(), kinds);
        }

        Assert.True(largestDirectory >= 300, $"largest directory has {largestDirectory} entries");
        Assert.InRange(failures, total / 50, total / 3);
    }

    /// <summary>
    /// The model's own semantics: a write that ends inside a file keeps the bytes after it (POSIX). Fails today:
    /// InMemoryFileStream.Write calls Resize(end), whose shrink branch clears everything after the write's end.
    /// The random tests work around it (RandomOperation.Apply) until the model is fixed.
    /// </summary>
    [Fact]
    public void InMemoryWrite_InsideFile_KeepsBytesAfterTheWrite()
    {
        using var fs = new InMemoryFileSystem();
        using (Stream s = fs.OpenFile("/f", FileMode.CreateNew, FileAccess.Write))
        {
            s.Write(Enumerable.Repeat((byte)0xAA, 100).ToArray());
        }

        using (Stream s = fs.OpenFile("/f", FileMode.Open, FileAccess.ReadWrite))
        {
            s.Write(Enumerable.Repeat((byte)0x55, 10).ToArray());
        }

        byte[] back = new byte[100];
        using (Stream s = fs.OpenFile("/f", FileMode.Open, FileAccess.Read))
        {
            s.ReadExactly(back);
        }

        Assert.Equal(Enumerable.Repeat((byte)0x55, 10).Concat(Enumerable.Repeat((byte)0xAA, 90)).ToArray(), back);
    }

    internal static UnixTime Widen(UnixTime t, int seconds) => new(t.Seconds + seconds, t.Nanoseconds);
}
