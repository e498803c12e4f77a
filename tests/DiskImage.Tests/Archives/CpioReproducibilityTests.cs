using System.Runtime.Versioning;
using System.Security.Cryptography;
using DiskImage.Archives.Cpio;

namespace DiskImage.Tests.Archives;

/// <summary>Same tree content → byte-identical images, whatever the on-disk times, inodes and enumeration order.</summary>
[SupportedOSPlatform("linux")]
public sealed class CpioReproducibilityTests
{
    public static TheoryData<InitramfsCompression> Compressions()
    {
        var data = new TheoryData<InitramfsCompression>();
        foreach (InitramfsCompression c in CpioTestSupport.WritableCompressions)
        {
            data.Add(c);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Compressions))]
    public void Write_SameTreeDifferentTimesInodesOrder_ByteIdentical(InitramfsCompression compression)
    {
        using var tmp = new TempDirectory();
        string a = tmp.File("a"), b = tmp.File("b"), ea = tmp.File("ea"), eb = tmp.File("eb");
        foreach (string d in new[] { a, b, ea, eb })
        {
            Directory.CreateDirectory(d);
        }

        CpioTestSupport.MakeTree(a, reverse: false, mtime: new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        CpioTestSupport.MakeTree(b, reverse: true, mtime: new DateTime(2031, 6, 1, 0, 0, 0, DateTimeKind.Utc));
        Directory.CreateDirectory(Path.Combine(ea, "kernel/x86/microcode"));
        Directory.CreateDirectory(Path.Combine(eb, "kernel/x86/microcode"));
        File.WriteAllBytes(Path.Combine(ea, "kernel/x86/microcode/AuthenticAMD.bin"), new byte[777]);
        File.WriteAllBytes(Path.Combine(eb, "kernel/x86/microcode/AuthenticAMD.bin"), new byte[777]);

        byte[] Build(string main, string early)
        {
            var options = new InitramfsWriteOptions
            {
                Compression = compression,
                Build = new() { Reproducible = true, ModificationTimeClamp = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero) },
            };
            using var ms = new MemoryStream();
            Initramfs.Write(ms, new HostDirectoryTreeSource(main), options, new HostDirectoryTreeSource(early));
            return ms.ToArray();
        }

        byte[] first = Build(a, ea);
        byte[] second = Build(b, eb);
        Assert.True(first.AsSpan().SequenceEqual(second), $"{compression}: {Convert.ToHexString(SHA256.HashData(first))} != {Convert.ToHexString(SHA256.HashData(second))}");

        // And the image reads back: both segments, microcode data 16-byte aligned, every entry clamped.
        using var reader = new InitramfsReader(new MemoryStream(first));
        int count = 0;
        while (reader.GetNextEntry() is { } e)
        {
            count++;
            Assert.True(e.ModificationTimeSeconds <= 1704067200, e.Name);
            if (e.Name.EndsWith(".bin", StringComparison.Ordinal) && reader.CurrentSegment!.Index == 0)
            {
                Assert.Equal(0, e.DataOffset % 16);
            }
        }

        Assert.Equal(2, reader.Segments.Count);
        Assert.True(count > 30);
    }

    [Fact]
    public void Write_SourceDateEpoch_ClampsTimes()
    {
        var tree = new InMemoryTreeSource();
        tree.AddFile("a/b.txt", "x"u8.ToArray()).ModificationTimeSeconds = 2_000_000_000;
        tree.AddFile("old.txt", "y"u8.ToArray()).ModificationTimeSeconds = 100;
        string? saved = Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
        try
        {
            Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", "1000");
            using var ms = new MemoryStream();
            CpioArchiveBuilder.Write(ms, tree, new CpioBuildOptions { Reproducible = true });
            ms.Position = 0;
            using var reader = new CpioReader(ms);
            var times = new Dictionary<string, uint>();
            while (reader.GetNextEntry() is { } e)
            {
                times[e.Name] = e.ModificationTimeSeconds;
            }

            Assert.Equal(1000u, times["a/b.txt"]);
            Assert.Equal(100u, times["old.txt"]);
            Assert.Equal(["a", "a/b.txt", "old.txt"], times.Keys);
        }
        finally
        {
            Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", saved);
        }
    }

    [Fact]
    public void Write_ZstdWorkerCounts_ByteIdentical()
    {
        var rng = new Random(99);
        var tree = new InMemoryTreeSource();
        for (int i = 0; i < 40; i++)
        {
            byte[] d = new byte[rng.Next(0, 200_000)];
            for (int j = 0; j < d.Length; j++)
            {
                d[j] = (byte)(rng.Next(8) + (j % 13));
            }

            tree.AddFile($"f{i}", d);
        }

        byte[] Build(int workers)
        {
            using var ms = new MemoryStream();
            Initramfs.Write(ms, tree, new InitramfsWriteOptions { Compression = InitramfsCompression.Zstd, ZstdWorkers = workers, Build = new() { Reproducible = true } });
            return ms.ToArray();
        }

        byte[] one = Build(1);
        Assert.Equal(one, Build(3));
        Assert.Equal(one, Build(8));
    }

    [Fact]
    public void Write_GzipWorkerCounts_ByteIdentical()
    {
        var rng = new Random(98);
        var tree = new InMemoryTreeSource();
        for (int i = 0; i < 30; i++)
        {
            byte[] d = new byte[rng.Next(0, 300_000)];
            for (int j = 0; j < d.Length; j++)
            {
                d[j] = (byte)(rng.Next(8) + (j % 13));
            }

            tree.AddFile($"f{i}", d);
        }

        byte[] Build(int workers)
        {
            using var ms = new MemoryStream();
            Initramfs.Write(ms, tree, new InitramfsWriteOptions { Compression = InitramfsCompression.Gzip, GzipWorkers = workers, Build = new() { Reproducible = true } });
            return ms.ToArray();
        }

        byte[] inline = Build(0);
        Assert.True(inline.Length > 0);
        Assert.Equal(inline, Build(1));
        Assert.Equal(inline, Build(2));
        Assert.Equal(inline, Build(8));
    }
}
