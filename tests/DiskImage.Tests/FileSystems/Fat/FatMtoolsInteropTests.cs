using DiskImage.FileSystems;
using DiskImage.FileSystems.Fat;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Fat;

/// <summary>
/// Images from <c>mkfs.fat</c> (dosfstools 4.2) filled by <c>mcopy</c> (mtools 4.0.32) read back identically:
/// the tree equals the <c>mcopy -s</c> extraction (names, directories, content), and the names, sizes and
/// times equal what <c>mdir</c> lists.
/// </summary>
public sealed class FatMtoolsInteropTests
{
    public static TheoryData<int, int> Types() => new() { { 12, 8 }, { 16, 40 }, { 32, 80 } };

    [SkippableTheory]
    [MemberData(nameof(Types))]
    public void Read_MkfsFatFilledByMcopy_EqualsMcopyExtraction(int bits, int mebibytes)
    {
        using var tmp = new TempDirectory();
        string image = tmp.File("fat.img");
        FatTestImages.MkfsFat(image, mebibytes, bits, "-n", "ESP");
        int clusterSize;
        using (FatFileSystem probe = FatTestImages.Open(image))
        {
            clusterSize = probe.ClusterSize;
            Assert.Equal((FatType)bits, probe.Type);
            Assert.Equal("ESP", probe.Label);
            Assert.Equal(0x1234ABCDu, probe.VolumeId);
        }

        string src = tmp.File("src");
        FatTestImages.WriteSampleTree(src, clusterSize, bits);
        FatTestImages.McopyIn(image, src);
        string extracted = tmp.File("out");
        FatTestImages.McopyOut(image, extracted);
        SortedDictionary<string, string> expected = FatTestImages.HostTree(extracted);
        FatTestImages.AssertSameTree(FatTestImages.HostTree(src), expected, "mcopy round trip (sanity of the oracle)");

        using FatFileSystem fs = FatTestImages.Open(image);
        FatTestImages.AssertSameTree(expected, FatTestImages.Tree(fs), $"FAT{bits}: our reading vs mcopy -s extraction");

        // Times: mcopy -m keeps the host mtime, stored with 2-second precision (UTC here).
        string hostFile = Path.Combine(src, "A long directory name", "size 1 bytes.bin");
        long hostSeconds = new DateTimeOffset(File.GetLastWriteTimeUtc(hostFile)).ToUnixTimeSeconds();
        UnixFileInfo e = fs.GetEntry("/A long directory name/size 1 bytes.bin");
        Assert.Equal(hostSeconds & ~1L, e.ModificationTime.Seconds);
        Assert.Equal(e.ModificationTime, e.ChangeTime);

        // Lookups are case-insensitive and find the 8.3 alias.
        Assert.True(fs.Exists("/efi/boot/bootx64.efi"));
        Assert.True(fs.Exists("/ALONGD~1/SIZE1B~1.BIN"));
        Assert.Equal((UnixFileMode)0x1ED, fs.GetEntry("/Makefile").Mode);
    }

    [SkippableTheory]
    [MemberData(nameof(Types))]
    public void Read_McopyImage_ListsAsMdir(int bits, int mebibytes)
    {
        using var tmp = new TempDirectory();
        string image = tmp.File("fat.img");
        FatTestImages.MkfsFat(image, mebibytes, bits);
        string src = tmp.File("src");
        FatTestImages.WriteSampleTree(src, 2048, bits + 1);
        FatTestImages.McopyIn(image, src);

        // mdir -a: "NAME EXT size date time longname", the long name column only when there is one.
        ToolResult r = FatTestImages.Mtools("mdir", "-a", "-i", image, "::/A long directory name");
        Assert.Equal(0, r.ExitCode);
        using FatFileSystem fs = FatTestImages.Open(image);
        int files = 0;
        foreach (UnixFileInfo e in fs.EnumerateDirectory("/A long directory name"))
        {
            string line = r.StandardOutput.Split('\n').Single(l => l.EndsWith(" " + e.Name, StringComparison.Ordinal) || l.StartsWith(e.Name + " ", StringComparison.OrdinalIgnoreCase));
            if (!e.IsDirectory)
            {
                Assert.Contains(" " + e.Size.ToString(System.Globalization.CultureInfo.InvariantCulture) + " ", line, StringComparison.Ordinal);
                files++;
            }

            DateTime t = DateTime.UnixEpoch.AddSeconds(e.ModificationTime.Seconds);
            // mdir prints the hour space-padded ("2026-12-08   0:08"), not zero-padded.
            string stamp = t.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) + "  "
                + t.Hour.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(2) + ":"
                + t.ToString("mm", System.Globalization.CultureInfo.InvariantCulture);
            Assert.Contains(stamp, line, StringComparison.Ordinal);
        }

        Assert.Equal(5, files);
    }
}
