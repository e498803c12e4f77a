using System.Collections.Concurrent;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Thread safety (issue 15): one <see cref="Ext4FileSystem"/> used by several threads at once. Every public call of
/// the file system and of its streams is serialized, so concurrent creates, writes and deletes neither throw nor
/// corrupt the allocation state (judged by <c>e2fsck -fn</c>, e2fsprogs 1.47), and readers see whole files while a
/// writer writes.
/// </summary>
public sealed class Ext4ConcurrencyTests : IDisposable
{
    private const int Threads = 4;
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [SkippableTheory]
    [InlineData(1, 4096)]
    [InlineData(2, 1024)]
    public void ConcurrentCreateWriteDelete_NoExceptionFsckCleanTreeAsExpected(int seed, int blockSize)
    {
        Oracle.Require("e2fsck");
        const int perThread = 120;
        byte[] image = new byte[96 << 20];
        var expected = new ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal);
        var errors = new ConcurrentQueue<string>();
        using (var device = new MemoryBlockDevice(image))
        {
            Ext4FileSystem.Format(device, new Ext4FormatOptions { BlockSize = blockSize });
            using Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }, leaveOpen: true);
            using var start = new Barrier(Threads);
            var threads = new Thread[Threads];
            for (int t = 0; t < Threads; t++)
            {
                int id = t;
                threads[t] = new Thread(() =>
                {
                    try
                    {
                        start.SignalAndWait();
                        Worker(fs, id, seed, perThread, expected);
                    }
                    catch (Exception e)
                    {
                        errors.Enqueue($"thread {id}: {e}");
                    }
                });
                threads[t].Start();
            }

            foreach (Thread thread in threads)
            {
                thread.Join();
            }
        }

        Assert.True(errors.IsEmpty, $"seed {seed}: {string.Join("\n", errors)}");
        string path = _temp.File("concurrent.img");
        File.WriteAllBytes(path, image);
        ToolResult fsck = Oracle.Run("e2fsck", "-fn", path);
        Assert.True(fsck.ExitCode == 0, $"seed {seed}: {fsck}");

        using var reopened = new MemoryBlockDevice(image, writable: false);
        using Ext4FileSystem check = Ext4FileSystem.Open(reopened);
        var actual = new SortedSet<string>(StringComparer.Ordinal);
        for (int t = 0; t < Threads; t++)
        {
            foreach (UnixFileInfo e in check.EnumerateDirectory($"/t{t}"))
            {
                actual.Add(e.Path);
            }
        }

        Assert.Equal(new SortedSet<string>(expected.Keys, StringComparer.Ordinal), actual);
        foreach (KeyValuePair<string, byte[]> kv in expected)
        {
            Assert.True(kv.Value.AsSpan().SequenceEqual(ReadAll(check, kv.Key)), $"seed {seed}: content of {kv.Key}");
        }
    }

    [Fact]
    public void ReadersWhileWriterWrites_ReadersSeeWholeFilesAndNoException()
    {
        byte[] image = new byte[64 << 20];
        using var device = new MemoryBlockDevice(image);
        Ext4FileSystem.Format(device, new Ext4FormatOptions());
        using Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }, leaveOpen: true);
        byte[] stable = Data(7, 200_000);
        using (Stream s = fs.OpenFile("/stable", FileMode.CreateNew, FileAccess.Write))
        {
            s.Write(stable);
        }

        var errors = new ConcurrentQueue<string>();
        int writerDone = 0;
        var writer = new Thread(() =>
        {
            try
            {
                fs.CreateDirectory("/w");
                for (int i = 0; i < 150; i++)
                {
                    byte[] data = Data(i, 3000 + (i * 97 % 40_000));
                    using (Stream s = fs.OpenFile($"/w/f{i}", FileMode.CreateNew, FileAccess.Write))
                    {
                        for (int off = 0; off < data.Length; off += 4000)
                        {
                            s.Write(data, off, Math.Min(4000, data.Length - off));
                        }
                    }

                    if (i % 4 == 3)
                    {
                        fs.Delete($"/w/f{i - 2}");
                    }
                }
            }
            catch (Exception e)
            {
                errors.Enqueue($"writer: {e}");
            }
            finally
            {
                Volatile.Write(ref writerDone, 1);
            }
        });
        var readers = new Thread[3];
        for (int r = 0; r < readers.Length; r++)
        {
            int id = r;
            readers[r] = new Thread(() =>
            {
                try
                {
                    while (Volatile.Read(ref writerDone) == 0)
                    {
                        if (!stable.AsSpan().SequenceEqual(ReadAll(fs, "/stable")))
                        {
                            errors.Enqueue($"reader {id}: /stable read wrong bytes");
                        }

                        foreach (UnixFileInfo e in fs.EnumerateDirectory("/"))
                        {
                            _ = fs.Exists(e.Path) ? fs.GetEntry(e.Path) : null;
                        }

                        _ = fs.Exists("/w") ? fs.EnumerateDirectory("/w") : null;
                    }
                }
                catch (Exception e)
                {
                    errors.Enqueue($"reader {id}: {e}");
                }
            });
        }

        writer.Start();
        foreach (Thread reader in readers)
        {
            reader.Start();
        }

        writer.Join();
        foreach (Thread reader in readers)
        {
            reader.Join();
        }

        Assert.True(errors.IsEmpty, string.Join("\n", errors));
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (UnixFileInfo e in fs.EnumerateDirectory("/w"))
        {
            names.Add(e.Name);
        }

        var want = new SortedSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < 150; i++)
        {
            if (!(i % 4 == 1 && i + 2 < 150))
            {
                want.Add($"f{i}");
            }
        }

        Assert.Equal(want, names);
        foreach (string name in want)
        {
            int i = int.Parse(name.AsSpan(1), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(Data(i, 3000 + (i * 97 % 40_000)).AsSpan().SequenceEqual(ReadAll(fs, "/w/" + name)), name);
        }
    }

    /// <summary>One thread's work in its own directory: creates, writes in pieces, appends, truncates, deletes.</summary>
    private static void Worker(Ext4FileSystem fs, int id, int seed, int count, ConcurrentDictionary<string, byte[]> expected)
    {
        var random = new Random((seed * 1000) + id);
        string dir = $"/t{id}";
        fs.CreateDirectory(dir);
        var mine = new List<string>();
        for (int i = 0; i < count; i++)
        {
            string path = $"{dir}/f{i}";
            byte[] data = Data(random.Next(), random.Next(0, 24_000));
            using (Stream s = fs.OpenFile(path, FileMode.CreateNew, FileAccess.Write))
            {
                int off = 0;
                while (off < data.Length)
                {
                    int n = Math.Min(data.Length - off, random.Next(1, 9000));
                    s.Write(data, off, n);
                    off += n;
                }
            }

            expected[path] = data;
            mine.Add(path);
            int action = random.Next(6);
            if (action == 0 && mine.Count > 1)
            {
                string victim = mine[random.Next(mine.Count)];
                fs.Delete(victim);
                expected.TryRemove(victim, out _);
                mine.Remove(victim);
            }
            else if (action == 1)
            {
                string target = mine[random.Next(mine.Count)];
                byte[] more = Data(random.Next(), random.Next(1, 6000));
                using (Stream s = fs.OpenFile(target, FileMode.Append, FileAccess.Write))
                {
                    s.Write(more);
                }

                expected[target] = [.. expected[target], .. more];
            }
            else if (action == 2)
            {
                string target = mine[random.Next(mine.Count)];
                int length = random.Next(0, expected[target].Length + 1);
                using (Stream s = fs.OpenFile(target, FileMode.Open, FileAccess.Write))
                {
                    s.SetLength(length);
                }

                expected[target] = expected[target][..length];
            }
            else if (action == 3)
            {
                _ = fs.GetEntry(mine[random.Next(mine.Count)]);
                _ = fs.EnumerateDirectory(dir);
            }
        }
    }

    private static byte[] ReadAll(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        var copy = new MemoryStream();
        s.CopyTo(copy);
        return copy.ToArray();
    }

    private static byte[] Data(int seed, int length)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}
