using DiskImage.Archives.Cpio;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Archives;

/// <summary>
/// The multi-threaded bzip2 encoder (independent 900k blocks bit-concatenated into one stream): bzip2 -t accepts
/// it, bzip2 -d gives the input back, and the bytes are the same for every worker count.
/// </summary>
public sealed class ParallelBzip2Tests
{
    private const int Chunk = ParallelBzip2WriteStream.BlockFill;

    public static TheoryData<int> Lengths() => new() { 0, 1, Chunk - 1, Chunk, Chunk + 1, 899_999, 900_000, 900_001, (3 * Chunk) + 12345 };

    [SkippableTheory]
    [MemberData(nameof(Lengths))]
    public void Write_AnyLength_Bzip2DecompressesToTheInputAndWorkersDoNotChangeBytes(int length)
    {
        Oracle.Require("bzip2");
        byte[] data = Mixed(length, seed: length);
        byte[] serial = Compress(data, workers: 0);
        byte[] parallel = Compress(data, workers: 3);
        Assert.True(serial.AsSpan().SequenceEqual(parallel), $"length {length}: the worker count changed the bytes");
        AssertBzip2Gives(serial, data, $"length {length}");
        if (length == 0)
        {
            // The empty stream is what bzip2 itself writes for empty input: header, end marker, CRC 0.
            Assert.Equal(Convert.FromHexString("425A683917724538509000000000"), serial);
        }
    }

    [SkippableFact]
    public void Write_RunsOfFourEverywhere_BlocksStayWithinTheLimit()
    {
        // Runs of exactly four bytes grow by 5/4 in the first run-length stage: blocks are cut by their RLE1 length.
        Oracle.Require("bzip2");
        byte[] data = new byte[2 * Chunk];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(i / 4 % 251);
        }

        AssertBzip2Gives(Compress(data, workers: 2), data, "runs of four");
    }

    private static byte[] Compress(byte[] data, int workers)
    {
        using var output = new MemoryStream();
        using (var bzip2 = new ParallelBzip2WriteStream(output, workers))
        {
            // Uneven writes, as the cpio writer makes them.
            int at = 0;
            var rng = new Random(3);
            while (at < data.Length)
            {
                int n = Math.Min(data.Length - at, rng.Next(1, 300_000));
                bzip2.Write(data, at, n);
                at += n;
            }
        }

        return output.ToArray();
    }

    private static void AssertBzip2Gives(byte[] compressed, byte[] expected, string what)
    {
        using var tmp = new TempDirectory();
        string file = tmp.File("data.bz2");
        File.WriteAllBytes(file, compressed);
        Oracle.RunOk("bzip2", "-t", file);
        Oracle.RunOk("bzip2", "-d", file);
        byte[] back = File.ReadAllBytes(tmp.File("data"));
        Assert.True(back.AsSpan().SequenceEqual(expected), $"{what}: bzip2 -d gave {back.Length} bytes that differ from the {expected.Length} written");
    }

    /// <summary>Text-like runs and random bytes, so blocks compress to uneven bit lengths.</summary>
    private static byte[] Mixed(int length, int seed)
    {
        var rng = new Random(seed);
        byte[] data = new byte[length];
        int i = 0;
        while (i < length)
        {
            int n = Math.Min(length - i, rng.Next(1, 5000));
            if (rng.Next(2) == 0)
            {
                rng.NextBytes(data.AsSpan(i, n));
            }
            else
            {
                for (int k = 0; k < n; k++)
                {
                    data[i + k] = (byte)"the quick brown fox "[(k + seed) % 20];
                }
            }

            i += n;
        }

        return data;
    }
}
