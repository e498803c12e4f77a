using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Fills and seals the raw inodes, extent blocks and directory blocks that format and build write:
/// mode, owners, times, extent roots, block counts and the metadata_csum checksums.
/// </summary>
internal sealed class Ext4FormatInodeWriter(Ext4Formatter owner)
{
    private readonly Ext4Formatter _formatter = owner;

    internal static void WriteIndexRoot(Span<byte> iblock, long leafBlock)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(iblock, 0xF30A);
        BinaryPrimitives.WriteUInt16LittleEndian(iblock[2..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(iblock[4..], 4);
        BinaryPrimitives.WriteUInt16LittleEndian(iblock[6..], 1); // depth
        BinaryPrimitives.WriteUInt32LittleEndian(iblock[12..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(iblock[16..], (uint)leafBlock);
        BinaryPrimitives.WriteUInt16LittleEndian(iblock[20..], (ushort)(leafBlock >> 32));
    }

    internal static void WriteExtents(Span<byte> node, List<(long Start, long Count)> extents, int max)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(node, 0xF30A);
        BinaryPrimitives.WriteUInt16LittleEndian(node[2..], (ushort)extents.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(node[4..], (ushort)max);
        uint logical = 0;
        for (int i = 0; i < extents.Count; i++)
        {
            Span<byte> e = node[(12 + (i * 12))..];
            BinaryPrimitives.WriteUInt32LittleEndian(e, logical);
            BinaryPrimitives.WriteUInt16LittleEndian(e[4..], (ushort)extents[i].Count);
            BinaryPrimitives.WriteUInt16LittleEndian(e[6..], (ushort)(extents[i].Start >> 32));
            BinaryPrimitives.WriteUInt32LittleEndian(e[8..], (uint)extents[i].Start);
            logical += (uint)extents[i].Count;
        }
    }

    /// <summary>Fills the common inode fields (the caller sets <c>i_block</c>, flags and the block count).</summary>
    public void InitInode(Span<byte> raw, ushort mode, uint uid, uint gid, ushort links, long size, UnixTime atime, UnixTime ctime, UnixTime mtime, UnixTime crtime)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(raw, mode);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x02..], (ushort)uid);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x04..], (uint)size);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x18..], (ushort)gid);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x1A..], links);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x6C..], (uint)(size >> 32));
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x78..], (ushort)(uid >> 16));
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x7A..], (ushort)(gid >> 16));
        SetTime(raw, 0x08, 0x8C, atime);
        SetTime(raw, 0x0C, 0x84, ctime);
        SetTime(raw, 0x10, 0x88, mtime);
        if (_formatter.HasExtra)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(raw[0x80..], 32);
            SetTime(raw, 0x90, 0x94, crtime);
        }
    }

    /// <summary>
    /// Stores a time as ext4 does: 32 signed bits of seconds plus, with large inodes, 2 epoch bits and 30 bits of
    /// nanoseconds (1901–2446). Times outside the range are clamped; 128-byte inodes keep whole seconds in 1901–2038.
    /// </summary>
    private void SetTime(Span<byte> raw, int secondsOffset, int extraOffset, UnixTime t)
    {
        long seconds = t.Seconds;
        if (_formatter.HasExtra)
        {
            seconds = Math.Clamp(seconds, int.MinValue, (3L << 32) + int.MaxValue);
            uint extra = ((uint)((seconds - (int)seconds) >> 32) & 3) | ((uint)t.Nanoseconds << 2);
            BinaryPrimitives.WriteUInt32LittleEndian(raw[extraOffset..], extra);
        }
        else
        {
            seconds = Math.Clamp(seconds, int.MinValue, int.MaxValue);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(raw[secondsOffset..], (uint)seconds);
    }

    /// <summary>Sets <c>i_blocks</c> (512-byte units) from a count of file-system blocks.</summary>
    public void SetBlockCount(Span<byte> raw, long fsBlocks)
    {
        long sectors = fsBlocks * (_formatter._bs / 512);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x1C..], (uint)sectors);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x74..], (ushort)(sectors >> 32));
    }

    /// <summary>Sets <c>EXTENTS_FL</c> and an in-inode extent root: up to four extents, or an index to one leaf block.</summary>
    internal static void SetExtents(Span<byte> raw, List<(long Start, long Count)> extents, long leafBlock)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(raw[0x20..], Ext4Inode.ExtentsFlag);
        if (leafBlock != 0)
        {
            WriteIndexRoot(raw.Slice(0x28, 60), leafBlock);
        }
        else
        {
            WriteExtents(raw.Slice(0x28, 60), extents, 4);
        }
    }

    /// <summary>Writes the checksum tail of an extent-tree block (after <c>eh_max</c> entries).</summary>
    public void SealExtentBlock(uint ino, Span<byte> block)
    {
        if (!_formatter._metadataCsum)
        {
            return;
        }

        int tailOffset = 12 + (BinaryPrimitives.ReadUInt16LittleEndian(block[4..]) * 12);
        BinaryPrimitives.WriteUInt32LittleEndian(block[tailOffset..], Ext4Checksum.Crc32C(InodeSeed(ino), block[..tailOffset]));
    }

    public uint InodeSeed(uint ino) => Ext4Checksum.InodeSeed(_formatter._checksumSeed, ino, 0);

    public void SealInode(uint ino, Span<byte> raw)
    {
        if (!_formatter._metadataCsum)
        {
            return;
        }

        bool hasHi = raw.Length > 128 && BinaryPrimitives.ReadUInt16LittleEndian(raw[0x80..]) >= 4;
        uint c = Ext4Checksum.Inode(InodeSeed(ino), raw, hasHi);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[0x7C..], (ushort)c);
        if (hasHi)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(raw[0x82..], (ushort)(c >> 16));
        }
    }

    public static int WriteDirEntry(byte[] block, int off, uint ino, int recLen, string name)
    {
        Span<byte> e = block.AsSpan(off);
        BinaryPrimitives.WriteUInt32LittleEndian(e, ino);
        BinaryPrimitives.WriteUInt16LittleEndian(e[4..], (ushort)recLen);
        e[6] = (byte)name.Length;
        e[7] = 2; // directory
        Encoding.ASCII.GetBytes(name, e[8..]);
        return off + recLen;
    }

    /// <summary>Writes the checksum tail (the last 12 bytes) of a directory leaf block when metadata_csum is on.</summary>
    public void SealDirBlock(uint ino, Span<byte> block)
    {
        if (!_formatter._metadataCsum)
        {
            return;
        }

        Span<byte> t = block[(_formatter._bs - 12)..];
        t.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(t[4..], 12);
        t[7] = 0xDE;
        BinaryPrimitives.WriteUInt32LittleEndian(t[8..], Ext4Checksum.Crc32C(InodeSeed(ino), block[..(_formatter._bs - 12)]));
    }
}
