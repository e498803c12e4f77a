using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>Self-contained round trips on memory hosts (no oracle needed); the oracle tests judge the bytes.</summary>
public sealed class Qcow2MemoryTests
{
    [Theory]
    [InlineData(3, 65536, 16, false, Qcow2CompressionType.Deflate)]
    [InlineData(2, 4096, 16, false, Qcow2CompressionType.Deflate)]
    [InlineData(3, 512, 1, false, Qcow2CompressionType.Zstd)]
    [InlineData(3, 16384, 64, true, Qcow2CompressionType.Zstd)]
    public void WriteReadReopen_MemoryHost_RoundTrips(int version, int clusterSize, int refcountBits, bool extendedL2, Qcow2CompressionType compression)
    {
        var host = new MemoryBlockDevice(0);
        var options = new Qcow2CreateOptions { Version = version, ClusterSize = clusterSize, RefcountBits = refcountBits, ExtendedL2 = extendedL2, CompressionType = compression };
        var rng = new Random(clusterSize);
        byte[] expected = new byte[3 << 20];
        using (Qcow2Image image = Qcow2Image.Create(host, expected.Length, options, leaveOpen: true))
        {
            for (int i = 0; i < 60; i++)
            {
                long off = rng.NextInt64(expected.Length - 1);
                int len = (int)Math.Min(expected.Length - off, rng.Next(1, 3 * clusterSize));
                if (i % 5 == 4)
                {
                    image.Content.WriteZeroes(off, len);
                    Array.Clear(expected, (int)off, len);
                    continue;
                }

                byte[] data = new byte[len];
                Qcow2WriteInteropTests.FillPattern(rng, data);
                image.Content.Write(off, data);
                data.CopyTo(expected, off);
            }

            // A compressed cluster into an unallocated one, when there is one left.
            for (long c = 0; c < expected.Length / clusterSize; c++)
            {
                if (image.Content.GetAllocation(c * clusterSize, clusterSize).Kind == AllocationKind.Unallocated)
                {
                    byte[] cluster = new byte[clusterSize];
                    cluster.AsSpan(0, clusterSize / 2).Fill(7);
                    byte[] packed = new byte[clusterSize];
                    Assert.True(Qcow2Compression.TryCompress(compression, cluster, packed, out int n));
                    image.WriteCompressedCluster(c * clusterSize, packed.AsSpan(0, n));
                    cluster.CopyTo(expected, c * clusterSize);
                    Assert.Throws<InvalidOperationException>(() => image.WriteCompressedCluster(c * clusterSize, packed.AsSpan(0, n)));
                    break;
                }
            }

            byte[] now = new byte[expected.Length];
            image.Content.ReadExactly(0, now);
            Assert.True(expected.AsSpan().SequenceEqual(now));
        }

        using Qcow2Image reopened = Qcow2Image.Open(host, new DiskImageOpenOptions { Writable = true }, leaveOpen: true);
        Assert.Equal(version, reopened.Version);
        Assert.Equal(clusterSize, reopened.ClusterSize);
        byte[] actual = new byte[expected.Length];
        reopened.Content.ReadExactly(0, actual);
        Assert.True(expected.AsSpan().SequenceEqual(actual));
    }

    [Fact]
    public void Compression_IncompressibleCluster_ReturnsFalse()
    {
        byte[] cluster = new byte[65536];
        new Random(1).NextBytes(cluster);
        byte[] dest = new byte[65536];
        Assert.False(Qcow2Compression.TryCompress(Qcow2CompressionType.Deflate, cluster, dest, out _));
        Assert.False(Qcow2Compression.TryCompress(Qcow2CompressionType.Zstd, cluster, dest, out _));
        Assert.False(Qcow2Compression.TryCompress(Qcow2CompressionType.Zstd, new byte[4096], new byte[4], out _));
    }

    [Theory]
    [InlineData(Qcow2CompressionType.Deflate)]
    [InlineData(Qcow2CompressionType.Zstd)]
    public void Compression_RoundTrip_ToleratesTrailingBytesAndRejectsShortStreams(Qcow2CompressionType type)
    {
        byte[] cluster = new byte[65536];
        cluster.AsSpan(100, 5000).Fill(3);
        byte[] packed = new byte[70000];
        Assert.True(Qcow2Compression.TryCompress(type, cluster, packed, out int n));
        new Random(2).NextBytes(packed.AsSpan(n, 600)); // the next compressed cluster's bytes
        byte[] back = new byte[65536];
        Qcow2Compression.Decompress(type, packed.AsSpan(0, n + 600), back);
        Assert.True(cluster.AsSpan().SequenceEqual(back));
        Assert.Throws<InvalidDataException>(() => Qcow2Compression.Decompress(type, packed.AsSpan(0, n / 2), back));
        Assert.Throws<InvalidDataException>(() => Qcow2Compression.Decompress(type, new byte[512], back));
        Assert.Throws<InvalidDataException>(() => Qcow2Compression.Decompress(type, packed.AsSpan(0, n), new byte[131072]));
    }

    [Fact]
    public void Create_ContradictoryOptions_Throw()
    {
        var host = new MemoryBlockDevice(0);
        Assert.Throws<ArgumentException>(() => Qcow2Image.Create(host, 1 << 20, new Qcow2CreateOptions { Version = 2, CompressionType = Qcow2CompressionType.Zstd }));
        Assert.Throws<ArgumentException>(() => Qcow2Image.Create(host, 1 << 20, new Qcow2CreateOptions { ExtendedL2 = true, ClusterSize = 4096 }));
        Assert.Throws<ArgumentException>(() => Qcow2Image.Create(host, 1 << 20, new Qcow2CreateOptions { BackingFile = "x.qcow2" }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Qcow2Image.Create(host, 1000));
    }
}
