using System.Globalization;
using DiskImage.FileSystems.Host;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.Infrastructure;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// The XFS builder gathers blocks laid out one after the other (file data, directory and attribute blocks) into large
/// positional writes instead of one device write per file; what it writes must still read back byte for byte.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class XfsBuildWriteBatchingTests
{
    private const int Seed = 20261207;

    [Fact]
    public void Build_HostTreeOfSmallFiles_GathersWritesAndReadsBack()
    {
        using var temp = new TempDirectory();
        string root = temp.File("tree");
        var rng = new Random(Seed);
        var expected = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (int d = 0; d < 10; d++)
        {
            Directory.CreateDirectory(Path.Combine(root, "d" + d.ToString(CultureInfo.InvariantCulture)));
        }

        for (int i = 0; i < 300; i++)
        {
            byte[] data = new byte[rng.Next(1, 6 * 1024)];
            rng.NextBytes(data);
            string rel = string.Create(CultureInfo.InvariantCulture, $"/d{i % 10}/f{i:D3}");
            File.WriteAllBytes(root + rel, data);
            expected[rel] = data;
        }

        using var source = new HostDirectoryFileSystem(root);
        XfsBuildOptions options = XfsBuildTests.Options();
        long size = XfsFileSystem.ComputeBuildSize(source, options);
        var memory = new MemoryBlockDevice(checked((int)size));
        using (var counting = new FaultInjectingBlockDevice(memory, leaveOpen: true))
        {
            XfsFileSystem.Build(counting, source, options);

            // One write per file (300) before gathering; now a handful: gathered runs, inode chunks, AG headers, log, superblocks.
            Assert.True(counting.WriteCount <= 100, $"seed {Seed}: {counting.WriteCount} device writes for 300 files and 11 directories");
        }

        using XfsFileSystem fs = XfsFileSystem.Open(memory);
        foreach ((string path, byte[] data) in expected)
        {
            using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
            using var copy = new MemoryStream();
            s.CopyTo(copy);
            Assert.True(data.AsSpan().SequenceEqual(copy.ToArray()), $"seed {Seed}: {path} reads back different bytes");
        }
    }
}
