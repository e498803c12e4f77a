using System.Buffers.Binary;
using System.Diagnostics;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Fat;
using DiskImage.IO;

namespace DiskImage.Tests.FileSystems.Fat;

/// <summary>
/// Hostile FAT images: cluster chains that loop, leave the volume or link to free clusters, bad BPB numbers,
/// directories that contain themselves, LFN garbage, and seeded random mutations of the metadata. Each either
/// reads or throws <see cref="InvalidDataException"/> (or <see cref="NotSupportedException"/>), in bounded time.
/// </summary>
public sealed class FatHostileImageTests
{
    private const int Size = 4 << 20;

    [Theory]
    [InlineData(0x0B, 0, 2)] // bytes per sector 0
    [InlineData(0x0B, 0x01, 2)] // 513
    [InlineData(0x0D, 3, 1)] // sectors per cluster not a power of two
    [InlineData(0x0E, 0, 2)] // no reserved sector
    [InlineData(0x10, 0, 1)] // no FAT
    [InlineData(0x10, 9, 1)] // nine FATs
    [InlineData(0x11, 0x07, 1)] // root entries not a whole sector (FAT16: 512 → 519)
    [InlineData(0x13, 0xFF, 2)] // total sectors beyond the device
    [InlineData(0x15, 0x12, 1)] // media byte
    [InlineData(0x16, 0, 2)] // FAT size 0 on FAT16 means FAT32, with root entries: invalid
    [InlineData(0x16, 0xFF, 2)] // FAT size larger than the volume
    public void Open_BadBpbNumber_ThrowsInvalidDataException(int offset, int value, int width)
    {
        byte[] image = Populated(FatType.Fat16);
        if (width == 1)
        {
            image[offset] = (byte)value;
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(offset), offset == 0x0B && value == 1 ? (ushort)513 : value == 0xFF ? (ushort)0xFFFF : (ushort)value);
        }

