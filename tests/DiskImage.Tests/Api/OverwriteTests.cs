using DiskImage.Archives.Cpio;
using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.Formats.Raw;
using DiskImage.IO;
using DiskImage.Tests.Cli;

namespace DiskImage.Tests.Api;

/// <summary>Every call that creates a file refuses an existing one unless asked (<c>overwrite: true</c>); the CLI overwrites as qemu-img does.</summary>
public sealed class OverwriteTests : IDisposable
{
    private static readonly byte[] Keep = "keep me"u8.ToArray();
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    public static TheoryData<string> Creators => new() { "FileBlockDevice", "RawImage", "Qcow2Image", "ImageConverter", "InitramfsPack" };

    private string Existing(string name)
    {
        string path = _temp.File(name);
        File.WriteAllBytes(path, Keep);
        return path;
    }

    private void CreateAt(string creator, string path, bool overwrite)
    {
        switch (creator)
        {
            case "FileBlockDevice":
                FileBlockDevice.Create(path, 1 << 20, overwrite).Dispose();
                break;
            case "RawImage":
                RawImage.Create(path, 1 << 20, overwrite).Dispose();
                break;
            case "Qcow2Image":
                Qcow2Image.Create(path, 1 << 20, overwrite: overwrite).Dispose();
                break;
            case "ImageConverter":
                using (var source = new MemoryBlockDevice(1 << 20))
                {
                    ImageConverter.Convert(source, path, new ConvertOptions { TargetFormat = DiskImageFormat.Raw, Overwrite = overwrite });
                }

                break;
            case "InitramfsPack":
                string tree = Path.Combine(_temp.Path, "tree");
                Directory.CreateDirectory(tree);
                File.WriteAllText(Path.Combine(tree, "init"), "#!/bin/sh\n");
                Initramfs.Pack(tree, path, new InitramfsWriteOptions { Compression = InitramfsCompression.None }, overwrite: overwrite);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(creator));
        }
    }

    [Theory]
    [MemberData(nameof(Creators))]
    public void Create_ExistingFile_IsRefusedWithItsNameAndKept(string creator)
    {
        string path = Existing("existing.img");
        IOException e = Assert.Throws<IOException>(() => CreateAt(creator, path, overwrite: false));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Equal(Keep, File.ReadAllBytes(path));
    }

    [Theory]
    [MemberData(nameof(Creators))]
    public void Create_DanglingSymbolicLink_IsRefused(string creator)
    {
        string link = _temp.File("link.img");
        File.CreateSymbolicLink(link, _temp.File("nowhere"));
        Assert.Throws<IOException>(() => CreateAt(creator, link, overwrite: false));
        Assert.False(File.Exists(_temp.File("nowhere")));
    }

    [Theory]
    [MemberData(nameof(Creators))]
    public void Create_ExistingFile_WithOverwrite_ReplacesIt(string creator)
    {
        string path = Existing("existing.img");
        CreateAt(creator, path, overwrite: true);
        Assert.NotEqual(Keep, File.ReadAllBytes(path).AsSpan(0, Math.Min(Keep.Length, (int)new FileInfo(path).Length)).ToArray());
    }

    [Theory]
    [MemberData(nameof(Creators))]
    public void Create_NewFile_NeedsNoOption(string creator)
    {
        string path = _temp.File("new.img");
        CreateAt(creator, path, overwrite: false);
        Assert.True(File.Exists(path));
    }

    [Fact]
    public void Cli_CreateConvertMkfsMkinitramfs_OverwriteAsQemuImgDoes()
    {
        string image = Existing("cli.img");
        CliHarness.RunOk("create", "-f", "qcow2", image, "1M");
        Assert.Equal(DiskImageFormat.Qcow2, DiskImageFile.DetectFormat(image));
        CliHarness.RunOk("create", "-f", "raw", image, "1M");
        Assert.Equal(1 << 20, new FileInfo(image).Length);

        string target = Existing("converted.img");
        CliHarness.RunOk("convert", "-O", "qcow2", image, target);
        Assert.Equal(DiskImageFormat.Qcow2, DiskImageFile.DetectFormat(target));

        string fs = Existing("fs.img");
        CliHarness.RunOk("mkfs", "--size", "8M", "ext4", fs);
        Assert.Equal(8 << 20, new FileInfo(fs).Length);

        string tree = Path.Combine(_temp.Path, "tree");
        Directory.CreateDirectory(tree);
        File.WriteAllText(Path.Combine(tree, "init"), "#!/bin/sh\n");
        string initrd = Existing("initrd.img");
        CliHarness.RunOk("mkinitramfs", tree, "-o", initrd, "--compress", "none");
        Assert.NotEqual(Keep, File.ReadAllBytes(initrd).AsSpan(0, Keep.Length).ToArray());
    }
}
