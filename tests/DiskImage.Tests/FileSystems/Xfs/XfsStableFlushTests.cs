using System.Globalization;
using System.Runtime.Versioning;
using System.Text.RegularExpressions;
using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.FileSystems.Ext4;
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
            Assert.True(before[path] == after[path], $"{context}: {path} moved:\n before: {Head(before[path])}\n after:  {Head(after[path])}\n{runner.Describe()}");
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

    /// <summary>
    /// A tree the kernel wrote (a btree-mapped file of 600 extents, leaf and node xattrs, a node directory, a remote
    /// symlink, a preallocated file whose extents are unwritten, a reflinked copy): after a flush adding one file every
    /// entry keeps its inode number, the files keep their written extents (unwritten ones become holes; of the reflinked
    /// pair the copy is unshared), xfs_repair is clean and the kernel reads the same tree.
    /// </summary>
    [SkippableFact]
    [Trait("Category", "KernelMount")]
    public void KernelWrittenImage_FlushKeepsInodeNumbersAndExtents()
    {
        Oracle.Require("mkfs.xfs");
        Oracle.Require("xfs_repair");
        Oracle.Require("xfs_db");
        Ext4KernelMount.Require();
        using var temp = new TempDirectory();
        string image = temp.File("k.img");
        XfsTestImages.Format(image, XfsFormatTests.MkfsOptions(XfsFormatProfile.Debian12));
        XfsTestImages.Fill(image, temp.File("rw"), root =>
        {
            var rng = new Random(5);
            using (var frag = new FileStream(Path.Combine(root, "fragmented.bin"), FileMode.CreateNew))
            {
                // One block in every other one: 600 extents, a btree-format block map.
                byte[] block = new byte[4096];
                for (int i = 0; i < 600; i++)
                {
                    rng.NextBytes(block);
                    frag.Position = (long)i * 2 * block.Length;
                    frag.Write(block);
                }
            }

            File.WriteAllBytes(Path.Combine(root, "attrs-leaf"), "leaf attributes\n"u8.ToArray());
            for (int i = 0; i < 20; i++)
            {
                byte[] value = new byte[100];
                rng.NextBytes(value);
                HostFiles.SetXattr(Path.Combine(root, "attrs-leaf"), "user.leaf" + i.ToString(CultureInfo.InvariantCulture), value);
            }

            File.CreateSymbolicLink(Path.Combine(root, "long-link"), string.Join('/', Enumerable.Repeat("component-name", 60)));
            Directory.CreateDirectory(Path.Combine(root, "node-dir"));
            for (int i = 0; i < 3000; i++)
            {
                File.WriteAllBytes(Path.Combine(root, "node-dir", $"entry-{i:D5}-{new string('n', 30)}"), []);
            }
            HostTreeGenerator.Generate(Path.Combine(root, "gen"), 31, new HostTreeShape { BigDirectoryEntries = 300, Post2038Times = false });
            ToolResult f = Oracle.Run("fallocate", ["-l", "1M", Path.Combine(root, "prealloc")], TimeSpan.FromMinutes(1));
            Assert.True(f.ExitCode == 0, f.ToString());
            File.WriteAllBytes(Path.Combine(root, "shared"), new byte[200_000]);
            ToolResult c = Oracle.Run("cp", ["--reflink=always", Path.Combine(root, "shared"), Path.Combine(root, "shared-copy")], TimeSpan.FromMinutes(1));
            Assert.True(c.ExitCode == 0, c.ToString());
        });
        // Regular files (directory, symlink and attribute blocks are metadata, which may move); of the reflinked pair the
        // first keeps the shared extents and the copy is unshared.
        List<string> stay = ["/fragmented.bin", "/attrs-leaf", "/shared", "/node-dir/entry-00007-" + new string('n', 30)];
        Dictionary<string, string> dbBefore = XfsDbView(image, stay);
        RandomTreeSnapshot before = XfsWriteRandomTests.WithoutSgiAclNames(XfsTestImages.KernelSnapshot(image, temp.File("ro1")));
        Dictionary<string, long> inodesBefore;
        long ignored = 0;
        using (XfsFileSystem fs = XfsTestImages.Open(image))
        {
            inodesBefore = InodeNumbers(fs, ref ignored);
        }

        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(image, writable: true), new XfsOpenOptions { Writable = true }))
        {
            using Stream s = fs.OpenFile("/added", FileMode.CreateNew, FileAccess.Write);
            s.Write("from DiskImage\n"u8);
        }

        XfsFormatTests.AssertRepairClean(image);
        Dictionary<string, string> dbAfter = XfsDbView(image, stay);
        foreach (string path in stay)
        {
            Assert.True(dbBefore[path] == dbAfter[path], $"{path} moved:\n before: {Head(dbBefore[path])}\n after:  {Head(dbAfter[path])}");
        }

        using (XfsFileSystem fs = XfsTestImages.Open(image))
        {
            Dictionary<string, long> inodesAfter = InodeNumbers(fs, ref ignored);
            foreach ((string path, long ino) in inodesBefore)
            {
                Assert.True(inodesAfter[path] == ino, $"{path}: inode {ino} became {inodesAfter[path]}");
            }
        }

        RandomTreeSnapshot after = XfsWriteRandomTests.WithoutSgiAclNames(XfsTestImages.KernelSnapshot(image, temp.File("ro2")));
        Assert.True(after.Entries.Remove("/added"));
        before.Entries.Remove("/");
        after.Entries.Remove("/");
        List<string> diffs = RandomTreeSnapshot.Compare(before, after, new RandomTreeCompareOptions());
        Assert.True(diffs.Count == 0, string.Join('\n', diffs));
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

    /// <summary>
    /// For each path, xfs_db's inode number and the written extents of its data-fork block map ("path", "inode", "bmap"
    /// in one run; unwritten extents read as zeros, and a flush may turn them into holes; attribute blocks are metadata).
    /// </summary>
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
            else if (current is not null && line.Length > 0 && !line.EndsWith(" flag 1", StringComparison.Ordinal) && !line.StartsWith("attr ", StringComparison.Ordinal))
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

    private static string Head(string s) => s.Length <= 600 ? s : s[..600] + "...";

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
