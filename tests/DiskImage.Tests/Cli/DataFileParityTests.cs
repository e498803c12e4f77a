using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// qcow2 images whose guest data lives in an external data file (<c>qemu-img create -o data_file=...</c>,
/// written by qemu-io): <c>info</c>, <c>check</c> and <c>map</c> print what qemu-img 7.2 prints, and
/// <c>convert</c> reads the guest data from the data file (<c>qemu-img compare</c> identical).
/// </summary>
public sealed class DataFileParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string MakeImage(bool raw)
    {
        string image = _dir.File(raw ? "raw.qcow2" : "plain.qcow2");
        // qemu-img create makes a relative data file name relative to its working directory: name it absolutely.
        string options = raw ? $"data_file={_dir.File("raw-data.raw")},data_file_raw=on" : $"data_file={_dir.File("plain-data.raw")}";
        QemuImgOk("create", "-q", "-f", "qcow2", "-o", options, image, "64M");
        QemuIo(image, "qcow2", "write -P 0x5a 0 1M", "write -P 0x33 8M 64k");
        return image;
    }

    [SkippableTheory]
    [InlineData(false, "info")]
    [InlineData(false, "info --output=json")]
    [InlineData(false, "check")]
    [InlineData(false, "check --output=json")]
    [InlineData(false, "map")]
    [InlineData(false, "map --output=json")]
    [InlineData(true, "info")]
    [InlineData(true, "info --output=json")]
    [InlineData(true, "check")]
    [InlineData(true, "map")]
    [InlineData(true, "map --output=json")]
    [InlineData(false, "measure -O qcow2")]
    [InlineData(true, "check -r all")]
    public void ReadOnlyVerb_DataFileImage_SameOutputAsQemuImg(bool raw, string verb)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string image = MakeImage(raw);
        string[] args = [.. verb.Split(' '), image];
        CliResult qemu = QemuImg(args);
        CliResult ours = Run(args);
        string context = $"{verb} raw={raw}\nqemu-img: {qemu}\ndiskimage: {ours}";
        Assert.True(qemu.ExitCode == ours.ExitCode, context);
        Assert.True(qemu.StandardOutput == ours.StandardOutput, context);
        Assert.True(qemu.StandardError == ours.StandardError, context);
    }

    [SkippableTheory]
    [InlineData(false, "raw")]
    [InlineData(true, "qcow2")]
    public void Convert_FromDataFileImage_ReadsTheDataFile(bool raw, string targetFormat)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string image = MakeImage(raw);
        string target = _dir.File("out." + targetFormat);
        RunOk("convert", "-O", targetFormat, image, target);
        QemuImgOk("compare", image, target);
        // The data is really there (not an all-zero image that compares equal to an unreadable source).
        QemuImgOk("compare", "-f", targetFormat, "-F", "raw", target, Path.Combine(Path.GetDirectoryName(image)!, raw ? "raw-data.raw" : "plain-data.raw"));
    }

    [SkippableFact]
    public void Info_NoBacking_RefusesTheDataFile()
    {
        Oracle.Require("qemu-img");
        string image = MakeImage(raw: false);
        CliResult ours = Run("info", "--no-backing", image);
        Assert.Equal(1, ours.ExitCode);
        Assert.Contains("plain-data.raw', which is not opened with --no-backing", ours.StandardError, StringComparison.Ordinal);
    }
}
