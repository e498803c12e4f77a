using System.Diagnostics;
using DiskImage.Archives.Cpio;
using DiskImage.Compression.Bzip2;
using DiskImage.Tests.Oracles;
using SharpCompress.Compressors;
using SharpCompress.Compressors.BZip2;

namespace DiskImage.Tests.Compression;

/// <summary>
/// Our bzip2 encoder (RLE1, BWT by suffix sorting, MTF/RLE2, multi-table Huffman) judged by bzip2 itself
/// (<c>bzip2 -t</c>, <c>bzip2 -dc</c>, bzip2 1.0.8) and by SharpCompress's decoder, on inputs chosen to reach every
/// stage's edge cases: empty, one byte, random, text, all zeros, periodic data, runs across block boundaries.
/// </summary>
public sealed class Bzip2EncoderTests
{
    private const int Block = ParallelBzip2WriteStream.BlockFill;

    public static TheoryData<string> Patterns() => new()
    {
        "empty", "one-byte", "random", "text", "zeros", "zeros-long", "period-7", "period-1000", "runs-across-blocks",
        "all-byte-values", "two-symbols", "runs-of-every-length",
    };

    [SkippableTheory]
    [MemberData(nameof(Patterns))]
    public void Encode_Pattern_Bzip2AndSharpCompressGiveTheInputBack(string pattern)
    {
        Oracle.Require("bzip2");
        byte[] data = Make(pattern);
        var clock = Stopwatch.StartNew();
        byte[] ours = Compress(data, workers: 0);
        TimeSpan serial = clock.Elapsed;
        byte[] parallel = Compress(data, workers: 2);
        Assert.True(ours.AsSpan().SequenceEqual(parallel), $"{pattern}: the worker count changed the bytes");

        // Repetitive input must not make the sort slow (a quadratic sort would take minutes on these sizes).
        Assert.True(serial < TimeSpan.FromSeconds(30), $"{pattern}: {data.Length} bytes took {serial.TotalSeconds:F1} s");

        using var tmp = new TempDirectory();
        string file = tmp.File("data.bz2");
        File.WriteAllBytes(file, ours);
        Oracle.RunOk("bzip2", "-t", file);
        Oracle.RunOk("bzip2", "-d", file);
        byte[] back = File.ReadAllBytes(tmp.File("data"));
        Assert.True(back.AsSpan().SequenceEqual(data), $"{pattern} (seed in Make): bzip2 -d gave {back.Length} bytes that differ from the {data.Length} written");

        Assert.True(SharpCompressDecode(ours).AsSpan().SequenceEqual(data), $"{pattern}: SharpCompress decoded other bytes");
    }

