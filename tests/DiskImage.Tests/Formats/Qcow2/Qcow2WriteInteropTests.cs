using System.Globalization;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>
/// Randomized write sequences (fixed seeds) on images we create; judged by <c>qemu-img check</c>
/// (0 errors, 0 leaks) and <c>qemu-img compare</c> against the expected raw content (oracle:
/// qemu-utils 7.2).
/// </summary>
public sealed class Qcow2WriteInteropTests
{
    /// <summary>One layout under test.</summary>
    public sealed record Layout(string Name, int Version, int ClusterSize, int RefcountBits, bool ExtendedL2, Qcow2CompressionType Compression, string Backing);

    private static readonly Layout[] s_layouts =
    [
        new("v3-64k", 3, 65536, 16, false, Qcow2CompressionType.Deflate, "none"),
        new("v2-64k", 2, 65536, 16, false, Qcow2CompressionType.Deflate, "none"),
        new("v3-512-r1", 3, 512, 1, false, Qcow2CompressionType.Deflate, "none"),
        new("v3-4k-r64", 3, 4096, 64, false, Qcow2CompressionType.Deflate, "none"),
        new("v3-64k-ext-zstd", 3, 65536, 16, true, Qcow2CompressionType.Zstd, "none"),
        new("v3-16k-ext-r8", 3, 16384, 8, true, Qcow2CompressionType.Deflate, "none"),
        new("v3-2m", 3, 2 * 1024 * 1024, 16, false, Qcow2CompressionType.Deflate, "none"),
        new("v3-64k-qcow2-backing", 3, 65536, 16, false, Qcow2CompressionType.Deflate, "qcow2"),
        new("v2-4k-raw-backing", 2, 4096, 16, false, Qcow2CompressionType.Deflate, "raw"),
        new("v3-32k-ext-qcow2-backing", 3, 32768, 16, true, Qcow2CompressionType.Deflate, "qcow2"),
        new("v3-4k-r2-zstd-raw-backing", 3, 4096, 2, false, Qcow2CompressionType.Zstd, "raw"),
        new("v3-1k-r4", 3, 1024, 4, false, Qcow2CompressionType.Deflate, "none"),
        new("v3-512-r64", 3, 512, 64, false, Qcow2CompressionType.Zstd, "none"),
    ];

    private const int SeedsPerLayout = 16;

