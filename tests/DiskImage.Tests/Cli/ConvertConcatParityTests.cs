using System.Text.RegularExpressions;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>diskimage convert a b c out</c> against qemu-img 7.2: the sources are concatenated (sizes
/// summed; qcow2 with a backing chain, flat qcow2 and raw mixed, <c>-f</c> applying to every
/// source); the target's bytes and size equal qemu-img's target (<c>qemu-img compare</c>) and a qcow2
/// target allocates what qemu-img's allocates (<c>qemu-img map</c>, host offsets aside). Refusals match qemu-img's.
/// </summary>
public sealed partial class ConvertConcatParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [SkippableTheory]
    [InlineData("qcow2", "s1.qcow2 s2.raw top.qcow2")]
    [InlineData("raw", "s2.raw s1.qcow2 s1.qcow2")]
    [InlineData("qcow2", "top.qcow2 s2.raw")]
    [InlineData("qcow2", "s1.qcow2 empty.raw s1.qcow2")]
    public void Convert_SeveralSources_ConcatenatedAsQemuImg(string targetFormat, string sources)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        MakeSources();
        string[] src = [.. sources.Split(' ').Select(_dir.File)];
        string theirs = _dir.File("theirs." + targetFormat);
        string ours = _dir.File("ours." + targetFormat);
        QemuImgOk(["convert", "-O", targetFormat, .. src, theirs]);
        RunOk(["convert", "-O", targetFormat, .. src, ours]);
        CliResult same = QemuImg("compare", "-f", targetFormat, "-F", targetFormat, theirs, ours);
        Assert.True(same.ExitCode == 0, same.ToString());
        Assert.Equal(new FileInfo(theirs).Length, new FileInfo(ours).Length);
        if (targetFormat == "raw")
        {
            // A raw target's holes are the file system's business (qemu-img also writes its first 4 KiB).
            return;
        }

        Assert.Equal(
            HostOffset().Replace(QemuImgOk("map", "--output=json", "-f", targetFormat, theirs).StandardOutput, ""),
            HostOffset().Replace(QemuImgOk("map", "--output=json", "-f", targetFormat, ours).StandardOutput, ""));
    }

    [SkippableFact]
    public void Convert_SeveralSources_RefusalsAsQemuImg()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        MakeSources();
        string s1 = _dir.File("s1.qcow2");
        string s2 = _dir.File("s2.raw");
        string[][] cases =
        [
            ["convert", "-l", "x", "-O", "qcow2", s1, s2, _dir.File("x.qcow2")],
            ["convert", "-O", "qcow2", "-B", s1, "-F", "qcow2", s1, s1, _dir.File("x.qcow2")],
            ["convert", "-O", "raw", s1, s2, s1],
            ["convert", "-O", "raw", s1, _dir.File("missing.raw"), _dir.File("x.raw")],
        ];
        foreach (string[] args in cases)
        {
            byte[] before = File.ReadAllBytes(s1);
            CliResult actual = Run(args);
            Assert.Equal(before, File.ReadAllBytes(s1));
            CliResult expected = QemuImg(args);
            Assert.True(expected.ToString() == actual.ToString(), $"{string.Join(' ', args)}\nqemu-img: {expected}\ndiskimage: {actual}");
        }
    }

    private void MakeSources()
    {
        string s1 = _dir.File("s1.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", s1, "1M");
        QemuIo(s1, "qcow2", "write -P 9 0 64k", "write -z 512k 64k");
        File.WriteAllBytes(_dir.File("s2.raw"), new byte[1536 * 1024]);
        using (var f = new FileStream(_dir.File("s2.raw"), FileMode.Open))
        {
            f.Position = 700 * 1024;
            f.Write(new byte[8192].Select((_, i) => (byte)(i + 1)).ToArray());
        }

        File.WriteAllBytes(_dir.File("empty.raw"), []);
        string baseImage = _dir.File("base.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", baseImage, "3M");
        QemuIo(baseImage, "qcow2", "write -P 1 0 1M", "write -P 2 2M 512k");
        QemuImgOk("create", "-q", "-f", "qcow2", "-b", baseImage, "-F", "qcow2", _dir.File("top.qcow2"));
        QemuIo(_dir.File("top.qcow2"), "qcow2", "write -P 3 512k 64k", "write -z 2M 64k");
    }

    [GeneratedRegex(@", ""offset"": \d+")]
    private static partial Regex HostOffset();
}
