using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>Images made by qemu-img/qemu-io read back exactly as <c>qemu-img convert -O raw</c> (oracle: qemu-utils 7.2).</summary>
public sealed class Qcow2ReadInteropTests
{
    public static TheoryData<string, int, int, bool, string> Layouts => new()
    {
        { "0.10", 65536, 16, false, "zlib" },
        { "1.1", 65536, 16, false, "zlib" },
        { "1.1", 512, 16, false, "zlib" },
        { "1.1", 4096, 1, false, "zlib" },
        { "1.1", 65536, 64, false, "zstd" },
        { "1.1", 2 * 1024 * 1024, 16, false, "zlib" },
        { "0.10", 4096, 16, false, "zlib" },
        { "1.1", 65536, 16, true, "zlib" },
        { "1.1", 16384, 16, true, "zstd" },
        { "1.1", 2 * 1024 * 1024, 1, true, "zstd" },
        { "0.10", 512, 16, false, "zlib" },
    };

    [SkippableTheory]
    [MemberData(nameof(Layouts))]
    public void Content_QemuWrittenImage_EqualsQemuConvert(string compat, int clusterSize, int refcountBits, bool extendedL2, string compression)
    {
        Oracle.Require("qemu-io");
        using var dir = new TempDirectory();
        string image = dir.File("t.qcow2");
        long size = clusterSize >= 1 << 20 ? 64L << 20 : 8L << 20;
        string opts = $"compat={compat},cluster_size={clusterSize},refcount_bits={refcountBits}" +
            (compat == "1.1" ? $",extended_l2={(extendedL2 ? "on" : "off")},compression_type={compression}" : string.Empty);
        QemuTool.Img("create", "-q", "-f", "qcow2", "-o", opts, image, size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        int seed = clusterSize ^ refcountBits ^ (extendedL2 ? 7 : 0) ^ compat.Length;
        List<string> cmds = QemuTool.RandomIoCommands(seed, size, clusterSize, 40, compressed: true, zero: compat == "1.1");
        QemuTool.Io(image, cmds);
        byte[] expected = QemuTool.ToRaw(image, dir);

        using Qcow2Image q = Qcow2Image.Open(image);
        Assert.Equal(expected.Length, q.Content.Length);
        byte[] actual = new byte[expected.Length];
        q.Content.ReadExactly(0, actual);
        AssertEqualBytes(expected, actual, QemuTool.Describe(seed, opts));

        // Unaligned small reads too.
        var rng = new Random(seed);
        for (int i = 0; i < 200; i++)
        {
            long off = rng.NextInt64(expected.Length - 1);
            int len = (int)Math.Min(expected.Length - off, rng.Next(1, 3 * clusterSize));
            byte[] part = new byte[len];
            q.Content.ReadExactly(off, part);
            Assert.True(part.AsSpan().SequenceEqual(expected.AsSpan((int)off, len)), $"{QemuTool.Describe(seed, opts)} read at {off}+{len}");
        }
    }

    [SkippableFact]
    public void Read_ConcurrentReaders_SeeSameBytesAsSequential()
    {
        Oracle.Require("qemu-io");
        using var dir = new TempDirectory();
        string basePath = dir.File("base.qcow2");
        string top = dir.File("top.qcow2");
        QemuTool.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", basePath, "8M");
        QemuTool.Io(basePath, QemuTool.RandomIoCommands(3, 8 << 20, 4096, 60, compressed: true, zero: true));
        QemuTool.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=16384,compression_type=zstd", "-b", "base.qcow2", "-F", "qcow2", top, "8M");
        QemuTool.Io(top, QemuTool.RandomIoCommands(4, 8 << 20, 16384, 60, compressed: true, zero: true));
        byte[] expected = QemuTool.ToRaw(top, dir);
        using Qcow2Image image = Qcow2Image.Open(top, new DiskImageOpenOptions { BackingFiles = BackingFilePolicy.Allow });
        int failures = 0;
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, worker =>
        {
            var rng = new Random(worker);
            byte[] buffer = new byte[200_000];
            for (int i = 0; i < 300; i++)
            {
                long off = rng.NextInt64(expected.Length);
                int len = (int)Math.Min(expected.Length - off, rng.Next(1, buffer.Length));
                image.Content.ReadExactly(off, buffer.AsSpan(0, len));
                if (!buffer.AsSpan(0, len).SequenceEqual(expected.AsSpan((int)off, len)))
                {
                    Interlocked.Increment(ref failures);
                }
            }
        });
        Assert.Equal(0, failures);
    }

    [SkippableFact]
    public void ContentSetLength_WritableImage_ResizesLikeQemu()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = dir.File("t.qcow2");
        using (Qcow2Image image = Qcow2Image.Create(path, 1 << 20))
        {
            Assert.True(image.Content.CanSetLength);
            image.Content.Write(1000, new byte[] { 42 });
            image.Content.SetLength(3 << 20);
            Assert.Equal(3 << 20, image.Content.Length);
            image.Content.Write(2 << 20, new byte[] { 43 });

            // Shrinking over data discards it, as qemu-img resize --shrink does.
            image.Content.SetLength(1 << 20);
            byte[] b = new byte[1];
            image.Content.ReadExactly(1000, b);
            Assert.Equal(42, b[0]);
        }

        QemuTool.AssertClean(path, "resize");
        Assert.Contains("\"virtual-size\": 1048576", QemuTool.Img("info", "--output=json", path).StandardOutput, StringComparison.Ordinal);
    }

    internal static void AssertEqualBytes(byte[] expected, byte[] actual, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        int mismatch = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(mismatch == expected.Length, $"{context}: first difference at byte {mismatch}");
    }
}
