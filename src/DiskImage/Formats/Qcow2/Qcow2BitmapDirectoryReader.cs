using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <summary>Reads and validates the bitmap directory that the bitmaps header extension points to.</summary>
internal static class Qcow2BitmapDirectoryReader
{
    /// <summary>
    /// Reads the bitmap directory when the autoclear bit says the extension is consistent (otherwise
    /// QEMU ignores the bitmaps). A writable open refuses bitmaps it could not maintain.
    /// </summary>
    internal static List<Qcow2BitmapDirectoryEntry>? ReadBitmapDirectory(BlockDevice host, Qcow2Header header, bool writable)
    {
        const string S = "qcow2 bitmaps extension";
        if (header.Version < 3 || (header.AutoclearFeatures & Qcow2AutoclearFeatures.Bitmaps) == 0 ||
            header.FindExtension(Qcow2HeaderExtension.Bitmaps) is not { } ext)
        {
            return null;
        }

        ReadOnlySpan<byte> d = ext.Data;
        uint count = BinaryPrimitives.ReadUInt32BigEndian(d);
        uint reserved = BinaryPrimitives.ReadUInt32BigEndian(d[4..]);
        ulong size = BinaryPrimitives.ReadUInt64BigEndian(d[8..]);
        ulong offset = BinaryPrimitives.ReadUInt64BigEndian(d[16..]);
        long fileLength = host.Length;
        if (count == 0 || count > Qcow2BitmapDirectoryEntry.MaxBitmaps || reserved != 0)
        {
            FormatError.Throw(S, -1, $"invalid bitmap count {count} (reserved field {reserved}).");
        }

        if (size < (ulong)count * Qcow2BitmapDirectoryEntry.FixedSize || size > Qcow2BitmapDirectoryEntry.MaxDirectorySize)
        {
            FormatError.Throw(S, -1, $"invalid bitmap directory size {size} for {count} bitmaps.");
        }

        if (offset == 0 || (offset & (ulong)(header.ClusterSize - 1)) != 0 || offset > (ulong)fileLength || size > (ulong)fileLength - offset)
        {
            FormatError.Throw(S, -1, $"invalid bitmap directory offset {offset} (size {size}, file {fileLength} bytes).");
        }

        byte[] directory = new byte[(int)size];
        host.ReadExactly((long)offset, directory);
        List<Qcow2BitmapDirectoryEntry> list = Qcow2BitmapDirectoryEntry.ParseDirectory(directory, count, (long)offset);
        if (writable)
        {
            foreach (Qcow2BitmapDirectoryEntry e in list)
            {
                if (e.Validate((long)header.Size, header.ClusterSize, fileLength) is { } problem)
                {
                    FormatError.Throw("qcow2 bitmap directory", (long)offset, problem + "; the image cannot be opened read/write.");
                }

                if (e.ExtraData.Length != 0 && (e.Flags & Qcow2BitmapFlags.ExtraDataCompatible) == 0)
                {
                    FormatError.Unsupported($"The qcow2 bitmap '{e.NameText}' has extra data this library cannot keep; the image cannot be opened read/write.");
                }
            }
        }

        return list;
    }
}
