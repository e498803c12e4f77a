using DiskImage.IO;
using DiskImage.Tests.Infrastructure;

namespace DiskImage.Tests.Conformance;

public sealed class MemoryBlockDeviceConformanceTests : BlockDeviceConformanceTests
{
    protected override bool SupportsConcurrentWriters => true;

    protected override BlockDevice CreateDevice(long length, byte[]? initialContent) =>
        new MemoryBlockDevice(initialContent ?? new byte[length]);

    protected override BlockDevice CreateReadOnlyDevice(byte[] content) => new MemoryBlockDevice(content, writable: false);
}

public sealed class FileBlockDeviceConformanceTests : BlockDeviceConformanceTests
{
    protected override bool SupportsConcurrentWriters => true;

    private int _files;

    protected override BlockDevice CreateDevice(long length, byte[]? initialContent) =>
        FileBlockDevice.Open(WriteSparseFile(length, initialContent), writable: true);

    protected override BlockDevice CreateReadOnlyDevice(byte[] content) =>
        FileBlockDevice.Open(WriteSparseFile(content.Length, content), writable: false);

    /// <summary>Writes only the non-zero 4 KiB blocks, so the file has holes where the content is zero.</summary>
    private string WriteSparseFile(long length, byte[]? content)
    {
        string path = Temp.File($"device{Interlocked.Increment(ref _files)}.raw");
        using FileBlockDevice file = FileBlockDevice.Create(path, length);
        if (content is not null)
        {
            for (int pos = 0; pos < content.Length; pos += 4096)
            {
                ReadOnlySpan<byte> block = content.AsSpan(pos, Math.Min(4096, content.Length - pos));
                if (block.ContainsAnyExcept((byte)0))
                {
                    file.Write(pos, block);
                }
            }
        }

        return path;
    }
}

public sealed class SubBlockDeviceConformanceTests : BlockDeviceConformanceTests
{
    protected override bool SupportsConcurrentWriters => true;

    private const int Padding = 4099;

    protected override BlockDevice CreateDevice(long length, byte[]? initialContent) => Create(length, initialContent, writable: true);

    protected override BlockDevice CreateReadOnlyDevice(byte[] content) => Create(content.Length, content, writable: false);

    private static SubBlockDevice Create(long length, byte[]? content, bool writable)
    {
        var backing = new byte[length + (2 * Padding)];
        new Random(Seed).NextBytes(backing);
        if (content is not null)
        {
            content.CopyTo(backing, Padding);
        }
        else
        {
            backing.AsSpan(Padding, (int)length).Clear();
        }

        return new SubBlockDevice(new MemoryBlockDevice(backing), Padding, length, writable, leaveOpen: false);
    }
}

public sealed class SubBlockDeviceOverFileConformanceTests : BlockDeviceConformanceTests
{
    protected override bool SupportsConcurrentWriters => true;

    private const int Padding = 8192;
    private int _files;

    protected override BlockDevice CreateDevice(long length, byte[]? initialContent)
    {
        string path = Temp.File($"window{Interlocked.Increment(ref _files)}.raw");
        using (FileBlockDevice file = FileBlockDevice.Create(path, length + (2 * Padding)))
        {
            file.Write(0, Enumerable.Repeat((byte)0xEE, Padding).ToArray());
            file.Write(length + Padding, Enumerable.Repeat((byte)0xEE, Padding).ToArray());
            if (initialContent is not null)
            {
                for (int pos = 0; pos < initialContent.Length; pos += 4096)
                {
                    ReadOnlySpan<byte> block = initialContent.AsSpan(pos, Math.Min(4096, initialContent.Length - pos));
                    if (block.ContainsAnyExcept((byte)0))
                    {
                        file.Write(Padding + pos, block);
                    }
                }
            }
        }

        return new SubBlockDevice(FileBlockDevice.Open(path, writable: true), Padding, length, leaveOpen: false);
    }

    protected override bool SupportsReadOnly => false;
}

public sealed class ZeroBlockDeviceConformanceTests : BlockDeviceConformanceTests
{
    protected override bool IsWritable => false;

    protected override bool SupportsInitialContent => false;

    protected override BlockDevice CreateDevice(long length, byte[]? initialContent) => new ZeroBlockDevice(length);

    protected override BlockDevice CreateReadOnlyDevice(byte[] content) => new ZeroBlockDevice(content.Length, AllocationKind.Unallocated);
}

public sealed class FaultInjectingBlockDeviceConformanceTests : BlockDeviceConformanceTests
{
    protected override BlockDevice CreateDevice(long length, byte[]? initialContent) =>
        new FaultInjectingBlockDevice(new MemoryBlockDevice(initialContent ?? new byte[length]));

    protected override BlockDevice CreateReadOnlyDevice(byte[] content) =>
        new FaultInjectingBlockDevice(new MemoryBlockDevice(content, writable: false));
}
