using System.Globalization;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>Create matches <c>qemu-img create</c> (oracle: qemu-utils 7.2): same bytes where the layouts agree, clean check always.</summary>
public sealed class Qcow2CreateTests
{
    public static TheoryData<string, long> Options => new()
    {
        { "", 1L << 30 },
        { "compat=0.10", 1L << 30 },
        { "cluster_size=512", 64L << 20 },
        { "cluster_size=4096,refcount_bits=1", 100L << 20 },
        { "cluster_size=2097152,refcount_bits=64", 10L << 30 },
        { "compression_type=zstd", 5L << 20 },
        { "extended_l2=on", 3L << 30 },
        { "extended_l2=on,cluster_size=16384,compression_type=zstd", 1L << 30 },
        { "lazy_refcounts=on", 1L << 20 },
        { "backing_file=base.qcow2,backing_fmt=qcow2", 1L << 30 },
        { "backing_file=base.raw,backing_fmt=raw,cluster_size=4096", 1L << 20 },
        { "", 0 },
        { "", 1536 },
    };

    [SkippableTheory]
    [MemberData(nameof(Options))]
    public void Create_Options_ByteIdenticalToQemuImgCreate(string qemuOptions, long size)
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("base.raw"), new byte[1 << 20]);
        QemuTool.Img("create", "-q", "-f", "qcow2", dir.File("base.qcow2"), "1G");
        string theirs = dir.File("theirs.qcow2");
        string ours = dir.File("ours.qcow2");
        var args = new List<string> { "create", "-q", "-f", "qcow2" };
        if (qemuOptions.Length > 0)
        {
            args.Add("-o");
            args.Add(qemuOptions);
        }

        args.Add(theirs);
        args.Add(size.ToString(CultureInfo.InvariantCulture));
        QemuTool.Img([.. args]);

        Dictionary<string, string> o = qemuOptions.Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);
        var options = new Qcow2CreateOptions
        {
            Version = o.GetValueOrDefault("compat") == "0.10" ? 2 : 3,
            ClusterSize = int.Parse(o.GetValueOrDefault("cluster_size", "65536"), CultureInfo.InvariantCulture),
            RefcountBits = int.Parse(o.GetValueOrDefault("refcount_bits", "16"), CultureInfo.InvariantCulture),
            CompressionType = o.GetValueOrDefault("compression_type") == "zstd" ? Qcow2CompressionType.Zstd : Qcow2CompressionType.Deflate,
            ExtendedL2 = o.GetValueOrDefault("extended_l2") == "on",
            LazyRefcounts = o.GetValueOrDefault("lazy_refcounts") == "on",
            BackingFile = o.GetValueOrDefault("backing_file"),
            BackingFormat = o.GetValueOrDefault("backing_fmt") switch { "qcow2" => DiskImageFormat.Qcow2, "raw" => DiskImageFormat.Raw, _ => null },
        };
        using (Qcow2Image.Create(ours, size, options))
        {
        }

        QemuTool.AssertClean(ours, qemuOptions);
        byte[] a = File.ReadAllBytes(theirs);
        byte[] b = File.ReadAllBytes(ours);
        Qcow2ReadInteropTests.AssertEqualBytes(a, b, $"create -o {qemuOptions} {size}");
    }

    [SkippableTheory]
    [InlineData(3, 65536, false)]
    [InlineData(2, 4096, false)]
    [InlineData(3, 32768, true)]
    [InlineData(3, 512, false)]
    public void Create_PreallocateMetadata_CheckCleanReadsZerosAndWritable(int version, int clusterSize, bool extendedL2)
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = dir.File("p.qcow2");
        var options = new Qcow2CreateOptions { Version = version, ClusterSize = clusterSize, ExtendedL2 = extendedL2, Preallocation = Qcow2Preallocation.Metadata };
        using (Qcow2Image image = Qcow2Image.Create(path, 5L << 20, options))
        {
            image.Content.Write(12345, new byte[] { 1, 2, 3 });
            image.Content.WriteZeroes(0, 10);
        }

        QemuTool.AssertClean(path, "prealloc");
        byte[] expected = new byte[5 << 20];
        expected[12345] = 1;
        expected[12346] = 2;
        expected[12347] = 3;
        File.WriteAllBytes(dir.File("e.raw"), expected);
        QemuTool.AssertSameAsRaw(path, dir.File("e.raw"), "prealloc");
    }
}
