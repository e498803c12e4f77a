using System.Buffers;
using System.Buffers.Binary;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Adds and removes entries of inline directories (inline_data) and turns a full one into a block directory,
/// following the kernel's rules (fs/ext4/inline.c, Documentation/filesystems/ext4/inlinedata.rst).
/// </summary>
/// <remarks>
/// <para>
/// Layout: an inline directory has no "." and ".." records. <c>i_block</c> (60 bytes) starts with the parent's
/// inode number (4 bytes), followed by a chain of ordinary directory records that ends exactly at byte 60. Past
/// that, the value of the hidden <c>system.data</c> attribute in the inode's own attribute area holds a second
/// chain of records ending exactly at the value's end. <c>i_size</c> is 60 plus the value length (an empty value
/// when everything fits <c>i_block</c>); <c>i_blocks</c> counts no data block; the flags hold <c>INLINE_DATA_FL</c>
/// and not <c>EXTENTS_FL</c>.
/// </para>
/// <para>
/// Adding: the first record of <c>i_block</c> with room takes the entry (a free record at least as long, or a
/// live one with that much slack). When none has room and the attribute value is still empty, the value grows
/// once to the largest size the inode's attribute area allows (when that gains more than 12 bytes, one
/// <c>EXT4_DIR_REC_LEN(1)</c>), as a single free record, and the entry goes there. When that area is full too,
/// the directory becomes a block directory: one block holding ".", ".." (12 bytes each), then the records of
/// <c>i_block</c> and of the attribute value as they are, the last one stretched to the end of the block (or to
/// its metadata_csum tail); the attribute is removed, <c>i_block</c> becomes an empty extent root (extents
/// feature) and <c>i_size</c> one block. The caller then adds the entry to that block directory.
/// </para>
/// <para>
/// Removing: the record merges into its predecessor within the same area, or (first record of an area) is marked
/// free with inode 0. Inline directories never shrink back, and block directories never turn inline again.
/// </para>
/// <para>
/// New directories on an inline_data file system start inline (i_size 60, an empty <c>system.data</c>) when the
/// inode's attribute area can hold the attribute entry with a value of at least 4 bytes, as the kernel's
/// <c>ext4_init_new_dir</c> does; otherwise (128-byte inodes, a full area) they get a block.
/// </para>
/// </remarks>
internal sealed class Ext4InlineDirectory(Ext4FileSystem fs)
{
    /// <summary><c>EXT4_MIN_INLINE_DATA_SIZE</c>: the bytes of <c>i_block</c>.</summary>
    public const int InodeAreaSize = 60;

    /// <summary><c>EXT4_INLINE_DOTDOT_SIZE</c>: the parent's inode number stored in place of "." and "..".</summary>
    private const int ParentSize = 4;

    /// <summary><c>EXT4_DIR_REC_LEN(1)</c>: the attribute value grows only when it gains more than this.</summary>
    private const int MinimumGrowth = 12;

    private const string Structure = "ext4 inline directory";

    /// <summary>Makes <paramref name="directory"/> (new, empty) an inline directory; false when it cannot be one.</summary>
    public bool TryInitialize(Ext4Inode directory, uint parentInode)
    {
        if ((fs.SuperBlock.Incompatible & Ext4IncompatibleFeatures.InlineData) == 0 || fs.MaxInlineDataValueLength(directory) <= 0)
        {
            return false;
        }

        directory.Flags = (directory.Flags & ~Ext4Inode.ExtentsFlag) | Ext4Inode.InlineDataFlag;
        Span<byte> area = directory.BlockAreaWritable;
        area.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(area, parentInode);
        WriteFreeRecord(area[ParentSize..], InodeAreaSize - ParentSize);
        directory.Size = InodeAreaSize;
        fs.SetInlineDataValue(directory, []);
        return true;
    }

