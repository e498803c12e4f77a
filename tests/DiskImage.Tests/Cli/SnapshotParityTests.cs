using System.Text.RegularExpressions;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>diskimage snapshot -c/-a/-d/-l</c> against <c>qemu-img snapshot</c> (Debian qemu-utils 7.2): the
/// same steps on two copies of one image; after each, <c>qemu-img check</c> finds nothing on ours,
/// <c>qemu-img snapshot -l</c> lists the same snapshots (the date aside), the guest views and every
/// snapshot's contents are equal (<c>qemu-img compare</c>), and our listing is qemu-img's.
/// </summary>
public sealed partial class SnapshotParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Kinds => ["v3", "v2-4k", "extl2", "compressed", "rc64-2m", "overlay"];

    [SkippableTheory]
    [MemberData(nameof(Kinds))]
    public void Snapshot_CreateApplyDelete_SameAsQemuImg(string kind)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string theirs = MakeImage("qemu", kind);
        string ours = MakeImage("ours", kind);
        (string[] Args, string[] Io)[] steps =
        [
            (["-c", "first"], ["write -P 0x21 64k 64k", "write -z 128k 64k"]),
            (["-c", "second"], ["write -P 0x31 0 4k", "write -P 0x32 2M 64k"]),
            (["-c", "first"], []),
            (["-a", "first"], ["write -P 0x41 8k 4k"]),
            (["-d", "first"], []),
            (["-a", "2"], ["write -P 0x51 1M 128k"]),
            (["-d", "first"], ["write -P 0x61 3M 64k"]),
            (["-d", "second"], ["write -P 0x71 0 1M"]),
        ];
        foreach ((string[] args, string[] io) in steps)
        {
            string context = $"{kind}: snapshot {string.Join(' ', args)}";
            CliResult expected = QemuImg(["snapshot", .. args, theirs]);
            CliResult actual = Run(["snapshot", .. args, ours]);
            Assert.True(expected.ToString() == actual.ToString(), $"{context}\nqemu-img: {expected}\ndiskimage: {actual}");
            Judge(theirs, ours, context);
            if (io.Length > 0)
            {
                QemuIo(theirs, "qcow2", io);
                QemuIo(ours, "qcow2", io);
                Judge(theirs, ours, context + " then qemu-io " + string.Join("; ", io));
            }
        }
    }

    [SkippableFact]
    public void Snapshot_Errors_SameMessagesAndExitCodesAsQemuImg_ImageUnchanged()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string image = MakeImage("err", "v3");
        QemuImgOk("snapshot", "-c", "one", image);
        string rc1 = _dir.File("rc1.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", "-o", "refcount_bits=1", rc1, "1M");
        QemuIo(rc1, "qcow2", "write 0 64k");
        string[][] cases =
        [
            ["snapshot", "-d", "nope", image],
            ["snapshot", "-d", "1", image],
            ["snapshot", "-a", "nope", image],
            ["snapshot", "-c", "x", "-l", image],
            ["snapshot", "-c"],
            ["snapshot", "-U", "-c", "x", image],
            ["snapshot", "-l", _dir.File("missing.qcow2")],
            ["snapshot", "-l"],
            ["snapshot", "-f", "qcow2", "-l", image],
            ["snapshot", "-c", "x", rc1],
        ];
        byte[] before = File.ReadAllBytes(image);
        byte[] beforeRc1 = File.ReadAllBytes(rc1);
        foreach (string[] args in cases)
        {
            CliResult actual = Run(args);
            Assert.Equal(before, File.ReadAllBytes(image));
            Assert.Equal(beforeRc1, File.ReadAllBytes(rc1));

            // qemu-img leaks the cluster of the L1 copy when one-bit refcounts refuse the snapshot; ours writes nothing.
            CliResult expected = QemuImg(args);
            Assert.True(expected.ToString() == actual.ToString(), $"{string.Join(' ', args)}\nqemu-img: {expected}\ndiskimage: {actual}");
            File.WriteAllBytes(rc1, beforeRc1);
        }
    }

    private void Judge(string theirs, string ours, string context)
    {
        CliResult check = QemuImg("check", ours);
        Assert.True(check.ExitCode == 0 && check.StandardOutput.Contains("No errors were found", StringComparison.Ordinal), $"{context}\nqemu-img check: {check}");
        string expected = QemuImgOk("snapshot", "-l", theirs).StandardOutput;
        string listed = QemuImgOk("snapshot", "-l", ours).StandardOutput;
        Assert.True(WithoutDates(expected) == WithoutDates(listed), $"{context}\nqemu-img lists:\n{expected}\nand for ours:\n{listed}");
        Assert.Equal(listed, RunOk("snapshot", "-l", ours).StandardOutput);
        CliResult same = QemuImg("compare", theirs, ours);
        Assert.True(same.ExitCode == 0, $"{context}\nguest views differ: {same}");
        foreach (Match m in SnapshotIds().Matches(listed))
        {
            string id = m.Groups[1].Value;
            string a = _dir.File("a.raw");
            string b = _dir.File("b.raw");
            QemuImgOk("convert", "-l", "snapshot.id=" + id, "-O", "raw", theirs, a);
            QemuImgOk("convert", "-l", "snapshot.id=" + id, "-O", "raw", ours, b);
            Assert.True(QemuImg("compare", "-f", "raw", "-F", "raw", a, b).ExitCode == 0, $"{context}\nsnapshot {id} differs");
        }
    }

    private string MakeImage(string name, string kind)
    {
        string path = _dir.File(name + ".qcow2");
        string[] options = kind switch
        {
            "v2-4k" => ["-o", "compat=0.10,cluster_size=4k"],
            "extl2" => ["-o", "extended_l2=on"],
            "rc64-2m" => ["-o", "refcount_bits=64,cluster_size=2M"],
            _ => [],
        };
        if (kind == "overlay")
        {
            string backing = _dir.File(name + "-base.qcow2");
            QemuImgOk("create", "-q", "-f", "qcow2", backing, "4M");
            QemuIo(backing, "qcow2", "write -P 0x11 0 2M");
            options = ["-b", backing, "-F", "qcow2"];
        }

        QemuImgOk(["create", "-q", "-f", "qcow2", .. options, path, "4M"]);
        QemuIo(path, "qcow2", kind == "compressed" ? ["write -c -P 0x12 0 192k", "write -c -P 0x13 1M 64k"] : ["write -P 0x12 0 192k", "write -P 0x13 1M 64k"]);
        return path;
    }

    private static string WithoutDates(string listing) => Dates().Replace(listing, "<date>");

    [GeneratedRegex(@"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")]
    private static partial Regex Dates();

    [GeneratedRegex(@"^(\d+) ", RegexOptions.Multiline)]
    private static partial Regex SnapshotIds();
}
