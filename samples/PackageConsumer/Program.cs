// A customer's program: make a qcow2, write and read it back, check it, convert it compressed;
// format ext4 on a memory device and use it as a file system; pack an initramfs and list it.
// Exits 1 at the first result that is not what it should be.
using System.Security.Cryptography;
using DiskImage.Archives.Cpio;
using DiskImage.Conversion;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

string work = Directory.CreateTempSubdirectory("diskimage-consumer-").FullName;
try
{
    // qcow2: 64 MiB, random data in two places.
    string qcow2 = Path.Combine(work, "disk.qcow2");
    byte[] data = RandomNumberGenerator.GetBytes(1 << 20);
    using (Qcow2Image image = Qcow2Image.Create(qcow2, 64L << 20))
    {
        image.Content.Write(0, data);
        image.Content.Write(40L << 20, data);
        image.Flush();

        // Content is the image's own view: a stream over it may be disposed, the image stays open.
        using (Stream view = image.Content.AsStream())
        {
            view.Position = 4096;
            view.Write(data.AsSpan(0, 512));
        }

        image.Content.Write(0, data.AsSpan(0, 4096));
    }

    // Create never replaces an existing file unless asked.
    try
    {
        Qcow2Image.Create(qcow2, 64L << 20).Dispose();
        Expect(false, "Create replaced an existing image");
    }
    catch (IOException e) when (e.Message.Contains(qcow2, StringComparison.Ordinal))
    {
    }

    using (Qcow2Image image = Qcow2Image.Open(qcow2, new DiskImageOpenOptions { Writable = true }))
    {
        Qcow2CheckResult check = image.Check(Qcow2RepairMode.None);
        Expect(check.Corruptions == 0 && check.Leaks == 0, $"check: {check.Corruptions} corruptions, {check.Leaks} leaks");
    }

    string zstd = Path.Combine(work, "disk-zstd.qcow2");
    using (DiskImageFile source = DiskImageFile.Open(qcow2))
    {
        byte[] back = new byte[data.Length];
        source.Content.ReadExactly(40L << 20, back);
        Expect(back.AsSpan().SequenceEqual(data), "qcow2 read-back differs");
        var options = new ConvertOptions
        {
            TargetFormat = DiskImageFormat.Qcow2,
            Compress = true,
            Qcow2 = new Qcow2CreateOptions { CompressionType = Qcow2CompressionType.Zstd },
        };
        ImageConverter.Convert(source.Content, zstd, options);
        using DiskImageFile converted = DiskImageFile.Open(zstd);
        Expect(ImageComparer.FindFirstDifference(source.Content, converted.Content) is null, "converted image differs");
    }

    // ext4 on a memory device.
    using (var device = new MemoryBlockDevice(32 << 20))
    {
        Ext4FileSystem.Format(device, new Ext4FormatOptions { Label = "consumer" });
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }, leaveOpen: true))
        {
            fs.CreateDirectory("/etc", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            using Stream file = fs.OpenFile("/etc/hostname", FileMode.CreateNew, FileAccess.Write);
            file.Write("consumer\n"u8);
        }

        using Ext4FileSystem readBack = Ext4FileSystem.Open(device, Ext4OpenOptions.Default, leaveOpen: true);
        UnixFileInfo etc = readBack.GetEntry("/etc");
        Expect(etc.Mode == (UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute), $"/etc mode {etc.Mode}");
        using Stream hostname = readBack.OpenFile("/etc/hostname", FileMode.Open, FileAccess.Read);
        using var reader = new StreamReader(hostname);
        Expect(reader.ReadToEnd() == "consumer\n", "ext4 read-back differs");
    }

    // initramfs from a host directory.
    string tree = Path.Combine(work, "tree");
    Directory.CreateDirectory(Path.Combine(tree, "bin"));
    File.WriteAllText(Path.Combine(tree, "init"), "#!/bin/sh\nexec /bin/sh\n");
    string initrd = Path.Combine(work, "initrd.img");
    Initramfs.Pack(tree, initrd, new InitramfsWriteOptions { Compression = InitramfsCompression.Gzip });
    using (FileStream stream = File.OpenRead(initrd))
    {
        var names = Initramfs.List(stream).Select(e => e.Name).ToHashSet();
        Expect(names.Contains("init") && names.Contains("bin"), "initramfs listing: " + string.Join(' ', names));
        Expect(stream.CanRead, "Initramfs.List closed the caller's stream");
    }

    Console.WriteLine("consumer ok");
    return 0;
}
finally
{
    Directory.Delete(work, recursive: true);
}

static void Expect(bool condition, string what)
{
    if (!condition)
    {
        Console.Error.WriteLine("consumer FAILED: " + what);
        Environment.Exit(1);
    }
}