    [SkippableTheory]
    [InlineData("text", 0.02)]
    [InlineData("random", 0.005)]
    [InlineData("mixed", 0.02)]
    public void Encode_Size_WithinAFewPercentOfBzip2Best(string pattern, double tolerance)
    {
        Oracle.Require("bzip2");
        byte[] data = Make(pattern);
        byte[] ours = Compress(data, workers: 2);
        using var tmp = new TempDirectory();
        string file = tmp.File("data");
        File.WriteAllBytes(file, data);
        Oracle.RunOk("bzip2", "-9", "-k", file);
        long theirs = new FileInfo(file + ".bz2").Length;
        double ratio = (double)ours.Length / theirs;
        Assert.True(ratio <= 1 + tolerance, $"{pattern}: ours {ours.Length} B, bzip2 -9 {theirs} B (ratio {ratio:F4})");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(256)]
    public void SuffixSorter_RandomSmallAlphabets_MatchesNaiveSort(int alphabet)
    {
        for (int seed = 0; seed < 200; seed++)
        {
            var rng = new Random((alphabet * 1000) + seed);
            byte[] text = new byte[rng.Next(1, 300)];
            for (int i = 0; i < text.Length; i++)
            {
                text[i] = (byte)rng.Next(alphabet);
            }

            int[] sa = new int[text.Length];
            Bzip2SuffixSorter.Sort(text, sa);
            int[] expected = Enumerable.Range(0, text.Length).ToArray();
            Array.Sort(expected, (a, b) => text.AsSpan(a).SequenceCompareTo(text.AsSpan(b)));
            Assert.True(expected.AsSpan().SequenceEqual(sa), $"alphabet {alphabet}, seed {(alphabet * 1000) + seed}");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(256)]
    public void BurrowsWheeler_RandomAndPeriodic_MatchesNaiveRotationSort(int alphabet)
    {
        for (int seed = 0; seed < 200; seed++)
        {
            var rng = new Random((alphabet * 1000) + seed);
            byte[] text;
            if (seed % 3 == 0)
            {
                // A power of a shorter word: equal rotations.
                byte[] word = new byte[rng.Next(1, 6)];
                for (int i = 0; i < word.Length; i++)
                {
                    word[i] = (byte)rng.Next(alphabet);
                }

                text = Enumerable.Repeat(word, rng.Next(1, 20)).SelectMany(w => w).ToArray();
            }
            else
            {
                text = new byte[rng.Next(1, 200)];
                for (int i = 0; i < text.Length; i++)
                {
                    text[i] = (byte)rng.Next(alphabet);
                }
            }

            int n = text.Length;
            byte[] last = new byte[n];
            int origPtr = Bzip2BurrowsWheeler.Transform(text, last, new byte[n], new int[n]);
            int[] rows = Enumerable.Range(0, n).ToArray();
            Array.Sort(rows, (a, b) => Rotation(text, a).SequenceCompareTo(Rotation(text, b)));
            byte[] expected = rows.Select(r => text[(r + n - 1) % n]).ToArray();
            string what = $"alphabet {alphabet}, seed {(alphabet * 1000) + seed}, n {n}";
            Assert.True(expected.AsSpan().SequenceEqual(last), what + ": last column");
            Assert.True(Rotation(text, 0).AsSpan().SequenceEqual(Rotation(text, rows[origPtr])), what + ": origPtr");
        }
    }

    [Fact]
    public void Crc_KnownValue_IsCrc32Bzip2()
    {
        // CRC-32/BZIP2 check value of "123456789".
        uint crc = ~Bzip2Crc.Update(Bzip2Crc.Initial, "123456789"u8);
        Assert.Equal(0xFC891918u, crc);
        Assert.Equal(crc, Bzip2Crc.OfRle1Block("123456789"u8));

        // "aaaaaaa" after RLE1 is "aaaa" and a count of 3.
        Assert.Equal(~Bzip2Crc.Update(Bzip2Crc.Initial, "aaaaaaa"u8), Bzip2Crc.OfRle1Block([.. "aaaa"u8, 3]));
    }

    [Fact]
    public void Huffman_SkewedFrequencies_LengthsStayWithinLimitAndComplete()
    {
        // Fibonacci-like weights make the unlimited tree as deep as the alphabet.
        int[] frequencies = new int[258];
        long a = 1;
        long b = 1;
        for (int i = 0; i < frequencies.Length; i++)
        {
            frequencies[i] = (int)Math.Min(a, int.MaxValue / 4);
            (a, b) = (b, a + b);
        }

        byte[] lengths = new byte[258];
        Bzip2Huffman.BuildLengths(frequencies, lengths);
        Assert.All(lengths, l => Assert.InRange(l, 1, Bzip2Huffman.MaxCodeLength));
        double kraft = lengths.Sum(l => Math.Pow(2, -l));
        Assert.Equal(1.0, kraft, 9);
    }

    internal static byte[] Compress(byte[] data, int workers)
    {
        using var output = new MemoryStream();
        using (var bzip2 = new ParallelBzip2WriteStream(output, workers))
        {
            int at = 0;
            var rng = new Random(5);
            while (at < data.Length)
            {
                int n = Math.Min(data.Length - at, rng.Next(1, 400_000));
                bzip2.Write(data, at, n);
                at += n;
            }
        }

        return output.ToArray();
    }

    private static byte[] SharpCompressDecode(byte[] compressed)
    {
        using var input = new MemoryStream(compressed);
        using Stream bzip2 = BZip2Stream.Create(input, CompressionMode.Decompress, decompressConcatenated: false, leaveOpen: false, tolerateTruncatedStream: false);
        using var back = new MemoryStream();
        bzip2.CopyTo(back);
        return back.ToArray();
    }

    private static byte[] Rotation(byte[] text, int start) => [.. text.AsSpan(start), .. text.AsSpan(0, start)];

    /// <summary>Inputs with fixed seeds.</summary>
    internal static byte[] Make(string pattern)
    {
        int seed = 17;
        foreach (char c in pattern)
        {
            seed = (seed * 31) + c;
        }

        var rng = new Random(seed);
        switch (pattern)
        {
            case "empty":
                return [];
            case "one-byte":
                return [0x42];
            case "random":
            {
                byte[] d = new byte[(2 * Block) + 777];
                rng.NextBytes(d);
                return d;
            }

            case "text":
                return Text(rng, 2_500_000);
            case "zeros":
                return new byte[(2 * Block) + 5];
            case "zeros-long":
                // RLE1 turns 255 zeros into 5 bytes: about 45.9 MB fill one block, a period-5 block for the sort.
                return new byte[50_000_000];
            case "period-7":
                return Enumerable.Range(0, 3_000_000).Select(i => (byte)"abcdefg"[i % 7]).ToArray();
            case "period-1000":
            {
                byte[] word = new byte[1000];
                rng.NextBytes(word);
                return Enumerable.Range(0, 2_000_000).Select(i => word[i % 1000]).ToArray();
            }

            case "runs-across-blocks":
            {
                // Runs of 1 to 1,000 bytes so that runs straddle every block boundary.
                byte[] d = new byte[4_000_000];
                int i = 0;
                while (i < d.Length)
                {
                    int n = Math.Min(d.Length - i, rng.Next(1, 1000));
                    d.AsSpan(i, n).Fill((byte)rng.Next(4));
                    i += n;
                }

                return d;
            }

            case "all-byte-values":
                return Enumerable.Range(0, 1_000_000).Select(i => (byte)(i * 37 % 256)).ToArray();
            case "two-symbols":
                return Enumerable.Range(0, 1_000_000).Select(_ => (byte)(rng.Next(2) == 0 ? 'x' : 'y')).ToArray();
            case "runs-of-every-length":
            {
                // Runs of 1 to 600 of alternating bytes: every RLE1 count, and runs longer than 255.
                var list = new List<byte>();
                for (int n = 1; n <= 600; n++)
                {
                    list.AddRange(Enumerable.Repeat((byte)(n % 2 == 0 ? 'a' : 'b'), n));
                }

                return [.. list];
            }

            case "mixed":
            {
                byte[] d = Text(rng, 2_000_000);
                for (int i = 0; i < d.Length; i += 100_000)
                {
                    rng.NextBytes(d.AsSpan(i, 20_000));
                }

                return d;
            }

            default:
                throw new ArgumentException(pattern);
        }
    }

    private static byte[] Text(Random rng, int length)
    {
        string[] words =
        [
            "the", "of", "and", "to", "in", "is", "file", "system", "block", "inode", "journal", "extent", "kernel",
            "initramfs", "archive", "compress", "directory", "mount", "device", "partition", "root", "usr", "lib",
            "bin", "share", "doc", "copyright", "license", "debian", "package", "version", "0", "1", "2.6", "3.14",
        ];
        byte[] d = new byte[length];
        int i = 0;
        while (i < length)
        {
            string w = words[(int)Math.Min(words.Length - 1, Math.Abs(rng.NextDouble() * rng.NextDouble()) * words.Length)];
            for (int k = 0; k < w.Length && i < length; k++)
            {
                d[i++] = (byte)w[k];
            }

            if (i < length)
            {
                d[i++] = (byte)(rng.Next(12) == 0 ? '\n' : ' ');
            }
        }

        return d;
    }
}
