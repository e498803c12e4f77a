using System.Buffers.Binary;
using System.Text;
using DiskImage.Formats;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Formats;

/// <summary>
/// Formats qemu-img recognizes by their headers (VMDK, VDI, VHDX, VPC, QED, qcow, Parallels,
/// DMG, Bochs, cloop) are refused by name by the library and by every reading verb, never read as raw,
/// unless raw is stated (<c>-f raw</c>, <see cref="DiskImageOpenOptions.Format"/>), which reads
/// their bytes as they are. Corpora come from qemu-img 7.2 <c>create</c>; DMG, Bochs and cloop
/// headers (which qemu-img cannot create) are built here from the formats' published layouts.
/// </summary>
public sealed class ImageFormatDetectionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, string, string> QemuCreated => new()
    {
        // name, qemu-img create format, extra -o options
        { "vmdk", "vmdk", "" },
        { "vmdk", "vmdk", "subformat=monolithicFlat" }, // text descriptor "# Disk DescriptorFile"
        { "vdi", "vdi", "" },
        { "vhdx", "vhdx", "" },
        { "vpc", "vpc", "" },
        { "vpc", "vpc", "subformat=fixed" }, // footer only, at the end
        { "qed", "qed", "" },
        { "qcow", "qcow", "" },
        { "parallels", "parallels", "" },
    };

    [SkippableTheory]
    [MemberData(nameof(QemuCreated))]
    public void QemuImgCreated_RefusedByNameUnlessRaw(string name, string format, string options)
    {
        Oracle.Require("qemu-img");
        string path = _dir.File($"image.{format}");
        var args = new List<string> { "create", "-q", "-f", format };
        if (options.Length > 0)
        {
            args.AddRange(["-o", options]);
        }

        args.AddRange([path, "1M"]);
        ToolResult created = Oracle.Run("qemu-img", args, TimeSpan.FromMinutes(1));
        Assert.True(created.ExitCode == 0, created.ToString());
        AssertRefusedByName(path, name);
    }

    [Theory]
    [InlineData("dmg")]
    [InlineData("bochs")]
    [InlineData("cloop")]
    [InlineData("vmdk3")]
    public void CraftedHeaders_RefusedByNameUnlessRaw(string kind)
    {
        string path = _dir.File("image.bin");
        File.WriteAllBytes(path, Crafted(kind));
        AssertRefusedByName(path, kind == "vmdk3" ? "vmdk" : kind);
    }

    [Theory]
    [InlineData("# Disk DescriptorFile\nversion=1\n", "vmdk")]
    [InlineData("# comment\n   \r\n# another\nversion=3\r\nCID=1\n", "vmdk")]
    [InlineData("version=2\n", "vmdk")]
    [InlineData("# Disk DescriptorFile\n\nversion=1\n", "raw")] // an empty line stops the probe, as in qemu
    [InlineData("# Disk DescriptorFile\nversion=4\n", "raw")]
    [InlineData("#!/bin/sh\n#V2.0 Format\n", "raw")] // a cloop script cut short is not taken for cloop
    [InlineData("LUKS", "raw")]
    public void Probe_TextHeaders(string text, string expected)
    {
        byte[] header = new byte[512];
        Encoding.ASCII.GetBytes(text).CopyTo(header, 0);
        Assert.Equal(expected, ImageFormatProbe.Probe(header, default));
    }

    [Fact]
    public void Probe_RawAndQcow2_Unchanged()
    {
        var random = new Random(5);
        byte[] data = new byte[4096];
        random.NextBytes(data);
        data[0] = 0; // no magic
        Assert.Equal("raw", ImageFormatProbe.Probe(data, data.AsSpan(^512..)));
        Assert.Equal("raw", ImageFormatProbe.Probe(default, default));
        byte[] qcow2 = new byte[512];
        BinaryPrimitives.WriteUInt32BigEndian(qcow2, 0x514649FB);
        BinaryPrimitives.WriteUInt32BigEndian(qcow2.AsSpan(4), 3);
        Assert.Equal("qcow2", ImageFormatProbe.Probe(qcow2, default));
        Assert.Equal(DiskImageFormat.Qcow2, DiskImageFile.DetectFormat(qcow2));
        Assert.Equal(DiskImageFormat.Raw, DiskImageFile.DetectFormat(data));
    }

    [Fact]
    public void DetectFormatSpan_ForeignHeader_Throws()
    {
        Exception e = Assert.Throws<UnsupportedImageFormatException>(() => DiskImageFile.DetectFormat(Crafted("bochs").AsSpan(0, 512)));
        Assert.Equal("bochs", ((UnsupportedImageFormatException)e).FormatName);
    }

    [Fact]
    public void Qcow2WithVmdkBackingWithoutFormat_RefusedNamingTheBackingFile()
    {
        string backing = _dir.File("backing.vmdk");
        File.WriteAllBytes(backing, Crafted("vmdk3"));
        string top = _dir.File("top.qcow2");
        RunOk("create", "-q", "-f", "qcow2", "-u", "-b", "backing.vmdk", "-F", "raw", top, "1M");

        // Rewrite the header without a backing format: detection then decides, and must refuse.
        using (var stream = new FileStream(top, FileMode.Open, FileAccess.ReadWrite))
        {
            byte[] header = new byte[4096];
            stream.ReadExactly(header);
            int formatExtension = header.AsSpan().IndexOf((ReadOnlySpan<byte>)[0xE2, 0x79, 0x2A, 0xCA]);
            Assert.True(formatExtension > 0);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(formatExtension), 0x12345678); // unknown extension, ignored
            stream.Position = 0;
            stream.Write(header);
        }

        var e = Assert.Throws<UnsupportedImageFormatException>(() => DiskImageFile.Open(top, new DiskImageOpenOptions { BackingFiles = BackingFilePolicy.Allow }));
        Assert.Equal("vmdk", e.FormatName);
        CliResult r = Run("info", "--backing-chain", top);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("Image format 'vmdk' is not supported", r.StandardError, StringComparison.Ordinal);
    }

    private void AssertRefusedByName(string path, string name)
    {
        string context = $"{name} image {Path.GetFileName(path)}";
        Assert.Equal(name, DiskImageFile.DetectFormatName(path));
        var e = Assert.Throws<UnsupportedImageFormatException>(() => DiskImageFile.Open(path));
        Assert.Equal(name, e.FormatName);
        Assert.IsAssignableFrom<NotSupportedException>(e);

        string expected = $"Image format '{name}' is not supported by diskimage (use -f raw";
        string output = _dir.File("out.img");
        foreach ((string[] args, int exit) in new (string[], int)[]
        {
            (["info", path], 1),
            (["info", "--output=json", path], 1),
            (["check", path], 1),
            (["map", path], 1),
            (["compare", path, path], 2),
            (["convert", "-O", "qcow2", path, output], 1),
            (["measure", "-O", "qcow2", path], 1),
        })
        {
            CliResult r = Run(args);
            Assert.True(r.ExitCode == exit, $"{context}: diskimage {string.Join(' ', args)}: {r}");
            Assert.Contains(expected, r.StandardError, StringComparison.Ordinal);
            Assert.DoesNotContain("DiskImageOpenOptions", r.StandardError, StringComparison.Ordinal);
            Assert.False(File.Exists(output), $"{context}: convert wrote a target");
        }

        // Stated raw: the bytes as they are.
        byte[] bytes = File.ReadAllBytes(path);
        using (DiskImageFile raw = DiskImageFile.Open(path, new DiskImageOpenOptions { Format = DiskImageFormat.Raw }))
        {
            Assert.Equal(bytes.Length, raw.Content.Length);
            byte[] read = new byte[bytes.Length];
            raw.Content.ReadExactly(0, read);
            Assert.Equal(bytes, read);
        }

        Assert.Equal(0, Run("info", "-f", "raw", path).ExitCode);
        CliResult converted = Run("convert", "-f", "raw", "-O", "raw", path, output);
        Assert.True(converted.ExitCode == 0, converted.ToString());
        Assert.Equal(bytes, File.ReadAllBytes(output));
        File.Delete(output);
        Assert.Equal(0, Run("compare", "-f", "raw", "-F", "raw", path, path).ExitCode);
    }

    /// <summary>Minimal headers from the formats' layouts (the facts qemu's probes test).</summary>
    private static byte[] Crafted(string kind)
    {
        byte[] image = new byte[64 * 1024];
        switch (kind)
        {
            case "dmg":
                // UDIF: a 512-byte trailer at the end of the file, signature "koly", version 4, its size 512.
                Span<byte> trailer = image.AsSpan(image.Length - 512);
                "koly"u8.CopyTo(trailer);
                BinaryPrimitives.WriteUInt32BigEndian(trailer[4..], 4);
                BinaryPrimitives.WriteUInt32BigEndian(trailer[8..], 512);
                break;
            case "bochs":
                // NUL-terminated magic, type and subtype at 0, 32 and 48; version 2.0 at 64; header size at 68.
                "Bochs Virtual HD Image"u8.CopyTo(image);
                "Redolog"u8.CopyTo(image.AsSpan(32));
                "Growing"u8.CopyTo(image.AsSpan(48));
                BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(64), 0x00020000);
                BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(68), 512);
                break;
            case "cloop":
                "#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n"u8.CopyTo(image);
                break;
            case "vmdk3":
                "COWD"u8.CopyTo(image);
                BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(4), 1);
                break;
        }

        return image;
    }
}