    /// <summary>
    /// Places the entry in the inline directory and writes the inode; false when it has no room left, in which
    /// case the directory has been turned into a one-block directory (written) that the caller adds the entry to.
    /// </summary>
    public bool TryAdd(Ext4Inode directory, ReadOnlySpan<byte> name, uint inode, byte typeCode)
    {
        byte[] value = ReadValue(directory);
        Span<byte> first = directory.BlockAreaWritable[ParentSize..];
        CheckChain(directory, first, 0);
        CheckChain(directory, value, InodeAreaSize);
        int needed = Ext4DirectoryLeaf.EntrySize(name.Length);
        int slot = FindSlot(first, needed);
        if (slot >= 0)
        {
            PlaceEntry(first, slot, name, inode, typeCode);
            fs.WriteInode(directory);
            return true;
        }

        byte[] area = value;
        if (area.Length == 0)
        {
            int max = fs.MaxInlineDataValueLength(directory);
            if (max > MinimumGrowth)
            {
                area = new byte[max];
                WriteFreeRecord(area, max);
            }
        }

        slot = area.Length == 0 ? -1 : FindSlot(area, needed);
        if (slot >= 0)
        {
            PlaceEntry(area, slot, name, inode, typeCode);
            directory.Size = InodeAreaSize + area.Length;
            fs.SetInlineDataValue(directory, area);
            return true;
        }

        ConvertToBlock(directory, value);
        return false;
    }

    /// <summary>Removes the entry named <paramref name="name"/> and writes the inode; false when there is none.</summary>
    public bool Remove(Ext4Inode directory, ReadOnlySpan<byte> name)
    {
        byte[] value = ReadValue(directory);
        Span<byte> first = directory.BlockAreaWritable[ParentSize..];
        CheckChain(directory, first, 0);
        CheckChain(directory, value, InodeAreaSize);
        if (RemoveFrom(first, name))
        {
            fs.WriteInode(directory);
            return true;
        }

        if (RemoveFrom(value, name))
        {
            fs.SetInlineDataValue(directory, value);
            return true;
        }

        return false;
    }

