using System.Buffers.Binary;
using DiskImage.Archives.Cpio;
using DiskImage.FileSystems.Ext4;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.Formats.Raw;
using DiskImage.IO;

namespace DiskImage.Tests.Api;

/// <summary>
/// The ownership rule of docs/architecture.md: a call with a <c>leaveOpen</c> parameter takes the stream or
/// device over unless asked not to, every other call borrows it, a failed call takes nothing over, and a view
/// of something an owner holds (an image's <c>Content</c>) never disposes it.
/// </summary>
public sealed class OwnershipTests
{
    private static readonly byte[] Pattern = [1, 2, 3, 4, 5, 6, 7, 8];

    public static TheoryData<string> Formats => new() { "raw", "qcow2" };

    private static DiskImageFile CreateImage(string format, string path) => format == "raw"
        ? RawImage.Create(path, 8 << 20)
        : Qcow2Image.Create(path, 8 << 20);

    [Theory]
    [MemberData(nameof(Formats))]
    public void ContentAsStream_Disposed_LeavesTheImageAndItsContentOpen(string format)
    {
        using var tmp = new TempDirectory();
        using DiskImageFile image = CreateImage(format, tmp.File("disk." + format));
        using (Stream s = image.Content.AsStream())
        {
            s.Write(Pattern);
        }

        byte[] back = new byte[Pattern.Length];
        image.Content.ReadExactly(0, back);
        Assert.Equal(Pattern, back);
        image.Content.Write(4096, Pattern);
        image.Flush();
        Assert.Equal(8 << 20, image.GetInfo().VirtualSize);
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void ContentDisposedDirectly_IsANoOp_UntilTheImageIsDisposed(string format)
    {
        using var tmp = new TempDirectory();
        DiskImageFile image = CreateImage(format, tmp.File("disk." + format));
        BlockDevice content = image.Content;
        content.Dispose();
        content.Write(0, Pattern);
        image.Dispose();
        Assert.Throws<ObjectDisposedException>(() => content.Read(0, new byte[8]));

        // The image really released the file: a new writable open takes its lock.
        using DiskImageFile again = DiskImageFile.Open(tmp.File("disk." + format), new DiskImageOpenOptions { Writable = true });
        byte[] back = new byte[Pattern.Length];
        again.Content.ReadExactly(0, back);
        Assert.Equal(Pattern, back);
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void FileSystemOverContent_WithoutLeaveOpen_DoesNotCloseTheImage(string format)
    {
        using var tmp = new TempDirectory();
        using DiskImageFile image = CreateImage(format, tmp.File("disk." + format));
        Ext4FileSystem.Format(image.Content, new Ext4FormatOptions { BlockSize = 1024, JournalBlocks = 0 });
        using (Ext4FileSystem fs = Ext4FileSystem.Open(image.Content, new Ext4OpenOptions { Writable = true }))
        {
            fs.CreateDirectory("/d");
        }

        using Ext4FileSystem again = Ext4FileSystem.Open(image.Content);
        Assert.True(again.Exists("/d"));
    }

    [Fact]
    public void InitramfsList_LeavesTheCallersStreamOpen()
    {
        var tree = new InMemoryTreeSource();
        tree.AddFile("/init", "#!/bin/sh\n"u8.ToArray());
        using var image = new MemoryStream();
        Initramfs.Write(image, tree, new InitramfsWriteOptions { Compression = InitramfsCompression.Gzip });

        image.Position = 0;
        Assert.Contains(Initramfs.List(image), e => e.Name == "init");
        Assert.True(image.CanRead, "Initramfs.List disposed the caller's stream");
        image.Position = 0;
        Assert.Contains(Initramfs.List(image), e => e.Name == "init");

        // Abandoning the enumeration half-way leaves it open too.
        image.Position = 0;
        using (IEnumerator<CpioEntry> e = Initramfs.List(image).GetEnumerator())
        {
            Assert.True(e.MoveNext());
        }

        Assert.True(image.CanSeek);
    }

    [Fact]
    public void InitramfsListWriteListingExtractFile_BorrowTheStream()
    {
        var tree = new InMemoryTreeSource();
        tree.AddFile("/etc/hostname", "box\n"u8.ToArray());
        using var image = new MemoryStream();
        Initramfs.Write(image, tree);
        image.Position = 0;
        Initramfs.WriteListing(image, new StringWriter());
        Assert.True(image.CanRead);
        image.Position = 0;
        using var content = new MemoryStream();
        Assert.True(Initramfs.ExtractFile(image, "etc/hostname", content));
        Assert.True(image.CanRead && content.CanRead);
        using Stream compressor = Initramfs.OpenCompressor(content, new InitramfsWriteOptions { Compression = InitramfsCompression.Gzip });
        compressor.Dispose();
        Assert.True(content.CanWrite);
    }

    [Fact]
    public void Ext4Open_FailedWritableOpen_TakesNothingOver()
    {
        using var device = new MemoryBlockDevice(8 << 20);
        Ext4FileSystem.Format(device, new Ext4FormatOptions { BlockSize = 1024, JournalBlocks = 0 });

        // Block group 0's block bitmap (descriptor table at block 2 with 1 KiB blocks): marking free
        // blocks used breaks its checksum, so the writable open's verification refuses the file system.
        byte[] descriptor = new byte[4];
        device.ReadExactly(2048, descriptor);
        long bitmap = BinaryPrimitives.ReadUInt32LittleEndian(descriptor) * 1024L;
        byte[] bits = new byte[1];
        device.ReadExactly(bitmap + 700, bits);
        bits[0] ^= 0xFF;
        device.Write(bitmap + 700, bits);

        Assert.ThrowsAny<Exception>(() => Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }, leaveOpen: false).Dispose());
        byte[] back = new byte[1];
        device.ReadExactly(bitmap + 700, back);
        Assert.Equal(bits, back);
        using Ext4FileSystem readOnly = Ext4FileSystem.Open(device, leaveOpen: true);
        Assert.True(readOnly.Exists("/lost+found"));
    }

    [Fact]
    public void FileSystemOpen_OwnsTheDeviceUnlessLeaveOpen()
    {
        var device = new MemoryBlockDevice(4 << 20);
        Ext4FileSystem.Format(device, new Ext4FormatOptions { BlockSize = 1024, JournalBlocks = 0 });
        Ext4FileSystem.Open(device, leaveOpen: true).Dispose();
        device.Read(0, new byte[1]);
        Ext4FileSystem.Open(device).Dispose();
        Assert.Throws<ObjectDisposedException>(() => device.Read(0, new byte[1]));
    }
}
