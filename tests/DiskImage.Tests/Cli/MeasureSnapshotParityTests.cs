using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>diskimage measure -l snapshot</c> against <c>qemu-img measure -l</c> (Debian qemu-utils 7.2):
/// the snapshot named by <c>snapshot.id</c>/<c>snapshot.name</c> or by a plain ID or name is measured
/// in an image of the current size (it was resized after the first snapshot), through the backing
/// file; the messages of the refusals and exit codes are the same.
/// </summary>
public sealed class MeasureSnapshotParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public MeasureSnapshotParityTests()
    {
        if (Oracle.Find("qemu-img") is null || Oracle.Find("qemu-io") is null)
        {
            return; // the test skips (or fails when oracles are required)
        }

        string backing = _dir.File("base.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", backing, "4M");
        QemuIo(backing, "qcow2", "write -P 3 2M 1M");
        string image = _dir.File("img.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", image, "4M");
        QemuIo(image, "qcow2", "write -P 1 0 512k", "write -z 512k 256k", "write -c -P 2 1M 128k");
        QemuImgOk("snapshot", "-c", "s1", image);
        QemuIo(image, "qcow2", "write -P 1 3M 512k");
        QemuImgOk("resize", "-q", image, "8M");
        QemuImgOk("snapshot", "-c", "s2", image);
        QemuIo(image, "qcow2", "write -P 4 6M 64k");
        QemuImgOk("create", "-q", "-f", "raw", _dir.File("img.raw"), "1M");
    }

    public void Dispose() => _dir.Dispose();

    [SkippableTheory]
    [InlineData("-O qcow2 -l s1 img.qcow2")]
    [InlineData("-O qcow2 -l 1 img.qcow2")]
    [InlineData("-O qcow2 -l s2 img.qcow2")]
    [InlineData("-O qcow2 -l snapshot.name=s1 img.qcow2")]
    [InlineData("-O qcow2 -l snapshot.id=2 --output=json img.qcow2")]
    [InlineData("-O qcow2 -l snapshot.id=1,snapshot.name=s1 -o cluster_size=4k img.qcow2")]
    [InlineData("-O qcow2 -l s2 -l s1 -o compat=0.10 img.qcow2")]
    [InlineData("-O raw -l 1 --output=json img.qcow2")]
    [InlineData("-O qcow2 -l snapshot.id=2,snapshot.name=s1 img.qcow2")]
    [InlineData("-O qcow2 -l snapshot.name=s1,foo=1 img.qcow2")]
    [InlineData("-l nope img.qcow2")]
    [InlineData("-l s1 img.raw")]
    [InlineData("--size 1M -l s1 img.qcow2")]
    [InlineData("-l s1")]
    [InlineData("-f qcow2")]
    public void Measure_Snapshot_SameAsQemuImg(string arguments)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string[] args = ["measure", .. arguments.Split(' ')];
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i].StartsWith("img.", StringComparison.Ordinal))
            {
                args[i] = _dir.File(args[i]);
            }
        }

        CliResult expected = QemuImg(args);
        CliResult actual = Run(args);
        Assert.True(expected.ToString() == actual.ToString(), $"{arguments}\nqemu-img: {expected}\ndiskimage: {actual}");
    }
}
