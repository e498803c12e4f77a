using System.IO.Compression;
using DiskImage.Archives.Cpio;
using DiskImage.Compression;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Archives;

/// <summary>The chunked, multi-threaded gzip encoder: one valid member, same bytes for every worker count.</summary>
public sealed class ParallelGzipTests
{
    private const int Chunk = 64 * 1024;

    public static TheoryData<int> Lengths() => new() { 0, 1, Chunk - 1, Chunk, Chunk + 1, 3 * Chunk, (5 * Chunk) + 12345 };

    [Fact]
    public void Combine_RandomSplits_EqualsCrcOfWhole()
    {
        const int seed = 31;
        var rng = new Random(seed);
        for (int round = 0; round < 200; round++)
        {
            byte[] data = new byte[rng.Next(0, 5000)];
            rng.NextBytes(data);
            int cut = rng.Next(0, data.Length + 1);
            uint whole = Crc32.Append(0, data);
            uint combined = Crc32.Combine(Crc32.Append(0, data.AsSpan(0, cut)), Crc32.Append(0, data.AsSpan(cut)), data.Length - cut);
            Assert.True(whole == combined, $"seed {seed} round {round}: length {data.Length}, cut {cut}");
        }
    }

    [Fact]
    public void Combine_LongSecondPart_EqualsCrcOfWhole()
    {
        byte[] data = new byte[(3 << 20) + 7];
        new Random(5).NextBytes(data);
        uint whole = Crc32.Append(0, data);
        Assert.Equal(whole, Crc32.Combine(Crc32.Append(0, data.AsSpan(0, 100)), Crc32.Append(0, data.AsSpan(100)), data.Length - 100));
        Assert.Equal(0xCBF43926u, Crc32.Append(0, "123456789"u8)); // the CRC-32 check value
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Write_AnyWorkerCount_SameBytesAndRoundTrips(int length)
    {
        byte[] data = MakeData(length, seed: 7);
        byte[] inline = Compress(data, workers: 0, writeSize: 1000);
        Assert.Equal(inline, Compress(data, workers: 1, writeSize: 65536));
        Assert.Equal(inline, Compress(data, workers: 4, writeSize: 7777));
        Assert.Equal(data, Decompress(inline));
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public async Task WriteAsync_SameBytesAsWrite(int length)
    {
        byte[] data = MakeData(length, seed: 8);
        using var ms = new MemoryStream();
        var gz = new ParallelGzipWriteStream(ms, 6, 2, Chunk);
        await using (gz.ConfigureAwait(false))
        {
            for (int o = 0; o < data.Length; o += 30000)
            {
                await gz.WriteAsync(data.AsMemory(o, Math.Min(30000, data.Length - o)));
            }
        }

        Assert.Equal(Compress(data, workers: 0, writeSize: 4096), ms.ToArray());
    }

    [Fact]
    public void Write_HeaderAndTrailer_FixedFieldsCrcAndSize()
    {
        byte[] data = MakeData((4 * Chunk) + 99, seed: 9);
        byte[] gz = Compress(data, workers: 2, writeSize: 5000);
        Assert.Equal(new byte[] { 0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3 }, gz[..10]);
        Assert.Equal(Crc32.Append(0, data), System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(gz.AsSpan(gz.Length - 8)));
        Assert.Equal((uint)data.Length, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(gz.AsSpan(gz.Length - 4)));
    }

    [SkippableTheory]
    [InlineData(0)]
    [InlineData(Chunk)]
    [InlineData((7 * Chunk) + 3)]
    public void GnuGzip_Decompresses_SameData(int length)
    {
        Oracle.Require("gzip");
        using var tmp = new TempDirectory();
        byte[] data = MakeData(length, seed: 11);
        string file = tmp.File("x.gz");
        File.WriteAllBytes(file, Compress(data, workers: 2, writeSize: 12345));
        Oracle.RunOk("gzip", "-t", file);
        Oracle.RunOk("gzip", "-d", file);
        Assert.Equal(data, File.ReadAllBytes(tmp.File("x")));
    }

    private static byte[] MakeData(int length, int seed)
    {
        // Half text-like runs (compressible), half random, so both stored and Huffman blocks occur.
        var rng = new Random(seed);
        byte[] data = new byte[length];
        for (int i = 0; i < length;)
        {
            int run = Math.Min(length - i, rng.Next(1, 3000));
            if (rng.Next(2) == 0)
            {
                rng.NextBytes(data.AsSpan(i, run));
            }
            else
            {
                for (int j = 0; j < run; j++)
                {
                    data[i + j] = (byte)"initramfs cpio newc\n"[j % 20];
                }
            }

            i += run;
        }

        return data;
    }

    private static byte[] Compress(byte[] data, int workers, int writeSize)
    {
        using var ms = new MemoryStream();
        using (var gz = new ParallelGzipWriteStream(ms, 6, workers, Chunk))
        {
            for (int o = 0; o < data.Length; o += writeSize)
            {
                gz.Write(data, o, Math.Min(writeSize, data.Length - o));
            }
        }

        return ms.ToArray();
    }

    private static byte[] Decompress(byte[] gz)
    {
        using var input = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }
}
