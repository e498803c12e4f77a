using System.Text.RegularExpressions;
using DiskImage.Conversion;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Conversion;

public sealed partial class ImageComparerTests : IDisposable
{
    private const int Seed = 777;
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [GeneratedRegex(@"Content mismatch at offset (\d+)!")]
    private static partial Regex MismatchPattern();

    /// <summary>
    /// qemu-img compare's verdict: null when identical, else the (sector-aligned) offset it names, -1 for a
    /// strict size mismatch, -2 for a strict block-status (allocation) mismatch, which
    /// <see cref="ImageComparer"/> deliberately does not judge (it compares sizes and content only).
    /// </summary>
    private static long? QemuVerdict(string a, string b, bool strict)
    {
        List<string> args = ["compare", "-f", "raw", "-F", "raw"];
        if (strict)
        {
            args.Add("-s");
        }

        args.Add(a);
        args.Add(b);
        ToolResult r = Oracle.Run("qemu-img", [.. args]);
        Assert.True(r.ExitCode is 0 or 1, r.ToString());
        if (r.ExitCode == 0)
        {
            return null;
        }

        Match m = MismatchPattern().Match(r.StandardOutput);
        if (m.Success)
        {
            return long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        }

        Assert.Contains("Strict mode:", r.StandardOutput, StringComparison.Ordinal);
        return r.StandardOutput.Contains("block status mismatch", StringComparison.Ordinal) ? -2 : -1;
    }

    private static long? Ours(string a, string b, bool strict)
    {
        using var x = FileBlockDevice.Open(a);
        using var y = FileBlockDevice.Open(b);
        return ImageComparer.FindFirstDifference(x, y, strict);
    }

    private static void AssertAgree(string a, string b, bool strict, string context)
    {
        long? qemu = QemuVerdict(a, b, strict);
        long? ours = Ours(a, b, strict);
        if (qemu is null)
        {
            Assert.True(ours is null, $"{context}: qemu-img says identical, we say {ours} (seed {Seed}).");
        }
        else if (qemu == -1)
        {
            Assert.NotNull(ours);
        }
        else if (qemu == -2)
        {
            // Allocation differs; judge content and size as the non-strict comparison does.
            Assert.Equal(new FileInfo(a).Length, new FileInfo(b).Length);
            long? content = QemuVerdict(a, b, strict: false);
            Assert.True(content is null ? ours is null : ours / 512 * 512 == content, $"{context}: qemu-img content verdict {content}, we say {ours}.");
        }
        else
        {
            Assert.True(ours is not null && ours.Value / 512 * 512 == qemu, $"{context}: qemu-img says {qemu}, we say {ours} (seed {Seed}).");
        }
    }

    private string Write(string name, long length, Action<FileBlockDevice> fill)
    {
        string path = _temp.File(name);
        using var d = FileBlockDevice.Create(path, length);
        fill(d);
        return path;
    }

    [SkippableFact]
    public void FindFirstDifference_RandomPairs_AgreesWithQemuImgCompare()
    {
        Oracle.Require("qemu-img");
        var rng = new Random(Seed);
        for (int i = 0; i < 12; i++)
        {
            long lengthA = rng.Next(1, 8) << 20;
            long lengthB = rng.Next(3) == 0 ? lengthA + (rng.Next(1, 4) << 19) : lengthA;
            byte[] data = BlockCopierTests.MakeContent((int)lengthA, Seed + i, zeroRunMax: 100_000);
            string a = Write($"a{i}", lengthA, d => WriteSparse(d, data));
            string b = Write($"b{i}", lengthB, d =>
            {
                // Same content, written densely (allocated zeros) so allocation differs from a.
                d.Write(0, data);
                int kind = rng.Next(3);
                if (kind == 1)
                {
                    d.Write(rng.NextInt64(0, lengthA), [(byte)rng.Next(1, 256)]);
                }
                else if (kind == 2 && lengthB > lengthA)
                {
                    d.Write(rng.NextInt64(lengthA, lengthB), [0x55]);
                }
            });
            AssertAgree(a, b, strict: false, $"pair {i}");
            AssertAgree(b, a, strict: false, $"pair {i} swapped");
            AssertAgree(a, b, strict: true, $"pair {i} strict");
        }
    }

    [SkippableFact]
    public void FindFirstDifference_SizeMismatchZeroTail_IdenticalUnlessStrict()
    {
        Oracle.Require("qemu-img");
        string a = Write("a", 1 << 20, d => d.Write(100, [1, 2, 3]));
        string b = Write("b", 3 << 20, d => d.Write(100, [1, 2, 3]));
        Assert.Null(QemuVerdict(a, b, strict: false));
        Assert.Null(Ours(a, b, strict: false));
        Assert.Equal(-1, QemuVerdict(a, b, strict: true));
        Assert.Equal(1 << 20, Ours(a, b, strict: true));
    }

    [Fact]
    public void FindFirstDifference_ZeroDeviceAgainstDataZeros_Identical()
    {
        using var zeros = new ZeroBlockDevice(5_000_000);
        using var memory = new MemoryBlockDevice(5_000_000);
        Assert.Null(ImageComparer.FindFirstDifference(zeros, memory));
        memory.Write(4_999_999, [9]);
        Assert.Equal(4_999_999, ImageComparer.FindFirstDifference(zeros, memory));
        Assert.Equal(4_999_999, ImageComparer.FindFirstDifference(memory, zeros));
    }

    [Fact]
    public void FindFirstDifference_ExactByte_Reported()
    {
        byte[] data = BlockCopierTests.MakeContent(3_000_000, Seed);
        using var a = new MemoryBlockDevice((byte[])data.Clone());
        using var b = new MemoryBlockDevice(data);
        Assert.Null(ImageComparer.FindFirstDifference(a, b, strict: true));
        b.Data[2_345_678] ^= 0x80;
        Assert.Equal(2_345_678, ImageComparer.FindFirstDifference(a, b));
    }

    [Fact]
    public void FindFirstDifference_Cancelled_Throws()
    {
        using var a = new MemoryBlockDevice(10_000);
        using var b = new MemoryBlockDevice(10_000);
        Assert.ThrowsAny<OperationCanceledException>(() => ImageComparer.FindFirstDifference(a, b, cancellationToken: new CancellationToken(true)));
    }

    private static void WriteSparse(FileBlockDevice d, byte[] data)
    {
        for (int pos = 0; pos < data.Length; pos += 4096)
        {
            ReadOnlySpan<byte> block = data.AsSpan(pos, Math.Min(4096, data.Length - pos));
            if (block.ContainsAnyExcept((byte)0))
            {
                d.Write(pos, block);
            }
        }
    }
}
