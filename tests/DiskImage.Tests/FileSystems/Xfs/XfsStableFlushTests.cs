using System.Globalization;
using System.Runtime.Versioning;
using System.Text.RegularExpressions;
using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// A flush keeps what did not change where it is: after seeded random sequences on images of every
/// <see cref="XfsRandomImageKind"/> (mkfs.xfs of each profile, our Format), the files of a directory the sequence never
/// touches keep their inode numbers and their data blocks as <c>xfs_db</c> reports them, <c>xfs_repair -n</c> is clean
/// and the tree equals the model; and a one-file injection into the debootstrap image writes a few hundred KiB, not
/// the used space.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed partial class XfsStableFlushTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Stable = "/stable";

    public static TheoryData<string, int> Kinds()
    {
        var data = new TheoryData<string, int>();
        foreach (XfsRandomImageKind kind in XfsRandomImageKind.All)
        {
            data.Add(kind.Name, 1);
            data.Add(kind.Name, 2);
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Kinds))]
    public void RandomSequence_UntouchedFilesKeepInodeNumbersAndBlocks(string kindName, int seed)
    {
        Oracle.Require("xfs_repair");
        Oracle.Require("xfs_db");
        XfsRandomImageKind kind = XfsRandomImageKind.ByName(kindName);
        seed += kind.SeedBase + 700;
        using var temp = new TempDirectory();
        string image = temp.File("image");
        kind.CopyTemplate(image);
        string context = $"{kind.Name}, seed {seed}";

        // Session 1: the files that stay (small, multi-block, sparse, hard-linked, with xattrs), plus a first random tree.
        var model = new InMemoryFileSystem();
        var rng = new Random(seed);
        var stablePaths = new List<string>();
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true }))
        {
            fs.CreateDirectory(Stable);
            fs.CreateDirectory(Stable + "/sub");
            for (int i = 0; i < 24; i++)
            {
                string path = $"{Stable}/{(i % 3 == 0 ? "sub/" : "")}f{i}";
                byte[] data = new byte[i % 4 == 0 ? rng.Next(1, 100) : rng.Next(1, 300_000)];
                rng.NextBytes(data);
                using (Stream s = fs.OpenFile(path, FileMode.CreateNew, FileAccess.Write))
                {
                    s.Write(data);
                    if (i % 5 == 1)
                    {
                        s.Position = data.Length + (5 << 20);
                        s.Write(data.AsSpan(0, Math.Min(data.Length, 9000)));
                    }
                }

                if (i % 6 == 2)
                {
                    fs.SetXattr(path, "user.keep", data.AsSpan(0, Math.Min(data.Length, 40)));
                }

                stablePaths.Add(path);
            }

            fs.CreateHardLink(Stable + "/link", Stable + "/f1");
            fs.CreateSymbolicLink(Stable + "/sym", "f2");
            stablePaths.AddRange([Stable + "/sub", Stable + "/sym", Stable]);
            var firstModel = new InMemoryFileSystem();
            var first = new RandomOperationRunner(seed, firstModel, Options(kind));
            RandomOperationRunner.Mirror(fs, firstModel);
            first.Run(fs);
        }

        Dictionary<string, string> before = XfsDbView(image, stablePaths);
        var runner = new RandomOperationRunner(seed + 1, model, Options(kind));
        UnixTime start = UnixTime.Now;
        try
        {
            using FileBlockDevice device = FileBlockDevice.Open(image, writable: true);
            using XfsFileSystem fs = XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true });
            RandomOperationRunner.Mirror(fs, model);
            runner.Run(fs);
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            Assert.Fail($"{context}: {e}\n{runner.Describe()}");
        }

        UnixTime end = UnixTime.Now;
        output.WriteLine($"{context}: {runner.Log.Count} operations");
        ToolResult repair = Oracle.Run("xfs_repair", ["-n", "-f", image], TimeSpan.FromMinutes(5));
        Assert.True(repair.ExitCode == 0, $"{context}: xfs_repair -n: {repair}\n{runner.Describe()}");
        using (XfsFileSystem back = XfsFileSystem.Open(FileBlockDevice.Open(image)))
        {
            List<string> diffs = RandomTreeSnapshot.Compare(RandomTreeSnapshot.FromFileSystem(model),
                XfsWriteRandomTests.WithoutSgiAclNames(RandomTreeSnapshot.FromFileSystem(back)),
                new RandomTreeCompareOptions { NowWindow = (new UnixTime(start.Seconds - 2, 0), new UnixTime(end.Seconds + 2, 0)) });
            Assert.True(diffs.Count == 0, $"{context}: the tree differs from the model:\n{string.Join('\n', diffs)}\n{runner.Describe()}");
        }

        // The untouched entries: same inode numbers and, for files, the same extents (xfs_db's view of the device).
        Dictionary<string, string> after = XfsDbView(image, stablePaths);
        foreach (string path in stablePaths)
        {
            Assert.True(before[path] == after[path], $"{context}: {path} moved:\n before: {before[path]}\n after:  {after[path]}\n{runner.Describe()}");
        }
    }

    /// <summary>
    /// One 22-byte file injected into <c>/etc</c> of the debootstrap image (hundreds of MiB used): what reaches the device
    /// is the new inode's chunk piece, <c>/etc</c>'s directory blocks, the new data block and the AG headers and btrees —
    /// well under 1 MiB — and every other entry keeps its inode number.
    /// </summary>
    [SkippableFact]
    public void InjectOneFile_DebootstrapImage_WritesLittleAndKeepsInodeNumbers()
    {
        Oracle.Require("xfs_repair");
        string tree = Fixtures.RequireDebootstrapTree();
        using var temp = new TempDirectory();
        string image = XfsBuildTests.BuildImage(tree, temp.File("debian.img"), XfsBuildTests.Options(extraPercent: 10));
        Dictionary<string, long> inodesBefore;
        long used = 0;
        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image)))
        {
            inodesBefore = InodeNumbers(fs, ref used);
        }

        var counting = new CountingDevice(FileBlockDevice.Open(image, writable: true));
        using (XfsFileSystem fs = XfsFileSystem.Open(counting, new XfsOpenOptions { Writable = true }))
        {
            using (Stream s = fs.OpenFile("/etc/resolv.conf.injected", FileMode.CreateNew, FileAccess.Write))
            {
                s.Write("nameserver 192.0.2.53\n"u8);
            }

            // Only the flush counts (opening reads every inode and directory to load the tree).
            counting.Reset();
            fs.Flush();
        }

        output.WriteLine($"{used} bytes of file content; the flush wrote {counting.BytesWritten} bytes in {counting.Writes} writes and read {counting.BytesRead} bytes");
        XfsFormatTests.AssertRepairClean(image);
        Assert.True(used > 100L << 20, $"the image uses only {used} bytes");
        Assert.True(counting.BytesWritten < 1L << 20, $"a one-file injection wrote {counting.BytesWritten} bytes");
        Assert.True(counting.BytesRead < used / 8, $"a one-file injection read {counting.BytesRead} bytes of {used} used");
        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image)))
        {
            long ignored = 0;
            Dictionary<string, long> inodesAfter = InodeNumbers(fs, ref ignored);
            Assert.Equal(inodesBefore.Count + 1, inodesAfter.Count);
            foreach ((string path, long ino) in inodesBefore)
            {
                Assert.True(inodesAfter[path] == ino, $"{path}: inode {ino} became {inodesAfter[path]}");
            }
        }
    }

    private static RandomOperationOptions Options(XfsRandomImageKind kind)
    {
        RandomOperationOptions o = kind.GeneratorOptions;
        return new RandomOperationOptions
        {
            NanosecondTimes = o.NanosecondTimes, MinSeconds = o.MinSeconds, MaxSeconds = o.MaxSeconds, XattrBlockBudget = o.XattrBlockBudget,
            BulkEntries = 200, MaxFileSize = 1 << 20, MaxDeviceMajor = o.MaxDeviceMajor, MaxDeviceMinor = o.MaxDeviceMinor,
            MinOperations = 20, MaxOperations = 60, Protected = ["/lost+found", Stable],
        };
    }

    private static Dictionary<string, long> InodeNumbers(XfsFileSystem fs, ref long fileBytes)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal) { ["/"] = fs.GetEntry("/").Inode };
        var pending = new Stack<string>();
        pending.Push("/");
        while (pending.Count > 0)
        {
            foreach (UnixFileInfo e in fs.EnumerateDirectory(pending.Pop()))
            {
                result[e.Path] = e.Inode;
                fileBytes += e.Type == UnixFileType.RegularFile ? e.Size : 0;
                if (e.Type == UnixFileType.Directory)
                {
                    pending.Push(e.Path);
                }
            }
        }

        return result;
    }

    /// <summary>For each path, xfs_db's inode number and data-fork block map ("path", "inode", "bmap" in one run).</summary>
    private static Dictionary<string, string> XfsDbView(string image, List<string> paths)
    {
        var args = new List<string> { "-r" };
        foreach (string p in paths)
        {
            args.AddRange(["-c", "echo @@ " + p, "-c", "path " + p, "-c", "inode", "-c", "bmap"]);
        }

        args.Add(image);
        ToolResult r = Oracle.Run("xfs_db", args, TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, r.ToString());
        var view = new Dictionary<string, string>(StringComparer.Ordinal);
        string? current = null;
        foreach (string line in r.StandardOutput.Split('\n'))
        {
            if (line.StartsWith("@@ ", StringComparison.Ordinal))
            {
                current = line[3..].TrimEnd();
                view[current] = "";
            }
            else if (current is not null && line.Length > 0)
            {
                view[current] += line + "; ";
            }
        }

        foreach (string p in paths)
        {
            Assert.True(view.TryGetValue(p, out string? v) && InodeLine().IsMatch(v), $"xfs_db did not resolve {p}: {r}");
        }

        return view;
    }

    [GeneratedRegex("current inode number is [0-9]+")]
    private static partial Regex InodeLine();

    /// <summary>Counts the bytes read from and written to a device.</summary>
    private sealed class CountingDevice(BlockDevice inner) : BlockDevice
    {
        public long BytesWritten { get; private set; }

        public long BytesRead { get; private set; }

        public int Writes { get; private set; }

        public void Reset() => (BytesWritten, BytesRead, Writes) = (0, 0, 0);

        public override long Length => inner.Length;

        public override bool CanWrite => inner.CanWrite;

        protected override void ReadCore(long offset, Span<byte> buffer)
        {
            BytesRead += buffer.Length;
            inner.ReadExactly(offset, buffer);
        }

        protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer)
        {
            BytesWritten += buffer.Length;
            Writes++;
            inner.Write(offset, buffer);
        }

        protected override void WriteZeroesCore(long offset, long length)
        {
            BytesWritten += length;
            Writes++;
            inner.WriteZeroes(offset, length);
        }

        protected override void FlushCore() => inner.Flush();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
