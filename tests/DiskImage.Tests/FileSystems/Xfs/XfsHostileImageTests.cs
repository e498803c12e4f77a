using System.Buffers.Binary;
using System.Diagnostics;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>One kernel-filled XFS image for the hostile-image tests, built once, and where its metadata lies.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class XfsHostileFixture : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly Lazy<(byte[] Image, List<(long Offset, int Length)> Metadata)> _image;

    public XfsHostileFixture()
    {
        _image = new(() =>
        {
            string image = _temp.File("hostile.img");
            XfsTestImages.Format(image);
            XfsTestImages.Fill(image, _temp.File("rw"), root =>
            {
                HostTreeGenerator.Generate(root, 7, new HostTreeShape { BigDirectoryEntries = 200 });
                XfsTestImages.AddXfsStructures(root, 7, deepBtree: false);
            });
            byte[] bytes = File.ReadAllBytes(image);

            // Every range the reader touches while walking the tree (not file contents): the metadata.
            var recorder = new RecordingDevice(new MemoryBlockDevice(bytes, writable: false));
            using (XfsFileSystem fs = XfsFileSystem.Open(recorder, leaveOpen: true))
            {
                XfsHostileImageTests.Walk(fs, readContent: false);
            }

            return (bytes, recorder.Reads);
        });
    }

    public byte[] Image => _image.Value.Image;

    public List<(long Offset, int Length)> Metadata => _image.Value.Metadata;

    public void Dispose() => _temp.Dispose();

    /// <summary>Passes reads through and remembers where they were.</summary>
    private sealed class RecordingDevice(BlockDevice inner) : BlockDevice
    {
        public List<(long Offset, int Length)> Reads { get; } = [];

        public override long Length => inner.Length;

        public override bool CanWrite => false;

        protected override void ReadCore(long offset, Span<byte> buffer)
        {
            Reads.Add((offset, buffer.Length));
            inner.ReadExactly(offset, buffer);
        }

        protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => throw new NotSupportedException();

        protected override void FlushCore()
        {
        }
    }
}

