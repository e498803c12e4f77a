using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>diskimage create -f raw -o preallocation=falloc|full</c> against qemu-img 7.2: the same
/// output and exit code, the same <c>qemu-img map</c> (falloc: the first 4 KiB written, the rest
/// allocated and reading as zeros; full: all data), the same size and allocated blocks (<c>du</c>);
/// <c>metadata</c> and unknown modes fail with qemu-img's messages.
/// </summary>
public sealed class RawPreallocationParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [SkippableTheory]
    [InlineData("falloc", "1000k")]
    [InlineData("full", "1000k")]
    [InlineData("falloc", "3M")]
    [InlineData("metadata", "1M")]
    [InlineData("bogus", "1M")]
    public void Create_RawPreallocation_SameAsQemuImg(string mode, string size)
    {
        Oracle.Require("qemu-img");
        string theirs = _dir.File("theirs.raw");
        string ours = _dir.File("ours.raw");
        CliResult expected = QemuImg("create", "-f", "raw", "-o", "preallocation=" + mode, theirs, size);
        CliResult actual = Run("create", "-f", "raw", "-o", "preallocation=" + mode, ours, size);
        Assert.Equal(expected.ToString().Replace(theirs, "IMG", StringComparison.Ordinal), actual.ToString().Replace(ours, "IMG", StringComparison.Ordinal));
        Assert.Equal(File.Exists(theirs), File.Exists(ours));
        if (!File.Exists(theirs))
        {
            return;
        }

        Assert.Equal(new FileInfo(theirs).Length, new FileInfo(ours).Length);
        Assert.Equal(QemuImg("map", "-f", "raw", "--output=json", theirs).StandardOutput, QemuImg("map", "-f", "raw", "--output=json", ours).StandardOutput);
        Assert.Equal(Oracle.RunOk("du", "-k", theirs).StandardOutput.Split('\t')[0], Oracle.RunOk("du", "-k", ours).StandardOutput.Split('\t')[0]);
    }
}
