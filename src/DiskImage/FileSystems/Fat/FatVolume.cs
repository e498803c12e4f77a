using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Fat;

/// <summary>
/// The device, boot sector and FAT of one volume, and byte access to cluster chains (contiguous clusters
/// are read and written in one device call).
/// </summary>
internal sealed class FatVolume
{
    public FatVolume(BlockDevice device, FatBootSector boot, FatTable table, bool writable)
    {
        Device = device;
        Boot = boot;
        Table = table;
        Writable = writable;
    }

    public BlockDevice Device { get; }

    public FatBootSector Boot { get; }

    public FatTable Table { get; }

    public bool Writable { get; }

    /// <summary>Reads <paramref name="buffer"/> from byte <paramref name="position"/> of the chain (the range must be inside it).</summary>
    public void Read(List<uint> chain, long position, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            (long offset, int length) = Run(chain, position, buffer.Length);
            Device.ReadExactly(offset, buffer[..length]);
            buffer = buffer[length..];
            position += length;
        }
    }

    /// <summary>Writes <paramref name="buffer"/> at byte <paramref name="position"/> of the chain (the range must be inside it).</summary>
    public void Write(List<uint> chain, long position, ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            (long offset, int length) = Run(chain, position, buffer.Length);
            Device.Write(offset, buffer[..length]);
            buffer = buffer[length..];
            position += length;
        }
    }

    /// <summary>Writes zeros over <paramref name="length"/> bytes from <paramref name="position"/> of the chain.</summary>
    public void Zero(List<uint> chain, long position, long length)
    {
        while (length > 0)
        {
            (long offset, int run) = Run(chain, position, (int)Math.Min(length, int.MaxValue));
            Device.WriteZeroes(offset, run);
            length -= run;
            position += run;
        }
    }

    /// <summary>Writes the FAT, then the FSInfo free count and next-free hint (FAT32).</summary>
    public void Flush()
    {
        Table.Flush();
        if (Boot.FsInfoSector == 0)
        {
            return;
        }

        long at = (long)Boot.FsInfoSector * Boot.BytesPerSector;
        Span<byte> s = stackalloc byte[512];
        Device.ReadExactly(at, s);
        if (BinaryPrimitives.ReadUInt32LittleEndian(s) != 0x41615252 || BinaryPrimitives.ReadUInt32LittleEndian(s[484..]) != 0x61417272)
        {
            return;
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(s[488..]) != (uint)Table.FreeClusters || BinaryPrimitives.ReadUInt32LittleEndian(s[492..]) != Table.NextFree)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(s[488..], (uint)Table.FreeClusters);
            BinaryPrimitives.WriteUInt32LittleEndian(s[492..], Table.NextFree);
            Device.Write(at, s);
        }
    }

    /// <summary>The device offset and length of the longest contiguous run at <paramref name="position"/>, at most <paramref name="max"/> bytes.</summary>
    private (long Offset, int Length) Run(List<uint> chain, long position, int max)
    {
        int size = Boot.ClusterSize;
        int index = (int)(position / size);
        int within = (int)(position % size);
        uint first = chain[index];
        long length = size - within;
        while (length < max && index + 1 < chain.Count && chain[index + 1] == chain[index] + 1)
        {
            index++;
            length += size;
        }

        return (Boot.ClusterOffset(first) + within, (int)Math.Min(length, max));
    }
}
