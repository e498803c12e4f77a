using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;
using DiskImage.Tests.Infrastructure;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Conformance;

/// <summary>The guest view of a qcow2 image (stored in memory) keeps the block device contract.</summary>
public class Qcow2ContentConformanceTests : BlockDeviceConformanceTests
{
    /// <summary>Qcow2Image serializes writes internally, so callers may write from several threads.</summary>
    protected override bool SupportsConcurrentWriters => true;

    /// <summary>qcow2 virtual sizes are multiples of 512 bytes.</summary>
    protected override int LengthGranularity => 512;

    /// <summary>qcow2 shrinks over data as QEMU does: the clusters past the new end are discarded.</summary>
    protected override bool CanShrinkOverData => true;

    /// <summary>Cluster size of the images; subclasses vary the layout.</summary>
    protected virtual Qcow2CreateOptions CreateOptions => new() { ClusterSize = 4096 };

    private readonly Dictionary<BlockDevice, MemoryBlockDevice> _hosts = [];

    protected override BlockDevice CreateDevice(long length, byte[]? initialContent)
    {
        var host = new MemoryBlockDevice(0);
        Qcow2Image image = Qcow2Image.Create(host, length, CreateOptions);
        if (initialContent is not null)
        {
            WriteNonZeroBlocks(image.Content, initialContent);
        }

        var device = new ImageContentDevice(image);
        lock (_hosts)
        {
            _hosts[device] = host;
        }

        return device;
    }

    /// <summary>qemu-img check judges the image file (when qemu-img is installed): no corruptions, no leaks.</summary>
    protected override void AssertDeviceSound(BlockDevice device, string context)
    {
        if (Oracle.Find("qemu-img") is null || !_hosts.TryGetValue(device, out MemoryBlockDevice? host))
        {
            return;
        }

        ((ImageContentDevice)device).Image.Flush();
        string path = Temp.File($"check-{Guid.NewGuid():N}.qcow2");
        File.WriteAllBytes(path, host.Data.ToArray());
        ToolResult r = Oracle.Run("qemu-img", "check", "-f", "qcow2", path);
        Assert.True(r.ExitCode == 0, $"{context}: {r}");
    }

    protected override BlockDevice CreateReadOnlyDevice(byte[] content)
    {
        var host = new MemoryBlockDevice(0);
        using (Qcow2Image image = Qcow2Image.Create(host, content.Length, CreateOptions, leaveOpen: true))
        {
            WriteNonZeroBlocks(image.Content, content);
        }

        return new ImageContentDevice(Qcow2Image.Open(host, DiskImageOpenOptions.Default, leaveOpen: false));
    }

    private static void WriteNonZeroBlocks(BlockDevice content, byte[] data)
    {
        for (int pos = 0; pos < data.Length; pos += 4096)
        {
            ReadOnlySpan<byte> block = data.AsSpan(pos, Math.Min(4096, data.Length - pos));
            if (block.ContainsAnyExcept((byte)0))
            {
                content.Write(pos, block);
            }
        }
    }
}

/// <summary>The same contract over 64 KiB clusters with extended L2 entries (subclusters).</summary>
public sealed class Qcow2ExtendedL2ContentConformanceTests : Qcow2ContentConformanceTests
{
    protected override Qcow2CreateOptions CreateOptions => new() { ClusterSize = 65536, ExtendedL2 = true };
}
