using BenchmarkDotNet.Attributes;
using DiskImage.Archives.Cpio;
using DiskImage.Compression.Bzip2;

namespace DiskImage.Benchmarks.Compression;

/// <summary>
/// Our bzip2 encoder: one 900k block (run-length stage already applied) per kind of input, and a 16 MiB stream on
/// one thread and on one worker per CPU.
/// </summary>
[MemoryDiagnoser]
public class Bzip2EncoderBenchmarks
{
    private byte[] _block = null!;
    private byte[] _output = null!;
    private byte[] _stream = null!;

    /// <summary>text: words and newlines; random: incompressible; periodic: a 1,000-byte word repeated.</summary>
    [Params("text", "random", "periodic")]
    public string Input { get; set; } = "text";

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(7);
        _block = Make(Input, ParallelBzip2WriteStream.BlockFill, rng);
        _stream = Make(Input, 16 << 20, rng);
        _output = new byte[Bzip2BlockEncoder.MaxOutputBytes(_block.Length)];
    }

    [Benchmark]
    public long EncodeBlock() => Bzip2BlockEncoder.Encode(_block, _output, out _);

    [Benchmark]
    public long Stream16MiBSerial() => Compress(0);

    [Benchmark]
    public long Stream16MiBParallel() => Compress(Environment.ProcessorCount);

    private long Compress(int workers)
    {
        using var sink = new MemoryStream();
        using (var bzip2 = new ParallelBzip2WriteStream(sink, workers))
        {
            bzip2.Write(_stream);
        }

        return sink.Length;
    }

    private static byte[] Make(string kind, int length, Random rng)
    {
        byte[] data = new byte[length];
        switch (kind)
        {
            case "random":
                rng.NextBytes(data);
                break;
            case "periodic":
                byte[] word = new byte[1000];
                rng.NextBytes(word);
                for (int i = 0; i < length; i++)
                {
                    data[i] = word[i % word.Length];
                }

                break;
            default:
                string[] words = ["the", "file", "system", "block", "inode", "kernel", "archive", "usr", "lib", "share", "doc", "0", "1.2"];
                int at = 0;
                while (at < length)
                {
                    string w = words[(int)(rng.NextDouble() * rng.NextDouble() * words.Length)];
                    for (int k = 0; k < w.Length && at < length; k++)
                    {
                        data[at++] = (byte)w[k];
                    }

                    if (at < length)
                    {
                        data[at++] = (byte)(rng.Next(10) == 0 ? '\n' : ' ');
                    }
                }

                break;
        }

        return data;
    }
}
