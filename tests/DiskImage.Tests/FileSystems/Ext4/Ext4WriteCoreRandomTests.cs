using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Random sequences of file writes, truncations, creations, renames and deletions applied to ext4 and to
/// <see cref="InMemoryFileSystem"/>; after each sequence e2fsck -fn must be clean and the trees equal.
/// </summary>
public sealed class Ext4WriteCoreRandomTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    public static TheoryData<int, string> Seeds()
    {
        var data = new TheoryData<int, string>();
        string[] kinds = ["format", "mkfs-1k", "mkfs-ext3", "mkfs-nocsum"];
        for (int seed = 1; seed <= 12; seed++)
        {
            data.Add(seed, kinds[seed % kinds.Length]);
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Seeds))]
    public void RandomOperations_MatchInMemoryAndE2fsckClean(int seed, string kind)
    {
        Oracle.Require("e2fsck");
        string image = _temp.File($"r{seed}.img");
        if (kind == "format")
        {
            using FileBlockDevice d = FileBlockDevice.Create(image, 64L << 20);
            Ext4FileSystem.Format(d, new Ext4FormatOptions { BlockSize = seed % 2 == 0 ? 1024 : 4096 });
        }
        else
        {
            string[] opts = kind switch
            {
                "mkfs-1k" => ["-t", "ext4", "-b", "1024"],
                "mkfs-ext3" => ["-t", "ext3"],
                _ => ["-t", "ext4", "-O", "^metadata_csum,^64bit"],
            };
            Oracle.RunOk("mke2fs", [.. new[] { "-q", "-F" }, .. opts, image, "64M"]);
        }

        var model = new InMemoryFileSystem();
        var rng = new Random(seed);
        using (Ext4FileSystem fs = Ext4FileSystem.Open(FileBlockDevice.Open(image, writable: true), new Ext4OpenOptions { Writable = true }))
        {
            if (fs.Exists("/lost+found"))
            {
                model.CreateDirectory("/lost+found", (UnixFileMode)0x1C0);
            }

            var log = new List<string>();
            for (int step = 0; step < 250; step++)
            {
                string op = Apply(rng, model, fs);
                log.Add(op);
                if (step % 25 != 24)
                {
                    continue;
                }

                try
                {
                    Compare(model, fs, "/");
                }
                catch (Exception e)
                {
                    fs.Flush();
                    ToolResult fsck = Oracle.Run("e2fsck", "-fn", image);
                    throw new InvalidOperationException($"seed {seed} ({kind}), step {step}: {op}: {e.Message}\n{string.Join("\n", log.TakeLast(8))}\n{fsck.StandardOutput}", e);
                }
            }
        }

        ToolResult r = Oracle.Run("e2fsck", "-fn", image);
        Assert.True(r.ExitCode == 0, $"seed {seed} ({kind}): e2fsck -fn exited {r.ExitCode}\n{r.StandardOutput}");
        using (Ext4FileSystem fs = Ext4FileSystem.Open(FileBlockDevice.Open(image)))
        {
            Compare(model, fs, "/");
        }
    }

    private static string Apply(Random rng, IFileSystem model, IFileSystem fs)
    {
        List<UnixFileInfo> all = [];
        Walk(model, "/", all);
        var files = all.Where(e => e.Type == UnixFileType.RegularFile).ToList();
        var dirs = all.Where(e => e.Type == UnixFileType.Directory && e.Path != "/lost+found").Select(e => e.Path).Prepend("/").ToList();
        string dir = dirs[rng.Next(dirs.Count)];
        string newName = FileSystemPath.Combine(dir, "n" + rng.Next(1000));
        int choice = rng.Next(100);
        string op;
        if (choice < 30 || files.Count == 0)
        {
            long offset = rng.Next(4) == 0 ? rng.Next(3_000_000) : rng.Next(20_000);
            int length = rng.Next(3) == 0 ? rng.Next(300_000) : rng.Next(9000);
            string path = files.Count > 0 && rng.Next(2) == 0 ? files[rng.Next(files.Count)].Path : newName;
            byte[] data = Ext4WriteCoreTests.Pattern(length, rng.Next());
            op = $"write {path} @{offset} +{length}";
            Both(model, fs, f =>
            {
                using Stream s = f.OpenFile(path, FileMode.OpenOrCreate, FileAccess.ReadWrite);
                if (f is InMemoryFileSystem && offset + data.Length < s.Length)
                {
                    // InMemoryFileStream clears the bytes after a write that ends before the end of the file;
                    // the model rewrites the whole content instead.
                    byte[] whole = new byte[s.Length];
                    s.ReadExactly(whole);
                    data.CopyTo(whole, offset);
                    s.Position = 0;
                    s.Write(whole);
                    return;
                }

                s.Position = offset;
                s.Write(data);
            });
        }
        else if (choice < 45)
        {
            string path = files[rng.Next(files.Count)].Path;
            long length = rng.Next(3) == 0 ? rng.Next(2_000_000) : rng.Next(10_000);
            op = $"setlength {path} {length}";
            Both(model, fs, f =>
            {
                using Stream s = f.OpenFile(path, FileMode.Open, FileAccess.Write);
                s.SetLength(length);
            });
        }
        else if (choice < 55)
        {
            string path = files[rng.Next(files.Count)].Path;
            op = $"delete {path}";
            Both(model, fs, f => f.Delete(path));
        }
        else if (choice < 65)
        {
            op = $"mkdir {newName}";
            Both(model, fs, f => f.CreateDirectory(newName));
        }
        else if (choice < 70 && dirs.Count > 1)
        {
            string path = dirs[1 + rng.Next(dirs.Count - 1)];
            op = $"rmdir {path}";
            Both(model, fs, f => f.Delete(path));
        }
        else if (choice < 82)
        {
            string from = all.Count > 0 && rng.Next(4) != 0 ? all[rng.Next(all.Count)].Path : "/";
            string to = rng.Next(3) == 0 && all.Count > 0 ? all[rng.Next(all.Count)].Path : newName;
            op = $"rename {from} {to}";
            Both(model, fs, f => f.Rename(from, to));
        }
        else if (choice < 88)
        {
            string target = rng.Next(2) == 0 ? "t" + rng.Next(100) : new string('s', 60 + rng.Next(200));
            op = $"symlink {newName}";
            Both(model, fs, f => f.CreateSymbolicLink(newName, target));
        }
        else if (choice < 94)
        {
            string existing = files[rng.Next(files.Count)].Path;
            op = $"link {newName} {existing}";
            Both(model, fs, f => f.CreateHardLink(newName, existing));
        }
        else
        {
            string path = all.Count > 0 ? all[rng.Next(all.Count)].Path : "/";
            int mode = rng.Next(0x1000);
            op = $"chmod {path}";
            Both(model, fs, f => f.SetMode(path, (UnixFileMode)mode));
        }

        return op;
    }

    /// <summary>Runs an operation on both; they must both succeed or both throw the same exception type.</summary>
    private static void Both(IFileSystem model, IFileSystem fs, Action<IFileSystem> action)
    {
        Exception? expected = null;
        try
        {
            action(model);
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            expected = e;
        }

        Exception? actual = null;
        try
        {
            action(fs);
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            actual = e;
        }

        Assert.True(expected?.GetType() == actual?.GetType(), $"model threw {expected?.GetType().Name ?? "nothing"} ({expected?.Message}), ext4 threw {actual?.GetType().Name ?? "nothing"} ({actual?.Message})");
    }

    private static void Walk(IFileSystem fs, string dir, List<UnixFileInfo> into)
    {
        foreach (UnixFileInfo e in fs.EnumerateDirectory(dir))
        {
            into.Add(e);
            if (e.Type == UnixFileType.Directory)
            {
                Walk(fs, e.Path, into);
            }
        }
    }

    private static void Compare(IFileSystem model, IFileSystem fs, string dir)
    {
        var expected = model.EnumerateDirectory(dir).ToDictionary(e => e.Path, StringComparer.Ordinal);
        var actual = fs.EnumerateDirectory(dir).ToDictionary(e => e.Path, StringComparer.Ordinal);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach ((string path, UnixFileInfo m) in expected)
        {
            UnixFileInfo a = actual[path];
            Assert.True(m.Type == a.Type, $"{path}: type");
            Assert.True(m.Mode == a.Mode, $"{path}: mode {a.Mode:X} vs {m.Mode:X}");
            Assert.True(m.LinkCount == a.LinkCount, $"{path}: links {a.LinkCount} vs {m.LinkCount}");
            Assert.True(m.LinkTarget == a.LinkTarget, $"{path}: link target");
            if (m.Type == UnixFileType.RegularFile)
            {
                Assert.True(m.Size == a.Size, $"{path}: size {a.Size} vs {m.Size}");
                byte[] me = ReadAll(model, path);
                byte[] ae = ReadAll(fs, path);
                int diff = me.AsSpan().CommonPrefixLength(ae);
                Assert.True(diff == me.Length && me.Length == ae.Length, $"{path}: content differs at {diff} (lengths {me.Length}, {ae.Length})");
            }
            else if (m.Type == UnixFileType.Directory)
            {
                Compare(model, fs, path);
            }
        }
    }

    private static byte[] ReadAll(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }
}
