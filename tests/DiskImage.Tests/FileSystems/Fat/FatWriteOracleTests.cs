using DiskImage.FileSystems;
using DiskImage.FileSystems.Fat;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Fat;

/// <summary>
/// What we write is judged by dosfstools 4.2 and mtools 4.0.32: randomized operation sequences (fixed seeds,
/// mirrored on the in-memory model) leave an image that <c>fsck.fat -n</c> finds clean (its output is read:
/// no change proposed) and that <c>mcopy -s</c> extracts to exactly the model's tree.
/// </summary>
public sealed class FatWriteOracleTests
{
    private readonly Xunit.Abstractions.ITestOutputHelper _output;

    public FatWriteOracleTests(Xunit.Abstractions.ITestOutputHelper output) => _output = output;

    public static TheoryData<int, int, int, bool> Cases() => new()
    {
        { 12, 8, 1, false },
        { 12, 8, 2, true },
        { 16, 40, 3, false },
        { 16, 40, 4, true },
        { 32, 80, 5, false },
        { 32, 80, 6, true },
    };

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void RandomSequence_FsckCleanAndMcopyExtractsModelTree(int bits, int mebibytes, int seed, bool mkfsFat)
    {
        Oracle.Require("fsck.fat");
        Oracle.Require("mcopy");
        using var tmp = new TempDirectory();
        string image = tmp.File("fat.img");
        if (mkfsFat)
        {
            FatTestImages.MkfsFat(image, mebibytes, bits);
        }
        else
        {
            using (var f = new FileStream(image, FileMode.Create))
            {
                f.SetLength((long)mebibytes << 20);
            }

            using FileBlockDevice dev = FileBlockDevice.Open(image, writable: true);
            FatFileSystem.Format(dev, new FatFormatOptions { Type = (FatType)bits, Label = "RANDOM" });
        }

        using var model = new InMemoryFileSystem();
        var ops = new FatRandomOperations(seed, model, 64 << 10, bits != 32);
        var clock = new UnixTime(1_700_000_000, 0);
        try
        {
            using (FatFileSystem fs = FatFileSystem.Open(FileBlockDevice.Open(image, writable: true), new FatOpenOptions { Writable = true, Clock = () => clock }))
            {
                Assert.Equal((FatType)bits, fs.Type);
                ops.Run(fs, 150);
                FatTestImages.AssertSameTree(FatTestImages.Tree(model), FatTestImages.Tree(fs), "while open");
            }

            using (FatFileSystem reopened = FatTestImages.Open(image))
            {
                FatTestImages.AssertSameTree(FatTestImages.Tree(model), FatTestImages.Tree(reopened), "reopened");
            }

            _output.WriteLine(FatTestImages.FsckClean(image));
            string extracted = tmp.File("out");
            FatTestImages.McopyOut(image, extracted);
            FatTestImages.AssertSameTree(FatTestImages.Tree(model), FatTestImages.HostTree(extracted), "mcopy -s extraction vs model");
        }
        catch (Exception) when (Log(ops, bits, seed))
        {
            throw;
        }
    }

    [SkippableFact]
    public void Create_NamesOfEveryKind_MdirShowsTheAliasesMtoolsWouldChoose()
    {
        using var tmp = new TempDirectory();
        string image = tmp.File("fat.img");
        FatTestImages.MkfsFat(image, 8, 12);
        using (FatFileSystem fs = FatTestImages.Open(image, writable: true))
        {
            foreach (string name in new[] { "hello.txt", "Makefile", "A long file name.txt", "x.y.z", "a+b.txt", "long name 1.txt", "long name 2.txt" })
            {
                ConformanceWrite(fs, "/" + name);
            }
        }

        FatTestImages.FsckClean(image);
        ToolResult r = FatTestImages.Mtools("mdir", "-i", image, "::/");
        string listing = r.StandardOutput;
        Assert.Contains("hello    txt", listing, StringComparison.Ordinal);
        Assert.Contains("MAKEFILE ", listing, StringComparison.Ordinal);
        Assert.Contains("ALONGF~1 TXT", listing, StringComparison.Ordinal);
        Assert.Contains("XY~1     Z", listing, StringComparison.Ordinal);
        Assert.Contains("A_B~1    TXT", listing, StringComparison.Ordinal);
        Assert.Contains("LONGNA~1 TXT", listing, StringComparison.Ordinal);
        Assert.Contains("LONGNA~2 TXT", listing, StringComparison.Ordinal);
        Assert.Contains("  A long file name.txt", listing, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_FixedRootFull_ThrowsIOExceptionAndStaysConsistent()
    {
        using var dev = new MemoryBlockDevice(40 << 20);
        FatFileSystem.Format(dev, new FatFormatOptions { Type = FatType.Fat16, RootEntries = 16 });
        using FatFileSystem fs = FatFileSystem.Open(dev, new FatOpenOptions { Writable = true }, leaveOpen: true);
        int created = 0;
        IOException e = Assert.Throws<IOException>(() =>
        {
            for (; created < 1000; created++)
            {
                ConformanceWrite(fs, $"/F{created}");
            }
        });
        Assert.Contains("root directory is full", e.Message, StringComparison.Ordinal);
        Assert.Equal(64, created); // 16 entries rounded up to a whole 4-sector cluster, as mkfs.fat aligns; 8.3 names take one slot
        Assert.Throws<IOException>(() => fs.CreateDirectory("/d"));
        Assert.Equal(64, fs.EnumerateDirectory("/").Count());
        fs.Delete("/F3");
        ConformanceWrite(fs, "/G");
        Assert.Equal(new byte[] { 1, 2, 3 }, FatTestImagesRead(fs, "/G"));
        Assert.Equal(fs.ClusterCount - 64, fs.FreeClusters);
    }

    private static byte[] FatTestImagesRead(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    private static void ConformanceWrite(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.CreateNew, FileAccess.Write);
        s.Write([1, 2, 3]);
    }

    private bool Log(FatRandomOperations ops, int bits, int seed)
    {
        _output.WriteLine($"FAT{bits} seed {seed}; operations:\n" + string.Join("\n", ops.Log));
        return false;
    }
}
