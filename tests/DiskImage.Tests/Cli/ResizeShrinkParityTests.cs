using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>diskimage resize --shrink</c> against <c>qemu-img resize --shrink</c> (Debian qemu-utils 7.2)
/// over data: the clusters past the new end are discarded (snapshots keep theirs), the file ends
/// after its last cluster in use; a version 2 image with snapshots cannot be resized. Twin images
/// must give the same messages and exit codes, <c>qemu-img info</c>, a clean <c>qemu-img check</c>,
/// the same guest view, the same snapshot view, and the same file size (one cluster more with a snapshot).
/// </summary>
public sealed class ResizeShrinkParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [SkippableTheory]
    [InlineData("qcow2", "", "write -P 1 0 4M", "", "--shrink|1M")]
    [InlineData("qcow2", "", "write -P 1 0 4M", "", "--shrink|-3000k")]
    [InlineData("qcow2", "", "write -P 1 0 4M|write -z 1M 1M", "write -P 2 0 64k", "--shrink|1000k")]
    [InlineData("qcow2", "cluster_size=4k", "write -P 1 0 20M|write -c -P 2 20M 64k", "", "--shrink|3M")]
    [InlineData("qcow2", "cluster_size=4k", "write -P 1 0 24M", "write -P 3 0 1M", "--shrink|3M")]
    [InlineData("qcow2", "extended_l2=on", "write -P 1 0 4M|write -z 1M 4k", "", "--shrink|1028k")]
    [InlineData("qcow2", "compat=0.10", "write -P 1 0 4M", "", "--shrink|1M")]
    [InlineData("qcow2", "compat=0.10", "write -P 1 0 4M", "write -P 2 0 64k", "--shrink|1M")]
    [InlineData("qcow2", "compat=0.10", "write -P 1 0 4M", "write -P 2 0 64k", "64M")]
    [InlineData("qcow2", "", "write -P 1 0 4M", "", "1M")]
    [InlineData("raw", "", "write -P 1 0 4M", "", "--shrink|1M")]
    [InlineData("raw", "", "write -P 1 0 4M", "", "--shrink|1000k")]
    public void Resize_Shrink_SameAsQemuImg(string format, string create, string commands, string afterSnapshot, string resize)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string original = _dir.File("original." + format);
        QemuImgOk(create.Length == 0
            ? ["create", "-q", "-f", format, original, "32M"]
            : ["create", "-q", "-f", format, "-o", create, original, "32M"]);
        QemuIo(original, format, commands.Split('|'));
        if (afterSnapshot.Length > 0)
        {
            QemuImgOk("snapshot", "-c", "s1", original);
            QemuIo(original, format, afterSnapshot.Split('|'));
        }

        string theirs = _dir.File("theirs." + format);
        string ours = _dir.File("ours." + format);
        File.Copy(original, theirs);
        File.Copy(original, ours);
        string[] tail = resize.Split('|');
        CliResult expected = QemuImg(["resize", "-f", format, .. tail[..^1], theirs, tail[^1]]);
        CliResult actual = Run(["resize", "-f", format, .. tail[..^1], ours, tail[^1]]);
        Assert.True(expected.ToString() == actual.ToString(), $"{resize}\nqemu-img: {expected}\ndiskimage: {actual}");
        Assert.Equal(Info(theirs, format), Info(ours, format));
        // With a snapshot, the boundary L2 table is copied where our allocator puts it: one cluster more at most.
        long slack = afterSnapshot.Length > 0 && format == "qcow2" ? 65536 : 0;
        long size = new FileInfo(ours).Length;
        long expectedSize = new FileInfo(theirs).Length;
        Assert.True(size >= expectedSize && size <= expectedSize + slack, $"file size {size}, qemu-img's {expectedSize}");
        Assert.True(QemuImg("compare", "-f", format, "-F", format, theirs, ours).ExitCode == 0, "guest views differ");
        if (format == "qcow2")
        {
            CliResult check = QemuImg("check", ours);
            Assert.True(check.ExitCode == 0, check.ToString());
        }

        if (afterSnapshot.Length > 0)
        {
            string a = _dir.File("a.raw");
            string b = _dir.File("b.raw");
            QemuImgOk("convert", "-l", "snapshot.name=s1", "-O", "raw", theirs, a);
            QemuImgOk("convert", "-l", "snapshot.name=s1", "-O", "raw", ours, b);
            Assert.True(File.ReadAllBytes(a).AsSpan().SequenceEqual(File.ReadAllBytes(b)), "the snapshot's view differs from qemu-img's");
        }
    }

    private string Info(string image, string format) =>
        WithoutLines(QemuImg("info", "-f", format, "--output=json", image).StandardOutput, "\"actual-size\"", "\"filename\"").Replace(_dir.Path, "DIR", StringComparison.Ordinal);
}
