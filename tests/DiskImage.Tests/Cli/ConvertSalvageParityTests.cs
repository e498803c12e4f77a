using System.Buffers.Binary;
using System.Text.RegularExpressions;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>diskimage convert --salvage</c> against qemu-img 7.2 on a qcow2 whose compressed cluster holds
/// a corrupt deflate stream: both fail without <c>--salvage</c> (exit code 1); with it both exit 0,
/// print the same warning for every unreadable 512-byte sector, and write the same target (the
/// unreadable sectors as zeros; <c>qemu-img compare</c>, and <c>qemu-img map</c> for qcow2).
/// </summary>
public sealed partial class ConvertSalvageParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [SkippableTheory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    public void Convert_Salvage_CorruptCompressedCluster_SameAsQemuImg(string targetFormat)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string source = _dir.File("corrupt.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", source, "1M");
        QemuIo(source, "qcow2", "write -c -P 7 0 64k", "write -c -P 8 64k 64k", "write -P 9 128k 64k");
        CorruptFirstCompressedCluster(source);

        string theirs = _dir.File("theirs." + targetFormat);
        string ours = _dir.File("ours." + targetFormat);
        Assert.Equal(QemuImg("convert", "-O", targetFormat, source, theirs).ExitCode, Run("convert", "-O", targetFormat, source, ours).ExitCode);

        CliResult expected = QemuImg("convert", "--salvage", "-O", targetFormat, source, theirs);
        CliResult actual = Run("convert", "--salvage", "-O", targetFormat, source, ours);
        Assert.Equal(0, expected.ExitCode);
        Assert.True(expected.ToString() == actual.ToString(), $"qemu-img: {expected}\ndiskimage: {actual}");
        Assert.Contains("warning: error while reading offset 65024: Input/output error", actual.StandardError, StringComparison.Ordinal);
        Assert.Equal(0, QemuImg("compare", "-f", targetFormat, "-F", targetFormat, theirs, ours).ExitCode);
        if (targetFormat == "qcow2")
        {
            Assert.Equal(
                HostOffset().Replace(QemuImgOk("map", "--output=json", theirs).StandardOutput, ""),
                HostOffset().Replace(QemuImgOk("map", "--output=json", ours).StandardOutput, ""));
        }
    }

    /// <summary>Overwrites the start of the deflate stream of guest cluster 0 (64 KiB clusters).</summary>
    private static void CorruptFirstCompressedCluster(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        byte[] b = new byte[8];
        f.Position = 40;
        f.ReadExactly(b);
        f.Position = (long)BinaryPrimitives.ReadUInt64BigEndian(b);
        f.ReadExactly(b);
        f.Position = (long)(BinaryPrimitives.ReadUInt64BigEndian(b) & 0x00fffffffffffe00UL);
        f.ReadExactly(b);
        ulong entry = BinaryPrimitives.ReadUInt64BigEndian(b);
        Assert.True((entry & (1UL << 62)) != 0, "cluster 0 is compressed");
        f.Position = (long)(entry & ((1UL << 54) - 1)); // 64 KiB clusters: x = 62 - 8 = 54 offset bits
        f.Write(Enumerable.Repeat((byte)0xff, 64).ToArray());
    }

    [GeneratedRegex(@", ""offset"": \d+")]
    private static partial Regex HostOffset();
}
