using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>diskimage amend</c> against <c>qemu-img amend</c> (Debian qemu-utils 7.2) for the options that
/// change more than the header: <c>compat=0.10</c> (zero clusters expanded or deallocated, feature
/// bits dropped) and <c>refcount_bits=N</c> (the refcount structure rebuilt). Twin images get the
/// same command from both tools; the messages and exit codes, <c>qemu-img info</c> and <c>qemu-img
/// check</c> must be the same, and the guest view and the snapshot's view must be those of the
/// image before the amend (where qemu-img 7.2 damages a snapshot, ours must stay clean instead).
/// </summary>
public sealed class AmendRebuildParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [SkippableTheory]
    // Downgrades: plain and preallocated zero clusters, with and without a backing file, in snapshots.
    [InlineData("", "write -P 1 0 192k|write -z 64k 64k|write -z -u 256k 64k", "", "compat=0.10")]
    [InlineData("backing", "write -P 1 0 64k|write -z 64k 64k|write -z -u 128k 64k|write -P 2 192k 64k|write -z 192k 64k", "", "compat=0.10")]
    [InlineData("backing", "write -P 1 0 64k|write -z 64k 64k", "write -z -u 128k 64k|write -z 0 64k|write -P 3 320k 64k", "compat=0.10")]
    [InlineData("", "write -P 1 0 128k|write -z -u 0 64k", "write -z 64k 64k", "compat=v2")]
    [InlineData("lazy_refcounts=on", "write -P 1 0 1M|write -z 0 64k", "", "compat=0.10")]
    [InlineData("lazy_refcounts=on", "write -P 1 0 64k", "", "compat=0.10,lazy_refcounts=on")]
    [InlineData("compression_type=zstd", "write -P 1 0 1M|write -z 0 64k", "", "compat=0.10")]
    [InlineData("refcount_bits=8", "write -P 1 0 1M|write -z 0 64k", "", "compat=0.10,refcount_bits=16")]
    [InlineData("bitmap", "write -P 1 0 64k|write -z 64k 64k", "", "compat=0.10")]
    // Refused by qemu-img, with what it changed before the refusal.
    [InlineData("refcount_bits=8", "write -P 1 0 64k", "", "compat=0.10")]
    [InlineData("refcount_bits=8", "write -P 1 0 64k", "", "compat=0.10,refcount_bits=16,lazy_refcounts=on")]
    [InlineData("extended_l2=on", "write -P 1 0 64k", "", "compat=0.10")]
    [InlineData("compression_type=zstd", "write -c -P 1 0 64k|write -z 64k 64k", "", "compat=0.10")]
    [InlineData("compat=1.1", "write -P 1 0 64k", "", "refcount_bits=8,lazy_refcounts=on,compat=0.10")]
    [InlineData("compat=0.10", "write -P 1 0 64k", "", "refcount_bits=8")]
    [InlineData("compat=1.1", "", "", "compat=0.9,refcount_bits=3")]
    [InlineData("compat=1.1", "", "", "refcount_bits=3")]
    [InlineData("compat=1.1", "", "", "refcount_bits=abc")]
    [InlineData("backing", "", "", "backing_file=other.qcow2")]
    [InlineData("backing", "", "", "backing_file=base.qcow2,backing_fmt=qcow2")]
    // Refcount widths: up and down, with snapshots sharing clusters, small clusters (many blocks).
    [InlineData("", "write -P 1 0 1M", "write -P 2 64k 64k", "refcount_bits=1")]
    [InlineData("", "write -P 1 0 1M", "write -P 2 64k 64k", "refcount_bits=8")]
    [InlineData("", "write -P 1 0 1M", "write -P 2 64k 64k", "refcount_bits=64")]
    [InlineData("cluster_size=512,refcount_bits=1", "write -P 1 0 3M", "", "refcount_bits=64")]
    [InlineData("cluster_size=512,refcount_bits=64", "write -P 1 0 3M", "", "refcount_bits=1")]
    [InlineData("compat=0.10", "write -P 1 0 1M", "", "compat=1.1,refcount_bits=8")]
    [InlineData("extended_l2=on,cluster_size=16k", "write -P 1 0 1M|write -z 4k 4k", "", "refcount_bits=2")]
    public void Amend_RebuildingOptions_SameAsQemuImg(string create, string commands, string afterSnapshot, string amend)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string original = Make("original.qcow2", create, commands, afterSnapshot);
        string theirs = _dir.File("theirs.qcow2");
        string ours = _dir.File("ours.qcow2");
        File.Copy(original, theirs);
        File.Copy(original, ours);

        CliResult expected = QemuImg("amend", "-o", amend, theirs);
        CliResult actual = Run("amend", "-o", amend, ours);
        Assert.True(expected.ToString() == actual.ToString(), $"{create} / {amend}\nqemu-img: {expected}\ndiskimage: {actual}");
        Assert.Equal(Info(theirs), Info(ours));

        CliResult checkTheirs = QemuImg("check", theirs);
        CliResult checkOurs = QemuImg("check", ours);
        if (checkTheirs.ExitCode == 2)
        {
            // qemu-img 7.2 zeroes a preallocated zero cluster whose host cluster a snapshot still
            // reads as data, and marks it COPIED: the snapshot loses data. Ours keeps it (below).
            Assert.True(checkOurs.ExitCode == 0, $"qemu-img check\nours: {checkOurs}");
        }
        else
        {
            Assert.True(checkTheirs.ExitCode == checkOurs.ExitCode, $"qemu-img check\ntheirs: {checkTheirs}\nours: {checkOurs}");
            Assert.Equal(WithoutLines(checkTheirs.StandardOutput, "Image end offset"), WithoutLines(checkOurs.StandardOutput, "Image end offset"));
            Assert.True(QemuImg("compare", "-U", theirs, ours).ExitCode == 0, "guest views differ from qemu-img's");
        }

        Assert.True(QemuImg("compare", "-U", original, ours).ExitCode == 0, "the guest view changed");
        if (afterSnapshot.Length > 0)
        {
            string a = _dir.File("a.raw");
            string b = _dir.File("b.raw");
            QemuImgOk("convert", "-U", "-l", "snapshot.name=s1", "-O", "raw", original, a);
            QemuImgOk("convert", "-U", "-l", "snapshot.name=s1", "-O", "raw", ours, b);
            Assert.True(File.ReadAllBytes(a).AsSpan().SequenceEqual(File.ReadAllBytes(b)), "the snapshot's view changed");
        }

        // The amended image stays usable by QEMU.
        if (checkOurs.ExitCode == 0)
        {
            QemuIo(ours, "qcow2", "write -P 9 2M 128k");
            Assert.Equal(0, QemuImg("check", ours).ExitCode);
        }
    }

    private string Make(string name, string create, string commands, string afterSnapshot)
    {
        string path = _dir.File(name);
        if (create == "backing")
        {
            string backing = _dir.File("base.qcow2");
            QemuImgOk("create", "-q", "-f", "qcow2", backing, "4M");
            QemuIo(backing, "qcow2", "write -P 5 0 4M");
            QemuImgOk("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", path, "4M");
        }
        else if (create == "bitmap")
        {
            QemuImgOk("create", "-q", "-f", "qcow2", path, "4M");
            QemuImgOk("bitmap", "--add", path, "b0");
        }
        else
        {
            QemuImgOk(create.Length == 0
                ? ["create", "-q", "-f", "qcow2", path, "4M"]
                : ["create", "-q", "-f", "qcow2", "-o", create, path, "4M"]);
        }

        if (commands.Length > 0)
        {
            QemuIo(path, "qcow2", commands.Split('|'));
        }

        if (afterSnapshot.Length > 0)
        {
            QemuImgOk("snapshot", "-c", "s1", path);
            QemuIo(path, "qcow2", afterSnapshot.Split('|'));
        }

        return path;
    }

    private string Info(string image) =>
        WithoutLines(QemuImg("info", "-U", "--output=json", image).StandardOutput, "\"actual-size\"", "\"filename\"").Replace(_dir.Path, "DIR", StringComparison.Ordinal);
}