        Assert.Throws<InvalidDataException>(() => WalkAll(image));
    }

    [Fact]
    public void Open_Fat32RootClusterOutsideVolume_ThrowsInvalidDataException()
    {
        byte[] image = Populated(FatType.Fat32);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x2C), 0x0FFFFFF0);
        Assert.Throws<InvalidDataException>(() => WalkAll(image));
    }

    [Theory]
    [InlineData(FatType.Fat12)]
    [InlineData(FatType.Fat16)]
    [InlineData(FatType.Fat32)]
    public void Read_ChainLoopsOrLeavesTheVolume_ThrowsInvalidDataException(FatType type)
    {
        // The first file of a fresh volume takes the first free clusters: 2, 3, 4 (FAT32: 3, 4, 5 after the root).
        uint first = type == FatType.Fat32 ? 3u : 2u;
        foreach (uint bad in new[] { first, 0u, 0xFFF0u })
        {
            byte[] image = Populated(type);
            SetFat(image, type, first + 2, bad == 0xFFF0u && type == FatType.Fat12 ? 0xFF0u : bad); // loop, free link, beyond the volume
            var sw = Stopwatch.StartNew();
            InvalidDataException e = Assert.Throws<InvalidDataException>(() => WalkAll(image));
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), e.Message);
        }
    }

    [Fact]
    public void Walk_DirectoryThatContainsItself_ThrowsInvalidDataException()
    {
        byte[] image = Populated(FatType.Fat16);
        using var dev = new MemoryBlockDevice(image, writable: false);
        using FatFileSystem fs = FatFileSystem.Open(dev);
        uint dirCluster = (uint)fs.GetEntry("/dir").Inode;

        // Point the subdirectory entry "/dir/sub" at /dir's own cluster.
        byte[] copy = (byte[])image.Clone();
        long dirOffset = DataOffset(copy) + ((dirCluster - 2) * (long)ClusterBytes(copy));
        for (int slot = 2; slot < 64; slot++)
        {
            int o = (int)dirOffset + (slot * 32);
            if (copy[o + 11] == 0x10 && copy[o] != '.')
            {
                BinaryPrimitives.WriteUInt16LittleEndian(copy.AsSpan(o + 26), (ushort)dirCluster);
            }
        }

        Assert.Throws<InvalidDataException>(() => WalkAll(copy));
    }

    [Fact]
    public void Read_LfnGarbage_IgnoredLikeLinux()
    {
        byte[] image = Populated(FatType.Fat16);
        var rng = new Random(11);
        long root = RootOffset(image);
        for (int slot = 0; slot < 40; slot++)
        {
            int o = (int)root + (slot * 32);
            if (image[o + 11] == 0x0F)
            {
                rng.NextBytes(image.AsSpan(o + 1, 10));
                image[o + 13] ^= (byte)rng.Next(1, 256);
            }
        }

        List<string> names = WalkAll(image);
        Assert.Contains("/ALONGF~1.TXT", names);
        Assert.DoesNotContain("/A long file name.txt", names);
    }

    [Theory]
    [InlineData(FatType.Fat12, 1)]
    [InlineData(FatType.Fat16, 2)]
    [InlineData(FatType.Fat32, 3)]
    public void SeededMutations_ReadOrInvalidData_BoundedTime(FatType type, int seed)
    {
        byte[] pristine = Populated(type);
        long[] regions = [0, FatOffset(pristine), RootOffset(pristine), DataOffset(pristine)];
        var rng = new Random(seed);
        var sw = Stopwatch.StartNew();
        int failures = 0;
        const int Iterations = 60;
        for (int i = 0; i < Iterations; i++)
        {
            byte[] image = (byte[])pristine.Clone();
            int n = rng.Next(1, 8);
            var mutations = new List<string>();
            for (int k = 0; k < n; k++)
            {
                long region = regions[rng.Next(regions.Length)];
                int at = (int)region + rng.Next(region == 0 ? 64 : 1024);
                image[at] = (byte)rng.Next(256);
                mutations.Add($"{at}={image[at]:X2}");
            }

            try
            {
                WalkAll(image);
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException)
            {
                failures++;
            }
            catch (Exception e)
            {
                Assert.Fail($"seed {seed} iteration {i} mutations {string.Join(",", mutations)}: {e}");
            }
        }

        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"took {sw.Elapsed}");
        Assert.InRange(failures, 1, Iterations - 1);
    }

    /// <summary>Opens, walks every directory (with the cycle guard copy-out uses) and reads every file.</summary>
    private static List<string> WalkAll(byte[] image)
    {
        using var dev = new MemoryBlockDevice(image, writable: false);
        using FatFileSystem fs = FatFileSystem.Open(dev);
        var names = new List<string>();
        var guard = new DirectoryCycleGuard();
        var stack = new Stack<UnixFileInfo>();
        stack.Push(fs.GetEntry("/"));
        guard.Enter(stack.Peek());
        byte[] buffer = new byte[65536];
        while (stack.Count > 0)
        {
            UnixFileInfo dir = stack.Pop();
            foreach (UnixFileInfo e in fs.EnumerateDirectory(dir.Path))
            {
                names.Add(e.Path);
                if (e.IsDirectory)
                {
                    guard.Enter(e);
                    stack.Push(e);
                }
                else
                {
                    using Stream s = fs.OpenFile(e.Path, FileMode.Open, FileAccess.Read);
                    while (s.Read(buffer) > 0)
                    {
                    }
                }
            }
        }

        return names;
    }

    private static byte[] Populated(FatType type)
    {
        int size = type == FatType.Fat32 ? 40 << 20 : type == FatType.Fat16 ? 8 << 20 : Size;
        var dev = new MemoryBlockDevice(size);
        FatFileSystem.Format(dev, new FatFormatOptions { Type = type, SectorsPerCluster = type == FatType.Fat16 ? 1 : null });
        using (FatFileSystem fs = FatFileSystem.Open(dev, new FatOpenOptions { Writable = true, Clock = () => new UnixTime(1_600_000_000, 0) }, leaveOpen: true))
        {
            int cluster = fs.ClusterSize;
            Write(fs, "/first.bin", (3 * cluster) - 10);
            Write(fs, "/A long file name.txt", 100);
            fs.CreateDirectory("/dir");
            fs.CreateDirectory("/dir/sub");
            Write(fs, "/dir/sub/deep file.dat", cluster + 1);
            for (int i = 0; i < 20; i++)
            {
                Write(fs, $"/dir/entry number {i}.txt", i * 50);
            }
        }

        byte[] bytes = new byte[size];
        dev.ReadExactly(0, bytes);
        dev.Dispose();
        return bytes;
    }

    private static void Write(IFileSystem fs, string path, int length)
    {
        using Stream s = fs.OpenFile(path, FileMode.CreateNew, FileAccess.Write);
        byte[] b = new byte[length];
        new Random(length).NextBytes(b);
        s.Write(b);
    }

    private static int ClusterBytes(byte[] image) => BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(0x0B)) * image[0x0D];

    private static long FatOffset(byte[] image) => (long)BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(0x0E)) * BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(0x0B));

    private static long FatSectors(byte[] image)
    {
        long s = BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(0x16));
        return s != 0 ? s : BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(0x24));
    }

    private static long RootOffset(byte[] image) => FatOffset(image) + (image[0x10] * FatSectors(image) * BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(0x0B)));

    private static long DataOffset(byte[] image) => RootOffset(image) + (BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(0x11)) * 32L);

    private static void SetFat(byte[] image, FatType type, uint n, uint value)
    {
        long fatBytes = FatSectors(image) * BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(0x0B));
        for (int f = 0; f < image[0x10]; f++)
        {
            int o = (int)(FatOffset(image) + (f * fatBytes));
            switch (type)
            {
                case FatType.Fat12:
                    int at = o + (int)(n + (n / 2));
                    ushort old = BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(at));
                    ushort nv = (n & 1) == 0 ? (ushort)((old & 0xF000u) | (value & 0xFFFu)) : (ushort)((old & 0xFu) | ((value & 0xFFFu) << 4));
                    BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(at), nv);
                    break;
                case FatType.Fat16:
                    BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(o + (int)(n * 2)), (ushort)value);
                    break;
                default:
                    BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(o + (int)(n * 4)), value);
                    break;
            }
        }
    }
}
