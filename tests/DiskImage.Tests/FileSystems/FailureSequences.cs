using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;

namespace DiskImage.Tests.FileSystems;

/// <summary>
/// Operation sequences for the failure-atomicity tests (issue 15, acceptance 2) of every writable file system, and the
/// judgement they share: after a failure in operation <c>f</c>, the tree must equal the model with operations
/// <c>0..f-1</c> applied and operation <c>f</c> applied up to one of its call boundaries.
/// </summary>
public static class FailureSequences
{
    /// <summary>
    /// Applies <paramref name="ops"/> to <paramref name="fs"/> in order until a step throws <see cref="IOException"/>;
    /// returns the failed operation's index (or -1) and the exception. The file system is left open.
    /// </summary>
    public static int ApplyUntilFailure(IFileSystem fs, List<FailureOp> ops, FailureOpContext context, out Exception? error)
    {
        error = null;
        for (int i = 0; i < ops.Count; i++)
        {
            foreach (Action<IFileSystem, FailureOpContext> step in ops[i].Steps)
            {
                try
                {
                    step(fs, context);
                }
                catch (IOException e)
                {
                    error = e;
                    return i;
                }
            }
        }

        return -1;
    }

    /// <summary>A short sequence touching every kind of metadata: directories, files, xattrs, links, renames, deletes.</summary>
    public static List<FailureOp> Mixed(int seed)
    {
        var random = new Random(seed);
        byte[] Bytes(int n)
        {
            byte[] b = new byte[n];
            random.NextBytes(b);
            return b;
        }

        byte[] xattr = Bytes(random.Next(100, 600));
        byte[] appended = Bytes(random.Next(1, 9000));
        return
        [
            new("mkdir /a", [(fs, _) => fs.CreateDirectory("/a")]),
            CreateFile("/a/f1", random.Next(1, 30_000), random.Next()),
            CreateFile("/b", random.Next(5000, 60_000), random.Next()),
            new("setxattr /a/f1", [(fs, _) => fs.SetXattr("/a/f1", "user.x", xattr)]),
            new("mkdir /a/sub", [(fs, _) => fs.CreateDirectory("/a/sub")]),
            new("symlink /a/sub/l", [(fs, _) => fs.CreateSymbolicLink("/a/sub/l", "/" + new string('t', 90))]),
            new("link /h", [(fs, _) => fs.CreateHardLink("/h", "/b")]),
            new("rename /a/f1", [(fs, _) => fs.Rename("/a/f1", "/a/sub/f1")]),
            new("truncate /b",
            [
                (fs, c) => c.Stream = fs.OpenFile("/b", FileMode.Open, FileAccess.Write),
                (fs, c) => c.Stream!.SetLength(1000),
                (fs, c) => c.Close(),
            ]),
            new("append /a/sub/f1",
            [
                (fs, c) => c.Stream = fs.OpenFile("/a/sub/f1", FileMode.Append, FileAccess.Write),
                (fs, c) => c.Stream!.Write(appended),
                (fs, c) => c.Close(),
            ]),
            new("chmod /a", [(fs, _) => fs.SetMode("/a", (UnixFileMode)0x1C0)]),
            new("delete /h", [(fs, _) => fs.Delete("/h")]),
            new("delete /b", [(fs, _) => fs.Delete("/b")]),
            new("rename /a/sub", [(fs, _) => fs.Rename("/a/sub", "/s")]),
            new("removexattr", [(fs, _) => fs.RemoveXattr("/s/f1", "user.x")]),
        ];
    }

    /// <summary>Creates <paramref name="path"/> with <paramref name="length"/> seeded random bytes (open, write, close).</summary>
    public static FailureOp CreateFile(string path, int length, int dataSeed)
    {
        byte[] data = new byte[length];
        new Random(dataSeed).NextBytes(data);
        return new FailureOp($"create {path} ({length} bytes)",
        [
            (fs, c) => c.Stream = fs.OpenFile(path, FileMode.CreateNew, FileAccess.Write),
            (fs, c) => c.Stream!.Write(data),
            (fs, c) => c.Close(),
        ]);
    }

    /// <summary>
    /// The states the tree may be in after a failure in operation <paramref name="failedOp"/> (-1: none; past the end:
    /// the final commit): the model started from <paramref name="start"/> with every earlier operation applied, then after
    /// each call of the failed one.
    /// </summary>
    public static List<RandomTreeSnapshot> Candidates(IFileSystem start, List<FailureOp> ops, int failedOp)
    {
        using var model = new InMemoryFileSystem();
        RandomOperationRunner.Mirror(start, model);
        var context = new FailureOpContext();
        int upTo = failedOp < 0 ? ops.Count : Math.Min(failedOp, ops.Count);
        for (int i = 0; i < upTo; i++)
        {
            foreach (Action<IFileSystem, FailureOpContext> step in ops[i].Steps)
            {
                step(model, context);
            }
        }

        var candidates = new List<RandomTreeSnapshot> { Snapshot(model, context) };
        if (failedOp >= 0 && failedOp < ops.Count)
        {
            foreach (Action<IFileSystem, FailureOpContext> step in ops[failedOp].Steps)
            {
                step(model, context);
                candidates.Add(Snapshot(model, context));
            }
        }

        context.Stream?.Dispose();
        return candidates;
    }

    /// <summary>Fails unless <paramref name="actual"/> equals one of <paramref name="candidates"/>; shows the closest.</summary>
    public static void AssertMatchesOne(List<RandomTreeSnapshot> candidates, RandomTreeSnapshot actual, RandomTreeCompareOptions options, string what)
    {
        List<string>? best = null;
        foreach (RandomTreeSnapshot candidate in candidates)
        {
            List<string> diffs = RandomTreeSnapshot.Compare(candidate, actual, options);
            if (diffs.Count == 0)
            {
                return;
            }

            best = best is null || diffs.Count < best.Count ? diffs : best;
        }

        Assert.Fail($"{what}: the tree read back is no model state:\n  {string.Join("\n  ", best!)}");
    }

    /// <summary>The model's tree as it would be after the open stream (if any) is closed.</summary>
    private static RandomTreeSnapshot Snapshot(InMemoryFileSystem model, FailureOpContext context)
    {
        context.Stream?.Flush();
        return RandomTreeSnapshot.FromFileSystem(model);
    }
}
