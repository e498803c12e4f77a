using System.Text.RegularExpressions;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>diskimage convert -B backing -F fmt</c> and <c>-o backing_file=...,backing_fmt=...</c> against
/// qemu-img 7.2: the target's guest view equals the source's (<c>qemu-img compare</c>), the target
/// allocates exactly what qemu-img's target allocates (<c>qemu-img map --output=json</c>, host
/// offsets aside: the source's top-layer data and zeros; what the source reads from its backing file
/// stays unallocated and comes from the target's backing file), <c>qemu-img check</c> is clean and
/// <c>qemu-img info</c> names the same backing file and format. Refusals match qemu-img's.
/// </summary>
public sealed partial class ConvertBackingParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, string> Cases() => new()
    {
        { "top.qcow2", "-B base.qcow2 -F qcow2" },
        { "top.qcow2", "-o backing_file=base.qcow2,backing_fmt=qcow2" },
        { "top.qcow2", "-B mid.qcow2 -F qcow2 -o cluster_size=4096" },
        { "flat.raw", "-B base.qcow2 -F qcow2" },
        { "flat.qcow2", "-B base.qcow2 -F qcow2 -S 0" },
        { "top.qcow2", "-B base.qcow2 -F qcow2 -o cluster_size=512" },
    };

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Convert_WithTargetBacking_SameAllocationAsQemuImg(string source, string options)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        MakeChain();
        string[] opts = options.Split(' ');
        string theirs = _dir.File("theirs.qcow2");
        string ours = _dir.File("ours.qcow2");
        string src = _dir.File(source);
        string[] common = ["convert", "-O", "qcow2", .. opts.Select(o => o.Contains(".qcow2", StringComparison.Ordinal) && !o.Contains('=', StringComparison.Ordinal) ? _dir.File(o) : o.Replace("backing_file=", "backing_file=" + _dir.Path + "/", StringComparison.Ordinal))];
        QemuImgOk([.. common, src, theirs]);
        RunOk([.. common, src, ours]);

        // qemu-img assumes the new backing file holds what the source read from its own: the guest
        // view equals the source's only when it does (mid.qcow2), and always equals qemu-img's target.
        Assert.Equal(0, QemuImg("compare", theirs, ours).ExitCode);
        if (options.Contains("mid.qcow2", StringComparison.Ordinal) || source.StartsWith("flat", StringComparison.Ordinal))
        {
            Assert.Equal(0, QemuImg("compare", src, ours).ExitCode);
        }

        CliResult check = QemuImg("check", ours);
        Assert.True(check.ExitCode == 0 && check.StandardOutput.Contains("No errors were found", StringComparison.Ordinal), check.ToString());
        Assert.Equal(WithoutOffsets(QemuImgOk("map", "--output=json", theirs).StandardOutput), WithoutOffsets(QemuImgOk("map", "--output=json", ours).StandardOutput));
        Assert.Equal(
            WithoutLines(QemuImgOk("info", theirs).StandardOutput, "image:", "disk size"),
            WithoutLines(QemuImgOk("info", ours).StandardOutput, "image:", "disk size"));
    }

    [SkippableFact]
    public void Convert_TargetBackingRefusals_SameAsQemuImg()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        MakeChain();
        string top = _dir.File("top.qcow2");
        string[][] cases =
        [
            ["convert", "-O", "qcow2", "-B", _dir.File("base.qcow2"), top, _dir.File("x.qcow2")],
            ["convert", "-O", "raw", "-B", _dir.File("base.qcow2"), top, _dir.File("x.raw")],
            ["convert", "-O", "qcow2", "-o", "backing_file=" + _dir.File("base.qcow2"), top, _dir.File("x.qcow2")],
            ["convert", "-O", "qcow2", "-B", _dir.File("missing.qcow2"), "-F", "qcow2", top, _dir.File("x.qcow2")],
        ];
        foreach (string[] args in cases)
        {
            CliResult actual = Run(args);
            CliResult expected = QemuImg(args);
            Assert.True(expected.ToString() == actual.ToString(), $"{string.Join(' ', args)}\nqemu-img: {expected}\ndiskimage: {actual}");
        }
    }

    /// <summary>base (data at 0–1M and 2–3M) ← mid (data at 1.5M) ← top (data at 512k, zeros at 2M), and flat copies of top.</summary>
    private void MakeChain()
    {
        string baseImage = _dir.File("base.qcow2");
        string mid = _dir.File("mid.qcow2");
        string top = _dir.File("top.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", baseImage, "4M");
        QemuIo(baseImage, "qcow2", "write -P 1 0 1M", "write -P 2 2M 1M");
        QemuImgOk("create", "-q", "-f", "qcow2", "-b", baseImage, "-F", "qcow2", mid);
        QemuIo(mid, "qcow2", "write -P 5 1536k 64k");
        QemuImgOk("create", "-q", "-f", "qcow2", "-b", mid, "-F", "qcow2", top);
        QemuIo(top, "qcow2", "write -P 3 512k 64k", "write -z 2M 64k", "write -P 0 3M 4k", "write -P 7 3148k 4k");
        QemuImgOk("convert", "-O", "raw", top, _dir.File("flat.raw"));
        QemuImgOk("convert", "-O", "qcow2", top, _dir.File("flat.qcow2"));
    }

    private static string WithoutOffsets(string json) => HostOffset().Replace(json, "");

    [GeneratedRegex(@", ""offset"": \d+")]
    private static partial Regex HostOffset();
}