/// <summary>
/// Hostile XFS images (issue acceptance 5): seeded bit flips and field-sized overwrites of every
/// metadata range the reader uses (with and without CRC verification, so the parsers are reached), and
/// crafted superblock, inode, fork, btree and directory damage, must give <see cref="InvalidDataException"/>
/// or <see cref="NotSupportedException"/>: never another exception, a hang or a huge allocation.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class XfsHostileImageTests(XfsHostileFixture fixture) : IClassFixture<XfsHostileFixture>
{
    private const int Mutations = 600;
    private static readonly XfsOpenOptions NoChecksums = new() { VerifyChecksums = false };
    private static readonly ulong[] Interesting = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, ulong.MaxValue, 1UL << 40];

    /// <summary>Reads everything a caller can: entries, link targets, xattrs and (optionally) every file's bytes.</summary>
    internal static int Walk(IFileSystem fs, bool readContent)
    {
        int count = 0;
        var pending = new Stack<string>();
        pending.Push("/");
        fs.GetEntry("/");
        byte[] buffer = new byte[65536];
        while (pending.TryPop(out string? dir))
        {
            foreach (UnixFileInfo e in fs.EnumerateDirectory(dir))
            {
                count++;
                fs.GetXattrs(e.Path);
                if (e.Type == UnixFileType.Directory)
                {
                    pending.Push(e.Path);
                }
                else if (e.Type == UnixFileType.RegularFile)
                {
                    // A corrupt size may legitimately describe exabytes of hole: read the first 16 MiB and the last block.
                    using Stream s = fs.OpenFile(e.Path, FileMode.Open, FileAccess.Read);
                    for (long done = 0; readContent && done < 16 << 20;)
                    {
                        int n = s.Read(buffer);
                        done += n == 0 ? long.MaxValue : n;
                    }

                    if (readContent && s.Length > buffer.Length)
                    {
                        s.Position = s.Length - buffer.Length;
                        s.ReadExactly(buffer);
                    }
                }
            }
        }

        return count;
    }

    [SkippableFact]
    public void Open_PristineImage_WalksWithoutError()
    {
        Require();
        using var fs = XfsFileSystem.Open(new MemoryBlockDevice(fixture.Image, writable: false));
        Assert.True(Walk(fs, readContent: true) > 1000);
    }

    [SkippableFact]
    public void Walk_SeededMetadataMutations_OnlyInvalidDataOrNotSupported()
    {
        Require();
        byte[] image = fixture.Image;
        List<(long Offset, int Length)> metadata = fixture.Metadata;
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < Mutations; i++)
        {
            int seed = 1000 + i;
            var rng = new Random(seed);
            (long offset, int length) = metadata[rng.Next(metadata.Count)];
            var undo = new List<(long, byte)>();
            int edits = 1 + rng.Next(4);
            for (int k = 0; k < edits; k++)
            {
                long at = offset + rng.Next(length);
                if (rng.Next(2) == 0)
                {
                    undo.Add((at, image[at]));
                    image[at] ^= (byte)(1 << rng.Next(8));
                }
                else
                {
                    // A field-sized overwrite with a boundary value at an aligned position.
                    int width = 1 << rng.Next(4);
                    long aligned = Math.Min(at & ~(long)(width - 1), offset + length - width);
                    ulong value = Interesting[rng.Next(Interesting.Length)];
                    for (int b = 0; b < width; b++)
                    {
                        undo.Add((aligned + b, image[aligned + b]));
                        image[aligned + b] = (byte)(value >> (8 * (width - 1 - b)));
                    }
                }
            }

            try
            {
                string outcome = RunBounded(image, verifyChecksums: i % 3 == 0, readContent: i % 5 == 0, seed);
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }
            finally
            {
                for (int u = undo.Count - 1; u >= 0; u--)
                {
                    image[undo[u].Item1] = undo[u].Item2;
                }
            }
        }

        // Most damage must be noticed, not silently read around.
        Assert.True(outcomes.GetValueOrDefault("InvalidDataException") > Mutations / 4, string.Join(", ", outcomes));
    }

    [SkippableTheory]
    [InlineData(0x04, 4, 0x00001001u, "block size")]
    [InlineData(0x58, 4, 0u, "AG count")]
    [InlineData(0x58, 4, 0xFFFFFFFFu, "AG count")]
    [InlineData(0x54, 4, 1u, "AG size")]
    [InlineData(0x08, 8, 0xFFFFFFFFFFFFul, "data block count")]
    [InlineData(0x38, 8, 0xFFFFFFFFFFFFFFFFul, "root inode")]
    [InlineData(0x68, 2, 4096u, "inode size")]
    [InlineData(0xC0, 1, 9u, "directory block size")]
    public void Open_BadSuperblockField_Throws(int offset, int width, ulong value, string what)
    {
        Require();
        byte[] image = (byte[])fixture.Image.Clone();
        Put(image, offset, width, value);
        XfsChecksum.Update(image.AsSpan(0, 512), 0xE0);
        var e = Assert.Throws<InvalidDataException>(() => Open(image, XfsOpenOptions.Default));
        Assert.Contains("XFS superblock", e.Message, StringComparison.Ordinal);
        _ = what;
    }

    [SkippableFact]
    public void Open_UnknownIncompatibleFeature_NotSupported()
    {
        Require();
        byte[] image = (byte[])fixture.Image.Clone();
        Put(image, 0xD8, 4, BinaryPrimitives.ReadUInt32BigEndian(image.AsSpan(0xD8)) | 0x8000_0000u);
        XfsChecksum.Update(image.AsSpan(0, 512), 0xE0);
        Assert.Throws<NotSupportedException>(() => Open(image, XfsOpenOptions.Default));
    }

    [SkippableFact]
    public void Open_SuperblockChecksumWrong_Throws()
    {
        Require();
        byte[] image = (byte[])fixture.Image.Clone();
        image[0x6C] ^= 1; // the label
        Assert.Throws<InvalidDataException>(() => Open(image, XfsOpenOptions.Default));
        using XfsFileSystem fs = Open(image, NoChecksums);
        Assert.True(fs.Exists("/files"));
    }

    [SkippableTheory]
    [InlineData(82, 1, 0xFFu, "attribute fork offset past the literal area")]
    [InlineData(5, 1, 7u, "unknown fork format")]
    [InlineData(0, 2, 0x4E49u, "bad magic")]
    [InlineData(56, 8, 0x8000000000000000ul, "negative size")]
    [InlineData(76, 4, 0xFFFFFFFFu, "extent count beyond the fork")]
    public void GetEntry_CorruptInode_Throws(int offset, int width, ulong value, string what)
    {
        Require();
        byte[] image = (byte[])fixture.Image.Clone();
        long at = InodeOffset(image, "/fragmented.bin");
        Put(image, at + offset, width, value);
        foreach (XfsOpenOptions options in new[] { XfsOpenOptions.Default, NoChecksums })
        {
            var e = Assert.ThrowsAny<Exception>(() =>
            {
                using XfsFileSystem fs = Open(image, options);
                fs.GetEntry("/fragmented.bin");
                using Stream s = fs.OpenFile("/fragmented.bin", FileMode.Open, FileAccess.Read);
            });
            Assert.True(e is InvalidDataException, $"{what}: {e}");
        }
    }

    [SkippableFact]
    public void OpenFile_BtreeChildPointsToItsParentInode_Throws()
    {
        Require();
        byte[] image = (byte[])fixture.Image.Clone();
        long at = InodeOffset(image, "/fragmented.bin");
        Assert.Equal(3, image[at + 5]); // btree format
        int core = 176;
        int forkSize = image[at + 82] == 0 ? 512 - core : image[at + 82] * 8;
        int maxRecords = (forkSize - 4) / 16;
        // Point the first child at block 0 (the superblock): not a bmbt block.
        Put(image, at + core + 4 + (maxRecords * 8), 8, 0);
        XfsChecksum.Update(image.AsSpan((int)at, 512), 100);
        using XfsFileSystem fs = Open(image, XfsOpenOptions.Default);
        Assert.Throws<InvalidDataException>(() => fs.OpenFile("/fragmented.bin", FileMode.Open, FileAccess.Read));
    }

    private static long InodeOffset(byte[] image, string path)
    {
        using XfsFileSystem fs = Open(image, XfsOpenOptions.Default);
        ulong ino = (ulong)fs.GetEntry(path).Inode;
        var device = new MemoryBlockDevice(image, writable: false);
        byte[] sector = new byte[512];
        device.ReadExactly(0, sector);
        XfsSuperBlock sb = XfsSuperBlock.Parse(sector, device.Length, verifyChecksum: true);
        return sb.InodeOffset(ino);
    }

    private static XfsFileSystem Open(byte[] image, XfsOpenOptions options) =>
        XfsFileSystem.Open(new MemoryBlockDevice(image, writable: false), options);

    private static void Put(byte[] image, long offset, int width, ulong value)
    {
        for (int b = 0; b < width; b++)
        {
            image[offset + b] = (byte)(value >> (8 * (width - 1 - b)));
        }
    }

    private static string RunBounded(byte[] image, bool verifyChecksums, bool readContent, int seed)
    {
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: false);
        var sw = Stopwatch.StartNew();
        Task<string> run = Task.Run(() =>
        {
            try
            {
                using XfsFileSystem fs = Open(image, new XfsOpenOptions { VerifyChecksums = verifyChecksums });
                Walk(fs, readContent);
                return "ok";
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException)
            {
                return e.GetType().Name;
            }
            catch (IOException e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                return e.GetType().Name; // a corrupted name no longer resolves: the tree itself is fine
            }
        });
        if (!run.Wait(TimeSpan.FromSeconds(20)))
        {
            Assert.Fail($"seed {seed} (verify {verifyChecksums}): the walk did not finish in 20 s");
        }

        if (run.IsFaulted)
        {
            Assert.Fail($"seed {seed} (verify {verifyChecksums}): {run.Exception!.InnerException}");
        }

        long allocated = GC.GetTotalAllocatedBytes(precise: false) - allocatedBefore;
        Assert.True(allocated < 2L << 30, $"seed {seed}: {allocated} bytes allocated in {sw.Elapsed}");
        return run.Result;
    }

    private static void Require()
    {
        Oracle.Require("mkfs.xfs");
        Ext4KernelMount.Require();
    }
}
