using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Lists XFS directories of every format: shortform (in the inode), block, leaf and node. The names
/// live in the data blocks of the first 32 GiB of the directory's address space in all but the
/// shortform, so the leaf, node and free-index blocks are not needed to list them.
/// </summary>
internal static class XfsDirectoryReader
{
    private const uint BlockMagicV5 = 0x58444233; // XDB3
    private const uint DataMagicV5 = 0x58444433; // XDD3
    private const uint BlockMagicV4 = 0x58443242; // XD2B
    private const uint DataMagicV4 = 0x58443244; // XD2D
    private const int HeaderV5 = 64;
    private const int HeaderV4 = 16;
    private const int CrcOffset = 4;
    private const long LeafOffset = 32L << 30; // XFS_DIR2_LEAF_OFFSET
    private const ushort FreeTag = 0xFFFF;

    /// <summary>The entries of directory <paramref name="dir"/>, without "." and "..".</summary>
    public static List<XfsDirectoryEntry> Read(XfsVolume volume, XfsInode dir)
    {
        var entries = new List<XfsDirectoryEntry>();
        if (dir.Format == XfsForkFormat.Local)
        {
            ReadShortForm(volume.SuperBlock, dir, entries);
            return entries;
        }

        XfsExtent[] extents = XfsBlockMap.Read(volume, dir, attributeFork: false);
        XfsSuperBlock sb = volume.SuperBlock;
        int dirBlockSize = sb.DirectoryBlockSize;
        int fsbPerDirBlock = dirBlockSize / sb.BlockSize;
        ulong dataEnd = (ulong)(Math.Min(dir.Size, LeafOffset) >> sb.BlockLog);
        byte[] buffer = new byte[dirBlockSize];
        foreach (XfsExtent e in extents)
        {
            // The first dir-block boundary at or after the extent's start.
            ulong first = (e.FileBlock + (ulong)fsbPerDirBlock - 1) / (ulong)fsbPerDirBlock * (ulong)fsbPerDirBlock;
            for (ulong b = first; b < e.FileBlock + e.Length && b < dataEnd; b += (ulong)fsbPerDirBlock)
            {
                ReadDirectoryBlock(volume, dir, extents, b, buffer);
                ParseDataBlock(volume, dir, b, buffer, entries);
            }
        }

        return entries;
    }

    private static void ReadDirectoryBlock(XfsVolume volume, XfsInode dir, XfsExtent[] extents, ulong fileBlock, byte[] buffer)
    {
        int bs = volume.BlockSize;
        for (int i = 0; i < buffer.Length / bs; i++)
        {
            ulong b = fileBlock + (ulong)i;
            int index = XfsBlockMap.Find(extents, b);
            if (index < 0)
            {
                FormatError.Throw($"XFS directory {dir.Number}", -1, $"directory block {fileBlock} is only partly mapped.");
            }

            XfsExtent e = extents[index];
            volume.ReadBlocks(e.FsBlock + (b - e.FileBlock), buffer.AsSpan(i * bs, bs), $"XFS directory {dir.Number}");
        }
    }

