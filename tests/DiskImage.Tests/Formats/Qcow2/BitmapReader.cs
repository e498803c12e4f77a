using System.Buffers.Binary;
using System.Text;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>One persistent bitmap decoded straight from the file (test-side reader, independent of the library).</summary>
public sealed record StoredBitmap(string Name, uint Flags, int GranularityBits, ulong TableOffset, byte[] Bits);

/// <summary>
/// Decodes the bitmaps extension, directory, tables and data of a qcow2 file following the spec
/// (docs/interop/qcow2.rst, "Bitmaps"), so tests can compare the bits QEMU stored with ours.
/// </summary>
public static class BitmapReader
{
    /// <summary>The autoclear bit 0 and the bitmaps, in directory order (empty when there is no extension).</summary>
    public static (bool Autoclear, List<StoredBitmap> Bitmaps) Read(string path)
    {
        byte[] d = File.ReadAllBytes(path);
        int clusterBits = (int)BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(20));
        int clusterSize = 1 << clusterBits;
        ulong size = BinaryPrimitives.ReadUInt64BigEndian(d.AsSpan(24));
        bool autoclear = (BinaryPrimitives.ReadUInt64BigEndian(d.AsSpan(88)) & 1) != 0;
        int pos = (int)BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(100));
        var list = new List<StoredBitmap>();
        while (true)
        {
            uint type = BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(pos));
            uint length = BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(pos + 4));
            if (type == 0)
            {
                return (autoclear, list);
            }

            if (type == 0x23852875)
            {
                break;
            }

            pos += 8 + (int)((length + 7) & ~7u);
        }

        uint count = BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(pos + 8));
        long dir = (long)BinaryPrimitives.ReadUInt64BigEndian(d.AsSpan(pos + 24));
        for (uint i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> e = d.AsSpan((int)dir);
            ulong tableOffset = BinaryPrimitives.ReadUInt64BigEndian(e);
            uint tableSize = BinaryPrimitives.ReadUInt32BigEndian(e[8..]);
            uint flags = BinaryPrimitives.ReadUInt32BigEndian(e[12..]);
            int granularityBits = e[17];
            int nameSize = BinaryPrimitives.ReadUInt16BigEndian(e[18..]);
            int extraSize = (int)BinaryPrimitives.ReadUInt32BigEndian(e[20..]);
            string name = Encoding.UTF8.GetString(e.Slice(24 + extraSize, nameSize));
            long bitCount = (long)((size + (1UL << granularityBits) - 1) >> granularityBits);
            byte[] bits = new byte[(bitCount + 7) / 8];
            for (int t = 0; t < tableSize; t++)
            {
                ulong entry = BinaryPrimitives.ReadUInt64BigEndian(d.AsSpan((int)tableOffset + (t * 8)));
                long host = (long)(entry & 0x00fffffffffffe00);
                int start = t * clusterSize;
                int n = Math.Min(clusterSize, bits.Length - start);
                if (n <= 0)
                {
                    break;
                }

                if (host != 0)
                {
                    d.AsSpan((int)host, n).CopyTo(bits.AsSpan(start));
                }
                else if ((entry & 1) != 0)
                {
                    bits.AsSpan(start, n).Fill(0xff);
                }
            }

            list.Add(new StoredBitmap(name, flags, granularityBits, tableOffset, bits));
            dir += (24 + extraSize + nameSize + 7) & ~7;
        }

        return (autoclear, list);
    }
}