    public static TheoryData<string, int> Sequences()
    {
        var data = new TheoryData<string, int>();
        foreach (Layout l in s_layouts)
        {
            for (int s = 0; s < SeedsPerLayout; s++)
            {
                data.Add(l.Name, 1000 + s);
            }
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Sequences))]
    public void RandomSequence_CreatedImage_QemuCheckCleanAndCompareIdentical(string layoutName, int seed)
    {
        Oracle.Require("qemu-img");
        Layout layout = Array.Find(s_layouts, l => l.Name == layoutName)!;
        string context = QemuTool.Describe(seed, layout);
        var rng = new Random(seed);
        using var dir = new TempDirectory();
        int cs = layout.ClusterSize;
        long size = AlignDown(rng.NextInt64(1L << 20, 16L << 20), 512);
        if (cs >= 1 << 20)
        {
            size = Math.Max(size, 4L * cs);
        }

        byte[] expected = new byte[size];
        string? backingName = null;
        if (layout.Backing != "none")
        {
            backingName = layout.Backing == "raw" ? "base.raw" : "base.qcow2";
            string backingPath = dir.File(backingName);
            long backingSize = AlignDown(rng.NextInt64(size / 2, size + (size / 4)), 512);
            if (layout.Backing == "raw")
            {
                byte[] raw = new byte[backingSize];
                rng.NextBytes(raw);
                File.WriteAllBytes(backingPath, raw);
                raw.AsSpan(0, (int)Math.Min(size, backingSize)).CopyTo(expected);
            }
            else
            {
                QemuTool.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", backingPath, backingSize.ToString(CultureInfo.InvariantCulture));
                QemuTool.Io(backingPath, QemuTool.RandomIoCommands(seed, backingSize, 4096, 12, compressed: true, zero: true));
                byte[] raw = QemuTool.ToRaw(backingPath, dir);
                raw.AsSpan(0, (int)Math.Min(size, raw.Length)).CopyTo(expected);
            }
        }

        string path = dir.File("t.qcow2");
        var options = new Qcow2CreateOptions
        {
            Version = layout.Version,
            ClusterSize = cs,
            RefcountBits = layout.RefcountBits,
            ExtendedL2 = layout.ExtendedL2,
            CompressionType = layout.Compression,
            BackingFile = backingName,
            BackingFormat = backingName is null ? null : layout.Backing == "raw" ? DiskImageFormat.Raw : DiskImageFormat.Qcow2,
        };
        var openOptions = new DiskImageOpenOptions { Writable = true, BackingFiles = BackingFilePolicy.Allow };
        Qcow2Image image = Qcow2Image.Create(path, size, options);
        var log = new List<string>();
        try
        {
            int ops = rng.Next(10, 41);
            for (int i = 0; i < ops; i++)
            {
                int kind = rng.Next(100);
                BlockDevice content = image.Content;
                long length = content.Length;
                if (kind < 45)
                {
                    // Random write, aligned or not, possibly spanning clusters.
                    long off = rng.Next(2) == 0 ? AlignDown(rng.NextInt64(length), cs) : rng.NextInt64(length);
                    int len = (int)Math.Min(length - off, rng.Next(1, 3 * cs + 1));
                    if (len <= 0)
                    {
                        continue;
                    }

                    byte[] data = new byte[len];
                    FillPattern(rng, data);
                    log.Add($"write {off} {len}");
                    content.Write(off, data);
                    data.CopyTo(expected, off);
                }
                else if (kind < 55)
                {
                    // Long write of many clusters (fast path).
                    long off = AlignDown(rng.NextInt64(length), cs);
                    int len = (int)Math.Min(length - off, (long)cs * rng.Next(2, 12));
                    byte[] data = new byte[len];
                    FillPattern(rng, data);
                    log.Add($"write-long {off} {len}");
                    content.Write(off, data);
                    data.CopyTo(expected, off);
                }
                else if (kind < 72)
                {
                    long off = rng.Next(2) == 0 ? AlignDown(rng.NextInt64(length), cs) : rng.NextInt64(length);
                    long len = Math.Min(length - off, rng.NextInt64(1, 4L * cs));
                    if (len <= 0)
                    {
                        continue;
                    }

                    log.Add($"zero {off} {len}");
                    content.WriteZeroes(off, len);
                    Array.Clear(expected, (int)off, (int)len);
                }
                else if (kind < 85)
                {
                    // Compressed cluster into an unallocated cluster of the top image.
                    long clusters = length / cs;
                    if (clusters == 0)
                    {
                        continue;
                    }

                    long c = rng.NextInt64(clusters);
                    AllocationExtent a = content.GetAllocation(c * cs, cs);
                    if ((a.Kind != AllocationKind.Unallocated && a.Depth == 0) || a.Length < cs)
                    {
                        continue;
                    }

                    byte[] cluster = new byte[cs];
                    FillPattern(rng, cluster);
                    byte[] packed = new byte[cs];
                    log.Add($"compressed {c * cs}");
                    if (Qcow2Compression.TryCompress(image.CompressionType, cluster, packed, out int n))
                    {
                        image.WriteCompressedCluster(c * cs, packed.AsSpan(0, n));
                    }
                    else
                    {
                        content.Write(c * cs, cluster);
                    }

                    cluster.CopyTo(expected, c * cs);
                }
                else if (kind < 92)
                {
                    long newSize = AlignDown(rng.NextInt64(Math.Max(512, length / 2), length + (length / 2) + 512), 512);
                    log.Add($"resize {newSize}");
                    try
                    {
                        image.Resize(newSize);
                    }
                    catch (InvalidOperationException)
                    {
                        log.Add("  (shrink refused: tail allocated)");
                        Assert.True(newSize < length, context + " grow refused");
                        continue;
                    }

                    Array.Resize(ref expected, (int)newSize);
                    Assert.Equal(newSize, image.Content.Length);
                }
                else
                {
                    log.Add("reopen");
                    image.Dispose();
                    image = Qcow2Image.Open(path, openOptions);
                }
            }

            // Our own reader agrees (cheap), before the real judges.
            byte[] actual = new byte[expected.Length];
            image.Content.ReadExactly(0, actual);
            Qcow2ReadInteropTests.AssertEqualBytes(expected, actual, context + " own read\n" + string.Join('\n', log));
        }
        finally
        {
            image.Dispose();
        }

        string expectedRaw = dir.File("expected.raw");
        File.WriteAllBytes(expectedRaw, expected);
        string ctx = context + "\n" + string.Join('\n', log);
        QemuTool.AssertClean(path, ctx);
        QemuTool.AssertSameAsRaw(path, expectedRaw, ctx);
    }

    [SkippableTheory]
    [InlineData(512, 64, false)]
    [InlineData(512, 32, false)]
    [InlineData(16384, 64, true)]
    public void Write_ManySmallClusters_GrowsRefcountTableAndL1(int clusterSize, int refcountBits, bool extendedL2)
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = dir.File("t.qcow2");
        var rng = new Random(clusterSize + refcountBits);
        long size = 4L << 20;
        byte[] expected = new byte[32L << 20];
        var options = new Qcow2CreateOptions { ClusterSize = clusterSize, RefcountBits = refcountBits, ExtendedL2 = extendedL2 };
        using (Qcow2Image image = Qcow2Image.Create(path, size, options))
        {
            // Scattered single-cluster writes (one refcount update each), then growth and a long run.
            for (int i = 0; i < 3000; i++)
            {
                long off = rng.NextInt64(size / clusterSize) * clusterSize;
                byte[] data = new byte[clusterSize];
                data.AsSpan().Fill((byte)(i | 1));
                image.Content.Write(off, data);
                data.CopyTo(expected, off);
            }

            image.Resize(32L << 20);
            byte[] run = new byte[24 << 20];
            FillPattern(rng, run);
            image.Content.Write(8L << 20, run);
            run.CopyTo(expected, 8L << 20);
        }

        string raw = dir.File("e.raw");
        File.WriteAllBytes(raw, expected);
        string info = QemuTool.Img("info", path).StandardOutput;
        QemuTool.AssertClean(path, info);
        QemuTool.AssertSameAsRaw(path, raw, "growth");
    }

    private static long AlignDown(long value, long alignment) => value / alignment * alignment;

    /// <summary>Fills with runs of random bytes and repeated bytes (compressible, sometimes zero).</summary>
    internal static void FillPattern(Random rng, byte[] data)
    {
        int pos = 0;
        while (pos < data.Length)
        {
            int run = Math.Min(data.Length - pos, rng.Next(1, 4096));
            switch (rng.Next(3))
            {
                case 0:
                    rng.NextBytes(data.AsSpan(pos, run));
                    break;
                case 1:
                    data.AsSpan(pos, run).Fill((byte)rng.Next(256));
                    break;
                default:
                    data.AsSpan(pos, run).Clear();
                    break;
            }

            pos += run;
        }
    }
}
