using DiskImage.IO;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Locking;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.IO;

/// <summary>Block devices (loop devices) as sources and targets, judged by qemu-img 7.2 on the same device.</summary>
public sealed class LoopDeviceTests : IDisposable
{
    private const long DeviceSize = 24L << 20;
    private const int Seed = 20261207;

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Garbage(string name, long length, int seed)
    {
        string path = _temp.File(name);
        var random = new Random(seed);
        byte[] data = new byte[length];
        random.NextBytes(data);
        File.WriteAllBytes(path, data);
        return path;
    }

    [SkippableFact]
    public void FileBlockDevice_OnLoopDevice_HasDeviceSizeAndIsNeverTruncated()
    {
        string backing = Garbage("backing.img", DeviceSize, Seed);
        byte[] original = File.ReadAllBytes(backing);
        using var loop = LoopDevice.Attach(backing);
        using (FileBlockDevice device = FileBlockDevice.Create(loop.Path, 16L << 20, overwrite: true))
        {
            Assert.True(device.IsHostBlockDevice);
            Assert.Equal(DeviceSize, device.Length);
            Assert.False(device.CanSetLength);
            device.SetLength(DeviceSize);
            NotSupportedException e = Assert.Throws<NotSupportedException>(() => device.SetLength(DeviceSize + 512));
            Assert.Equal("Cannot resize device files", e.Message);

            // Zeroing: an unaligned range, so the device's zero-out and plain writes both take part.
            device.WriteZeroes(1000, 70_000);
            device.Flush();
            byte[] read = new byte[80_000];
            device.Read(0, read);
            Assert.Equal(original.AsSpan(0, 1000), read.AsSpan(0, 1000));
            Assert.True(read.AsSpan(1000, 70_000).IndexOfAnyExcept((byte)0) < 0);
            Assert.Equal(original.AsSpan(71_000, 9_000), read.AsSpan(71_000, 9_000));
            Assert.True(ReadAll(device).AsSpan(1 << 20).SequenceEqual(original.AsSpan(1 << 20)), "The device was truncated or changed past the zeroed range.");

            // A second writer of the device is refused, as QEMU refuses it.
            Assert.Throws<IOException>(() => FileBlockDevice.Open(loop.Path, writable: true));
        }

        IOException grow = Assert.Throws<IOException>(() => FileBlockDevice.Create(loop.Path, DeviceSize + 512, overwrite: true));
        Assert.Equal("Cannot grow device files", grow.Message);
        Assert.Equal(DeviceSize, new FileInfo(backing).Length);
    }

    private static byte[] ReadAll(BlockDevice device)
    {
        byte[] all = new byte[device.Length];
        device.Read(0, all);
        return all;
    }

    [SkippableFact]
    public void Cli_InfoCheckMap_OnLoopDeviceHoldingQcow2_EqualQemuImg()
    {
        string qcow2 = _temp.File("disk.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", qcow2, "16M");
        CliHarness.QemuIo(qcow2, "qcow2", "write -P 0x11 1M 1M", "write -z 3M 1M", "write -P 0x22 9M 64k");
        byte[] image = File.ReadAllBytes(qcow2);
        string backing = Garbage("backing.img", DeviceSize, Seed);
        using (var stream = new FileStream(backing, FileMode.Open, FileAccess.Write))
        {
            stream.Write(image);
        }

        using var loop = LoopDevice.Attach(backing);
        string[][] verbs =
        [
            ["info", loop.Path],
            ["info", "--output=json", loop.Path],
            ["check", loop.Path],
            ["check", "--output=json", loop.Path],
            ["map", loop.Path],
            ["map", "--output=json", loop.Path],
            ["info", "-f", "raw", loop.Path],
            ["map", "-f", "raw", "--output=json", loop.Path],
            ["resize", "-f", "raw", loop.Path, "24M"],
            ["resize", "-f", "raw", loop.Path, "32M"],
        ];
        foreach (string[] verb in verbs)
        {
            CliResult qemu = CliHarness.QemuImg(verb);
            CliResult ours = CliHarness.Run(verb);
            Assert.True(qemu.ToString() == ours.ToString(), $"{string.Join(' ', verb)}\nqemu-img: {qemu}\ndiskimage: {ours}");
        }

        Assert.Contains("virtual size: 16 MiB", CliHarness.RunOk("info", loop.Path).StandardOutput, StringComparison.Ordinal);
        Assert.Contains("virtual size: 24 MiB", CliHarness.RunOk("info", "-f", "raw", loop.Path).StandardOutput, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData("raw", false)]
    [InlineData("qcow2", false)]
    [InlineData("raw", true)]
    [InlineData("qcow2", true)]
    public void Cli_ConvertIntoLoopDevice_IdenticalPerQemuImgCompare(string sourceFormat, bool existingTarget)
    {
        string source = _temp.File("source." + sourceFormat);
        Oracle.RunOk("qemu-img", "create", "-q", "-f", sourceFormat, source, DeviceSize.ToString(System.Globalization.CultureInfo.InvariantCulture));
        CliHarness.QemuIo(source, sourceFormat, "write -P 0x5a 0 3M", "write -z 5M 2M", "write -P 0xa5 13M 64k", "write -P 0x01 24575k 1k");

        // The device starts full of random bytes: every range the source has as zeros must be zeroed.
        string backing = Garbage("backing.img", DeviceSize, Seed);
        using var loop = LoopDevice.Attach(backing);
        string[] args = existingTarget
            ? ["convert", "-n", "-f", sourceFormat, "-O", "raw", source, loop.Path]
            : ["convert", "-f", sourceFormat, "-O", "raw", source, loop.Path];
        CliHarness.RunOk(args);
        ToolResult compare = Oracle.Run("qemu-img", "compare", "-f", sourceFormat, "-F", "raw", source, loop.Path);
        Assert.True(compare.ExitCode == 0, $"seed {Seed}: {compare}");
        Assert.Equal(DeviceSize, new FileInfo(backing).Length);
    }

    [SkippableFact]
    public void Locks_OnLoopDevice_QemuIoHoldingItExcludesOurWriter()
    {
        string backing = _temp.File("backing.img");
        File.WriteAllBytes(backing, new byte[4 << 20]);
        using var loop = LoopDevice.Attach(backing);
        using (QemuImageHolder.Start(loop.Path, "raw"))
        {
            Assert.Throws<IOException>(() => FileBlockDevice.Open(loop.Path, writable: true));
            using FileBlockDevice reader = FileBlockDevice.Open(loop.Path);
            Assert.Equal(4L << 20, reader.Length);
        }
    }
}