    private static void ParseDataBlock(XfsVolume volume, XfsInode dir, ulong fileBlock, byte[] buffer, List<XfsDirectoryEntry> entries)
    {
        XfsSuperBlock sb = volume.SuperBlock;
        ReadOnlySpan<byte> s = buffer;
        string what = $"XFS directory {dir.Number} block {fileBlock}";
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(s);
        bool isBlockForm = magic == (sb.HasCrc ? BlockMagicV5 : BlockMagicV4);
        if (!isBlockForm && magic != (sb.HasCrc ? DataMagicV5 : DataMagicV4))
        {
            FormatError.Throw(what, -1, $"bad magic 0x{magic:x8}.");
        }

        int header = sb.HasCrc ? HeaderV5 : HeaderV4;
        if (sb.HasCrc)
        {
            if (volume.VerifyChecksums && !XfsChecksum.IsValid(s, CrcOffset))
            {
                FormatError.Throw(what, -1, "checksum mismatch.");
            }

            if (BinaryPrimitives.ReadUInt64BigEndian(s[40..]) != dir.Number)
            {
                FormatError.Throw(what, -1, "records another owner.");
            }
        }

        int end = s.Length;
        if (isBlockForm)
        {
            uint count = BinaryPrimitives.ReadUInt32BigEndian(s[^8..]);
            if (count > (uint)((s.Length - header - 8) / 8))
            {
                FormatError.Throw(what, -1, $"leaf count {count} does not fit in the block.");
            }

            end = s.Length - 8 - ((int)count * 8);
        }

        // The three longest unused regions the header records (offset, length) lie inside the data area.
        for (int i = 0; i < 3; i++)
        {
            int bestOffset = BinaryPrimitives.ReadUInt16BigEndian(s[(header - (sb.HasCrc ? 16 : 12) + (i * 4))..]);
            int bestLength = BinaryPrimitives.ReadUInt16BigEndian(s[(header - (sb.HasCrc ? 14 : 10) + (i * 4))..]);
            if ((bestOffset != 0 || bestLength != 0) && (bestOffset < header || bestOffset + bestLength > end))
            {
                FormatError.Throw(what, -1, $"best-free entry {i} (offset {bestOffset}, {bestLength} bytes) is outside the data area.");
            }
        }

        int p = header;
        while (p < end)
        {
            if (end - p < 8)
            {
                FormatError.Throw(what, p, "an entry runs past the end of the data area.");
            }

            if (BinaryPrimitives.ReadUInt16BigEndian(s[p..]) == FreeTag)
            {
                int length = BinaryPrimitives.ReadUInt16BigEndian(s[(p + 2)..]);
                if (length < 8 || length % 8 != 0 || length > end - p || BinaryPrimitives.ReadUInt16BigEndian(s[(p + length - 2)..]) != p)
                {
                    FormatError.Throw(what, p, $"unused region of {length} bytes is not valid (or its tag is not its offset).");
                }

                p += length;
                continue;
            }

            ulong inode = BinaryPrimitives.ReadUInt64BigEndian(s[p..]);
            int nameLength = s[p + 8];
            int size = (8 + 1 + nameLength + (sb.HasFileType ? 1 : 0) + 2 + 7) & ~7;
            if (nameLength == 0 || size > end - p)
            {
                FormatError.Throw(what, p, $"entry with a {nameLength}-byte name does not fit.");
            }

            if (BinaryPrimitives.ReadUInt16BigEndian(s[(p + size - 2)..]) != p)
            {
                FormatError.Throw(what, p, "the entry's tag is not its offset in the block.");
            }

            ReadOnlySpan<byte> name = s.Slice(p + 9, nameLength);
            if (!IsDot(name))
            {
                entries.Add(Entry(sb, dir, name, inode, what));
            }

            p += size;
        }
    }

    private static void ReadShortForm(XfsSuperBlock sb, XfsInode dir, List<XfsDirectoryEntry> entries)
    {
        ReadOnlySpan<byte> fork = dir.DataFork;
        string what = $"XFS directory {dir.Number} (shortform)";
        if (dir.Size < 6 || dir.Size > fork.Length)
        {
            FormatError.Throw(what, -1, $"size {dir.Size} does not fit in the {fork.Length}-byte fork.");
        }

        ReadOnlySpan<byte> s = fork[..(int)dir.Size];
        int count = s[0];
        int inodeSize = s[1] != 0 ? 8 : 4;
        int p = 2 + inodeSize;
        if (p > s.Length)
        {
            FormatError.Throw(what, -1, "the header does not fit.");
        }

        for (int i = 0; i < count; i++)
        {
            if (p + 3 > s.Length)
            {
                FormatError.Throw(what, p, $"entry {i} of {count} runs past the end.");
            }

            int nameLength = s[p];
            int size = 3 + nameLength + (sb.HasFileType ? 1 : 0) + inodeSize;
            if (nameLength == 0 || p + size > s.Length)
            {
                FormatError.Throw(what, p, $"entry {i} with a {nameLength}-byte name runs past the end.");
            }

            ReadOnlySpan<byte> name = s.Slice(p + 3, nameLength);
            ReadOnlySpan<byte> number = s.Slice(p + size - inodeSize, inodeSize);
            ulong inode = inodeSize == 8 ? BinaryPrimitives.ReadUInt64BigEndian(number) : BinaryPrimitives.ReadUInt32BigEndian(number);
            entries.Add(Entry(sb, dir, name, inode, what));
            p += size;
        }
    }

    private static XfsDirectoryEntry Entry(XfsSuperBlock sb, XfsInode dir, ReadOnlySpan<byte> name, ulong inode, string what)
    {
        if (name.IndexOfAny((byte)'/', (byte)0) >= 0 || IsDot(name))
        {
            FormatError.Throw(what, -1, "a name contains '/' or NUL, or is \".\" or \"..\".");
        }

        if (!sb.IsValidInode(inode))
        {
            FormatError.Throw(what, -1, $"an entry points to inode {inode}, outside the file system.");
        }

        return new XfsDirectoryEntry(UnixPathEncoding.GetString(name), inode);
    }

    private static bool IsDot(ReadOnlySpan<byte> name) =>
        name.SequenceEqual("."u8) || name.SequenceEqual(".."u8);
}