    /// <summary>Moves the entries into a new first block (see the type's remarks) and writes block and inode.</summary>
    private void ConvertToBlock(Ext4Inode directory, byte[] value)
    {
        Ext4SuperBlock sb = fs.SuperBlock;
        int bs = sb.BlockSize;
        int limit = fs.DirectoryLeaves.LeafLimit();
        const int Dots = 24;
        int used = Dots + (InodeAreaSize - ParentSize) + value.Length;
        if (used > limit)
        {
            FormatError.Throw(Structure, -1, $"inode {directory.Number}: {used} bytes of entries do not fit one block.");
        }

        byte dirType = sb.HasFileType ? (byte)Ext4DirectoryLeaf.DirectoryTypeCode : (byte)0;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bs);
        byte[] saved = directory.Raw.AsSpan(0, 128).ToArray();
        try
        {
            Span<byte> block = buffer.AsSpan(0, bs);
            block.Clear();
            uint parent = BinaryPrimitives.ReadUInt32LittleEndian(directory.BlockArea);
            fs.DirectoryLeaves.WriteEntry(block, 0, 12, directory.Number, "."u8, dirType);
            fs.DirectoryLeaves.WriteEntry(block, 12, 12, parent, ".."u8, dirType);
            directory.BlockArea[ParentSize..].CopyTo(block[Dots..]);
            value.CopyTo(block[(Dots + InodeAreaSize - ParentSize)..]);
            StretchLast(block, Dots, used, limit);
            fs.DirectoryLeaves.SealLeaf(directory, block);

            // i_block becomes the (empty) block map; the block is mapped before anything is written.
            directory.Flags &= ~Ext4Inode.InlineDataFlag;
            directory.BlockAreaWritable.Clear();
            if ((sb.Incompatible & Ext4IncompatibleFeatures.Extents) != 0)
            {
                directory.Flags |= Ext4Inode.ExtentsFlag;
                Ext4ExtentNode.InitializeExtentRoot(directory);
            }

            long physical;
            try
            {
                physical = fs.MapOrAllocateBlock(directory, 0);
            }
            catch
            {
                saved.CopyTo(directory.Raw, 0);
                throw;
            }

            fs.WriteFsBlock(physical, block);
            directory.Size = bs;
            fs.RemoveInlineDataValue(directory);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The <c>system.data</c> value after checking that <c>i_size</c> agrees with it.</summary>
    private byte[] ReadValue(Ext4Inode directory)
    {
        byte[]? value = null;
        foreach (Ext4Xattr x in fs.ReadInodeXattrs(directory))
        {
            if (x.Index == Ext4XattrLayout.SystemIndex && x.Name == "data")
            {
                value = x.Value;
            }
        }

        if (value is null || directory.Size != InodeAreaSize + value.Length)
        {
            FormatError.Throw(Structure, -1, $"inode {directory.Number}: i_size {directory.Size} does not match the system.data attribute ({(value is null ? "missing" : value.Length + " bytes")}).");
        }

        return value;
    }

    /// <summary>Checks that the records of an area chain exactly to its end (as the reader does).</summary>
    private void CheckChain(Ext4Inode directory, ReadOnlySpan<byte> area, int areaOffset)
    {
        int offset = 0;
        while (offset < area.Length)
        {
            int recordLength = area.Length - offset < 8 ? 0 : BinaryPrimitives.ReadUInt16LittleEndian(area[(offset + 4)..]);
            uint inode = recordLength == 0 ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(area[offset..]);
            int nameLength = recordLength == 0 ? 0 : area[offset + 6];
            if (recordLength < 8 || (recordLength & 3) != 0 || recordLength > area.Length - offset ||
                (inode != 0 && (nameLength == 0 || Ext4DirectoryLeaf.EntrySize(nameLength) > recordLength || inode > fs.SuperBlock.InodesCount)))
            {
                FormatError.Throw(Structure, -1, $"inode {directory.Number}, offset {areaOffset + offset}: bad record (rec_len {recordLength}).");
            }

            offset += recordLength;
        }
    }

    /// <summary>The first record with room for <paramref name="needed"/> bytes (free, or with that much slack), or -1.</summary>
    private static int FindSlot(ReadOnlySpan<byte> area, int needed)
    {
        int offset = 0;
        while (offset < area.Length)
        {
            int recordLength = BinaryPrimitives.ReadUInt16LittleEndian(area[(offset + 4)..]);
            bool free = BinaryPrimitives.ReadUInt32LittleEndian(area[offset..]) == 0;
            int room = free ? recordLength : recordLength - Ext4DirectoryLeaf.EntrySize(area[offset + 6]);
            if (room >= needed)
            {
                return offset;
            }

            offset += recordLength;
        }

        return -1;
    }

    private void PlaceEntry(Span<byte> area, int slot, ReadOnlySpan<byte> name, uint inode, byte typeCode)
    {
        int recordLength = BinaryPrimitives.ReadUInt16LittleEndian(area[(slot + 4)..]);
        if (BinaryPrimitives.ReadUInt32LittleEndian(area[slot..]) == 0)
        {
            fs.DirectoryLeaves.WriteEntry(area, slot, recordLength, inode, name, typeCode);
            return;
        }

        int used = Ext4DirectoryLeaf.EntrySize(area[slot + 6]);
        BinaryPrimitives.WriteUInt16LittleEndian(area[(slot + 4)..], (ushort)used);
        fs.DirectoryLeaves.WriteEntry(area, slot + used, recordLength - used, inode, name, typeCode);
    }

    /// <summary>Removes a live record named <paramref name="name"/> from a checked area; false when there is none.</summary>
    private static bool RemoveFrom(Span<byte> area, ReadOnlySpan<byte> name)
    {
        int previous = -1;
        int offset = 0;
        while (offset < area.Length)
        {
            int recordLength = BinaryPrimitives.ReadUInt16LittleEndian(area[(offset + 4)..]);
            if (BinaryPrimitives.ReadUInt32LittleEndian(area[offset..]) != 0 && area[offset + 6] == name.Length &&
                area.Slice(offset + 8, name.Length).SequenceEqual(name))
            {
                if (previous >= 0)
                {
                    int merged = BinaryPrimitives.ReadUInt16LittleEndian(area[(previous + 4)..]) + recordLength;
                    BinaryPrimitives.WriteUInt16LittleEndian(area[(previous + 4)..], (ushort)merged);
                    area.Slice(offset, 8 + name.Length).Clear();
                }
                else
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(area[offset..], 0);
                    area[offset + 6] = 0;
                    area[offset + 7] = 0;
                    area.Slice(offset + 8, name.Length).Clear();
                }

                return true;
            }

            previous = offset;
            offset += recordLength;
        }

        return false;
    }

    /// <summary>Stretches the last record of the chain from <paramref name="start"/> to <paramref name="end"/> so that it reaches <paramref name="limit"/>.</summary>
    private void StretchLast(Span<byte> block, int start, int end, int limit)
    {
        int offset = start;
        int last = start;
        while (offset < end)
        {
            last = offset;
            offset += BinaryPrimitives.ReadUInt16LittleEndian(block[(offset + 4)..]);
        }

        int length = BinaryPrimitives.ReadUInt16LittleEndian(block[(last + 4)..]) + (limit - end);
        fs.DirectoryLeaves.SetRecordLength(block, last, length);
    }

    private static void WriteFreeRecord(Span<byte> area, int length)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(area, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(area[4..], (ushort)length);
        area[6] = 0;
        area[7] = 0;
    }
}
