using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>diskimage dd</c> against <c>qemu-img dd</c> (Debian qemu-utils 7.2) on the same input: random block
/// sizes, counts and skips give the same exit code, messages and output (raw byte for byte, qcow2 by
/// <c>qemu-img compare</c>, the same virtual size and a clean <c>qemu-img check</c>); an output that is the input is refused.
/// </summary>
public sealed class DdParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public void Dd_RandomOperands_SameOutputAsQemuImg()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        const int seed = 8071;
        var random = new Random(seed);
        string input = MakeChainedInput();
        long inputSize = 1024 * 1024 + 3584;
        string[] blockSizes = ["1", "3", "512", "1k", "4096", "1.5k", "64k", "1M", "2M"];
        int[] oddSkips = [0, 1, 7, 511, 513, 1000];
        for (int round = 0; round < 24; round++)
        {
            string bs = blockSizes[random.Next(blockSizes.Length)];
            var operands = new List<string> { "bs=" + bs };
            long blockSize = Size(bs);
            long blocks = Math.Max(1, inputSize / blockSize);
            if (blockSize < 512)
            {
                // qemu-img copies one block per request: keep tiny blocks to a few thousand of them.
                long skipBlocks = (inputSize / blockSize) - oddSkips[random.Next(oddSkips.Length)] - random.Next(3000);
                operands.Add("skip=" + Math.Max(0, skipBlocks));
                if (random.Next(2) == 0)
                {
                    operands.Add("count=" + (Math.Max(0, skipBlocks) + random.Next(2000)));
                }
            }
            else
            {
                if (random.Next(3) > 0)
                {
                    operands.Add("count=" + random.NextInt64(0, blocks + 3));
                }

                if (random.Next(3) > 0)
                {
                    operands.Add("skip=" + random.NextInt64(0, blocks + 2));
                }
            }

            string format = random.Next(2) == 0 ? "raw" : "qcow2";
            string theirs = _dir.File($"theirs{round}.{format}");
            string ours = _dir.File($"ours{round}.{format}");
            string context = $"seed {seed} round {round}: dd -O {format} {string.Join(' ', operands)}";
            CliResult expected = QemuImg(["dd", "-f", "qcow2", "-O", format, .. operands, "if=" + input, "of=" + theirs]);
            CliResult actual = Run(["dd", "-f", "qcow2", "-O", format, .. operands, "if=" + input, "of=" + ours]);
            Assert.True(expected.ToString() == actual.ToString(), $"{context}\nqemu-img: {expected}\ndiskimage: {actual}");
            Assert.True(File.Exists(ours), context);
            if (format == "raw")
            {
                Assert.True(File.ReadAllBytes(theirs).AsSpan().SequenceEqual(File.ReadAllBytes(ours)), context);
            }
            else
            {
                Assert.True(QemuImg("check", ours).ExitCode == 0, context);
                CliResult compare = QemuImg("compare", "-f", "qcow2", "-F", "qcow2", theirs, ours);
                Assert.True(compare.ExitCode == 0, $"{context}\n{compare}");
                Assert.True(VirtualSize(theirs) == VirtualSize(ours), context);
            }
        }
    }

    [SkippableFact]
    public void Dd_OperandErrors_SameAsQemuImg()
    {
        Oracle.Require("qemu-img");
        string input = _dir.File("in.raw");
        File.WriteAllBytes(input, new byte[64 * 1024]);
        string output = _dir.File("out.raw");
        string[][] cases =
        [
            ["dd", "if=" + input],
            ["dd", "of=" + output],
            ["dd", "bs=0", "if=" + input, "of=" + output],
            ["dd", "bs=4G", "if=" + input, "of=" + output],
            ["dd", "count=-1", "if=" + input, "of=" + output],
            ["dd", "skip=x", "if=" + input, "of=" + output],
            ["dd", "if=" + input, "of=" + output, "extra"],
            ["dd", "if=" + input, "of=" + output, "foo=1"],
            ["dd", "-O", "bogus", "if=" + input, "of=" + output],
            ["dd", "if=" + _dir.File("missing.raw"), "of=" + output],
            ["dd", "bs=4k", "count=10", "skip=20", "if=" + input, "of=" + output],
        ];
        foreach (string[] args in cases)
        {
            CliResult expected = QemuImg(args);
            bool theirsExists = File.Exists(output);
            File.Delete(output);
            CliResult actual = Run(args);
            Assert.True(expected.ToString() == actual.ToString(), $"{string.Join(' ', args)}\nqemu-img: {expected}\ndiskimage: {actual}");
            Assert.Equal(theirsExists, File.Exists(output));
            File.Delete(output);
        }
    }

    [SkippableFact]
    public void Dd_OutputIsTheInputOrItsBacking_RefusedAndInputUnchanged()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string input = MakeChainedInput();
        string backing = _dir.File("base.qcow2");
        string link = _dir.File("alias.qcow2");
        File.CreateSymbolicLink(link, input);
        byte[] inputBefore = File.ReadAllBytes(input);
        byte[] backingBefore = File.ReadAllBytes(backing);
        foreach (string target in (string[])[input, link, backing, "/proc/self/fd/../../../" + input.TrimStart('/')])
        {
            CliResult r = Run("dd", "-O", "qcow2", "bs=4k", "count=2", "if=" + input, "of=" + target);
            Assert.True(r.ExitCode == 1 && r.StandardError.Contains("Failed to get \"write\" lock", StringComparison.Ordinal), $"{target}: {r}");
            Assert.Equal(inputBefore, File.ReadAllBytes(input));
            Assert.Equal(backingBefore, File.ReadAllBytes(backing));
        }
    }

    [SkippableFact]
    public void Convert_RawOfOddLengthToQcow2_RoundedUpAsQemuImg()
    {
        Oracle.Require("qemu-img");
        string input = _dir.File("odd.raw");
        var bytes = new byte[1000];
        new Random(3).NextBytes(bytes);
        File.WriteAllBytes(input, bytes);
        QemuImgOk("convert", "-O", "qcow2", input, _dir.File("theirs.qcow2"));
        RunOk("convert", "-O", "qcow2", input, _dir.File("ours.qcow2"));
        Assert.Equal(0, QemuImg("check", _dir.File("ours.qcow2")).ExitCode);
        CliResult compare = QemuImg("compare", _dir.File("theirs.qcow2"), _dir.File("ours.qcow2"));
        Assert.True(compare.ExitCode == 0, compare.ToString());
        Assert.Equal(1024, VirtualSize(_dir.File("ours.qcow2")));
    }

    /// <summary>A qcow2 overlay of 1 MiB + 3.5 KiB over a qcow2 backing file, with data, zeros and holes in both.</summary>
    private string MakeChainedInput()
    {
        string backing = _dir.File("base.qcow2");
        string input = _dir.File("in.qcow2");
        if (File.Exists(input))
        {
            return input;
        }

        QemuImgOk("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", backing, "1052160");
        QemuIo(backing, "qcow2", "write -P 0x11 0 300k", "write -P 0x22 700k 200k", "write -P 0x33 1048576 3584");
        QemuImgOk("create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", backing, input);
        QemuIo(input, "qcow2", "write -P 0x44 100k 8k", "write -z 200k 64k", "write -P 0x55 990k 30k");
        return input;
    }

    private static long VirtualSize(string image)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(QemuImgOk("info", "--output=json", image).StandardOutput);
        return doc.RootElement.GetProperty("virtual-size").GetInt64();
    }

    private static long Size(string text) => text switch
    {
        "1k" => 1024,
        "1.5k" => 1536,
        "64k" => 65536,
        "1M" => 1L << 20,
        "2M" => 2L << 20,
        _ => long.Parse(text, System.Globalization.CultureInfo.InvariantCulture),
    };
}
