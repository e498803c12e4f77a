using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>diskimage amend</c> against <c>qemu-img amend</c> (Debian qemu-utils 7.2): compat upgrades and
/// lazy refcounts give the same <c>qemu-img info</c>, a clean <c>qemu-img check</c> and the same guest
/// view; what diskimage does not do (a size change) is refused with the image unchanged. Downgrades and
/// refcount widths: <see cref="AmendRebuildParityTests"/>.
/// </summary>
public sealed class AmendParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [SkippableTheory]
    [InlineData("compat=0.10", "compat=1.1")]
    [InlineData("compat=0.10", "compat=v3,lazy_refcounts=on")]
    [InlineData("compat=1.1", "lazy_refcounts=on")]
    [InlineData("compat=1.1,lazy_refcounts=on", "lazy_refcounts=off")]
    [InlineData("compat=1.1", "compat=1.1,refcount_bits=16")]
    public void Amend_Options_SameImageAsQemuImg(string create, string amend)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string backing = _dir.File("base.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", backing, "1M");
        QemuIo(backing, "qcow2", "write -P 1 0 128k");
        string theirs = Make("theirs.qcow2", create);
        string ours = Make("ours.qcow2", create);

        CliResult expected = QemuImg("amend", "-o", amend, theirs);
        CliResult actual = Run("amend", "-o", amend, ours);
        Assert.True(expected.ToString() == actual.ToString(), $"qemu-img: {expected}\ndiskimage: {actual}");
        Assert.Equal(Info(theirs), Info(ours));
        Assert.Equal(0, QemuImg("check", ours).ExitCode);
        Assert.Equal(0, QemuImg("compare", theirs, ours).ExitCode);
        QemuIo(ours, "qcow2", "write -P 3 1M 64k");
        Assert.Equal(0, QemuImg("check", ours).ExitCode);
    }

    [SkippableFact]
    public void Amend_ErrorsAndRefusals_ImageUnchanged()
    {
        Oracle.Require("qemu-img");
        string v2 = Make("v2.qcow2", "compat=0.10");
        string v3 = Make("v3.qcow2", "compat=1.1");
        string[][] parity =
        [
            ["amend", v3],
            ["amend", "-o", "lazy_refcounts=on", v2],
            ["amend", "-o", "bogus=1", v3],
            ["amend", "-o", "cluster_size=4k", v3],
            ["amend", "-t", "bogus", "-o", "lazy_refcounts=on", v3],
            ["amend", "-o", "lazy_refcounts=on"],
        ];
        byte[] before2 = File.ReadAllBytes(v2);
        byte[] before3 = File.ReadAllBytes(v3);
        foreach (string[] args in parity)
        {
            CliResult actual = Run(args);
            CliResult expected = QemuImg(args);
            Assert.True(expected.ToString() == actual.ToString(), $"{string.Join(' ', args)}\nqemu-img: {expected}\ndiskimage: {actual}");
            Assert.Equal(before2, File.ReadAllBytes(v2));
            Assert.Equal(before3, File.ReadAllBytes(v3));
        }

        foreach (string option in (string[])["size=4M"])
        {
            CliResult r = Run("amend", "-o", option, v3);
            Assert.True(r.ExitCode == 1 && r.StandardError.Contains("not supported by diskimage", StringComparison.Ordinal), $"{option}: {r}");
            Assert.Equal(before3, File.ReadAllBytes(v3));
        }
    }

    private string Make(string name, string create)
    {
        string path = _dir.File(name);
        bool withBacking = File.Exists(_dir.File("base.qcow2"));
        QemuImgOk(withBacking
            ? ["create", "-q", "-f", "qcow2", "-o", create, "-b", "base.qcow2", "-F", "qcow2", path, "2M"]
            : ["create", "-q", "-f", "qcow2", "-o", create, path, "2M"]);
        QemuIo(path, "qcow2", "write -P 2 64k 64k");
        return path;
    }

    private string Info(string image) =>
        WithoutLines(QemuImgOk("info", "--output=json", image).StandardOutput, "\"actual-size\"", "\"filename\"").Replace(_dir.Path, "DIR", StringComparison.Ordinal);
}
