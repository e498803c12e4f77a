using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Directory writing: adding and removing entries in linear and htree (dx) directories, with the
/// metadata_csum leaf tails and dx tails kept exact.
/// </summary>
/// <remarks>
/// A linear directory grows by one block at a time; when its only block is full it is turned into an
/// htree (a dx root in block 0 and two leaves), as the kernel does. In an htree a name goes into the leaf
/// its hash selects; a full leaf is compacted or split at the hash median (equal hashes on both sides set
/// the continuation bit of the new index entry), a full index node is split, and a full root moves its
/// entries into a new index node (one more level; two index levels at most, three with largedir). Every
/// insertion reads one block per index level plus the leaf. Removal merges the record into its
/// predecessor (or clears the inode of a block's first record); directories never shrink.
/// </remarks>
public sealed partial class Ext4FileSystem
{
    private const int DirectoryTailSize = 12;
    private const byte DirectoryTailFileType = 0xDE;
    private const int DxRootCountOffset = 0x20;
    private const int DxNodeCountOffset = 0x08;
    internal const int DirectoryTypeCode = 2;

    private Ext4InlineDirectory? _inlineDirectories;
    private uint[]? _dxHashSeed;
    private int _dxDefaultHashVersion;
    private bool _dxUnsignedHash;

    /// <summary>
    /// Adds the entry <paramref name="name"/> → <paramref name="inode"/> to <paramref name="directory"/>, growing
    /// it (and its index) as needed, and writes every block and the directory inode it changes. Link counts and
    /// timestamps are the caller's.
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty, "." or "..", or holds '/', NUL or a lone surrogate that <see cref="UnixPathEncoding"/> cannot encode.</exception>
    /// <exception cref="PathTooLongException">The name is longer than 255 bytes in UTF-8.</exception>
    /// <exception cref="IOException">The name exists already, or the directory index is full.</exception>
    /// <exception cref="NotSupportedException">The directory is encrypted or casefolded.</exception>
    internal void AddDirectoryEntry(Ext4Inode directory, string name, uint inode, UnixFileType type)
    {
        ArgumentNullException.ThrowIfNull(directory);
        byte[] nameBytes = EncodeEntryName(name);
        if (inode == 0 || inode > _sb.InodesCount)
        {
            throw new ArgumentOutOfRangeException(nameof(inode), inode, "The inode number is out of range.");
        }

        string key = UnixPathEncoding.GetString(nameBytes);
        Dictionary<string, uint> listing = GetDirectory(new Ext4Node(directory));
        if (listing.ContainsKey(key))
        {
            throw new IOException($"'{key}' exists already in directory inode {directory.Number}.");
        }

        byte typeCode = _sb.HasFileType ? FileTypeCode(type) : (byte)0;
        try
        {
            // An inline directory that has no room left becomes a one-block directory, which takes the entry.
            bool placedInline = directory.HasInlineData && InlineDirectories.TryAdd(directory, nameBytes, inode, typeCode);
            if (!placedInline)
            {
                if (IsIndexedDirectory(directory))
                {
                    AddIndexed(directory, nameBytes, inode, typeCode);
                }
                else
                {
                    AddLinear(directory, nameBytes, inode, typeCode);
                }
            }
        }
        catch
        {
            InvalidateDirectory(directory.Number);
            throw;
        }

        listing[key] = inode;
    }

    /// <summary>
    /// Removes the entry <paramref name="name"/> from <paramref name="directory"/>; false when there is none.
    /// The inode the entry pointed to is not touched.
    /// </summary>
    /// <exception cref="ArgumentException">The name is "." or "..", or is not a valid entry name.</exception>
    /// <exception cref="NotSupportedException">The directory is encrypted or casefolded.</exception>
    internal bool RemoveDirectoryEntry(Ext4Inode directory, string name)
    {
        ArgumentNullException.ThrowIfNull(directory);
        byte[] nameBytes;
        try
        {
            nameBytes = EncodeEntryName(name);
        }
        catch (PathTooLongException)
        {
            return false;
        }

        CheckDirectoryReadable(directory, null);
        bool removed;
        try
        {
            removed = directory.HasInlineData ? InlineDirectories.Remove(directory, nameBytes) : IsIndexedDirectory(directory) ? RemoveIndexed(directory, nameBytes) : RemoveLinear(directory, nameBytes);
            if (!removed && !directory.HasInlineData && name.Contains('\uFFFD', StringComparison.Ordinal))
            {
                // The listing shows names that are not valid UTF-8 decoded lossily; find such a name by what it decodes to.
                removed = RemoveByDecodedName(directory, name);
            }
        }
        catch
        {
            InvalidateDirectory(directory.Number);
            throw;
        }

        if (removed && _directoryCache.TryGetValue(directory.Number, out Dictionary<string, uint>? cached))
        {
            cached.Remove(name);
        }

        return removed;
    }

    /// <summary>
    /// Gives the new (empty, block-mapped or extent-mapped) directory <paramref name="newDirectory"/> its first
    /// block holding "." and "..", sets its size to one block and writes the inode. Link counts are the caller's.
    /// On an inline_data file system the directory is created inline instead, as the kernel does, when its
    /// inode has room for the <c>system.data</c> attribute.
    /// </summary>
    internal void InitializeDirectory(Ext4Inode newDirectory, uint parentInode)
    {
        ArgumentNullException.ThrowIfNull(newDirectory);
        if (InlineDirectories.TryInitialize(newDirectory, parentInode))
        {
            InvalidateDirectory(newDirectory.Number);
            return;
        }

        int bs = _sb.BlockSize;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> block = buffer.AsSpan(0, bs);
            block.Clear();
            int limit = LeafLimit();
            WriteEntry(block, 0, 12, newDirectory.Number, "."u8, _sb.HasFileType ? (byte)DirectoryTypeCode : (byte)0);
            WriteEntry(block, 12, limit - 12, parentInode, ".."u8, _sb.HasFileType ? (byte)DirectoryTypeCode : (byte)0);
            SealLeaf(newDirectory, block);
            long physical = MapOrAllocateBlock(newDirectory, 0);
            WriteFsBlock(physical, block);
            newDirectory.Size = bs;
            WriteInode(newDirectory);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        InvalidateDirectory(newDirectory.Number);
    }

    /// <summary>Points ".." of <paramref name="directory"/> at <paramref name="newParent"/> (after a move to another directory).</summary>
    internal void SetParentEntry(Ext4Inode directory, uint newParent)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (directory.HasInlineData)
        {
            // An inline directory starts with the parent's inode number in i_block.
            BinaryPrimitives.WriteUInt32LittleEndian(directory.BlockAreaWritable, newParent);
            WriteInode(directory);
            return;
        }

        int bs = _sb.BlockSize;
        CheckDirectorySize(directory);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> block = buffer.AsSpan(0, bs);
            long physical = DirectoryBlock(directory, 0);
            ReadFsBlock(physical, block);
            if (GetRecordLength(block, 0) != 12 || block[6] != 1 || block[8] != '.' ||
                block[12 + 6] != 2 || block[12 + 8] != '.' || block[12 + 9] != '.')
            {
                FormatError.Throw("ext4 directory", -1, $"inode {directory.Number}: block 0 does not start with '.' and '..'.");
            }

            bool indexed = IsIndexedDirectory(directory);
            if (indexed)
            {
                ValidateDxNode(directory, block, DxRootCountOffset, CheckDirectorySize(directory), 0);
            }
            else
            {
                LeafLimit(directory, block, 0);
            }

            BinaryPrimitives.WriteUInt32LittleEndian(block[12..], newParent);
            if (indexed)
            {
                SealDxNode(directory, block, DxRootCountOffset);
            }
            else
            {
                SealLeaf(directory, block);
            }

            WriteFsBlock(physical, block);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Whether <paramref name="directory"/> holds nothing but "." and "..".</summary>
    internal bool IsDirectoryEmpty(Ext4Inode directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        return GetDirectory(new Ext4Node(directory)).Count == 0;
    }

    /// <summary>The superblock as parsed at open (geometry and feature flags).</summary>
    internal Ext4SuperBlock SuperBlock => _sb;

    private Ext4InlineDirectory InlineDirectories => _inlineDirectories ??= new Ext4InlineDirectory(this);

    /// <summary>Drops the cached listing of directory <paramref name="inode"/> (call it when the inode is freed or rewritten).</summary>
    internal void InvalidateDirectory(uint inode)
    {
        _directoryCache.Remove(inode);
    }

    private bool IsIndexedDirectory(Ext4Inode directory)
    {
        if ((directory.Flags & Ext4Inode.IndexFlag) == 0)
        {
            return false;
        }

        if ((_sb.Compatible & Ext4CompatibleFeatures.DirIndex) == 0)
        {
            FormatError.Unsupported($"Directory inode {directory.Number} is hash-indexed but the file system lacks dir_index; changing it is not supported.");
        }

        return true;
    }

    private static byte[] EncodeEntryName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name is "." or ".." || name.AsSpan().IndexOfAny('/', '\0') >= 0)
        {
            throw new ArgumentException($"'{name}' is not a valid directory entry name.", nameof(name));
        }

        byte[] bytes = UnixPathEncoding.GetBytes(name);

        if (bytes.Length > 255)
        {
            throw new PathTooLongException($"The name '{name}' is {bytes.Length} bytes long in UTF-8; ext4 allows 255.");
        }

        return bytes;
    }

    /// <summary>
    /// The directory-entry file-type code (1 regular file … 7 symbolic link) for <paramref name="type"/>,
    /// or 0 ("unknown") for a type that has none.
    /// </summary>
    internal static byte DirectoryEntryType(UnixFileType type) => type switch
    {
        UnixFileType.RegularFile => 1,
        UnixFileType.Directory => 2,
        UnixFileType.CharacterDevice => 3,
        UnixFileType.BlockDevice => 4,
        UnixFileType.Fifo => 5,
        UnixFileType.Socket => 6,
        UnixFileType.SymbolicLink => 7,
        _ => 0,
    };

    private static byte FileTypeCode(UnixFileType type)
    {
        byte code = DirectoryEntryType(type);
        return code != 0 ? code : throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown file type.");
    }

    /// <summary>The record length an entry with a name of <paramref name="nameLength"/> bytes needs (4-byte aligned).</summary>
    internal static int EntrySize(int nameLength) => (8 + nameLength + 3) & ~3;

    private int GetRecordLength(ReadOnlySpan<byte> block, int offset) =>
        RecordLength(BinaryPrimitives.ReadUInt16LittleEndian(block[(offset + 4)..]));

    internal void SetRecordLength(Span<byte> block, int offset, int length)
    {
        ushort raw;
        if (length < 65536)
        {
            raw = (ushort)length;
        }
        else
        {
            // 64 KiB blocks: a record of the whole block is 0xFFFF; longer ones keep bits 16-17 in the low bits.
            raw = length == 65536 ? (ushort)0xFFFF : (ushort)((length & 65532) | ((length >> 16) & 3));
        }

        BinaryPrimitives.WriteUInt16LittleEndian(block[(offset + 4)..], raw);
    }

    internal void WriteEntry(Span<byte> block, int offset, int recordLength, uint inode, ReadOnlySpan<byte> name, byte typeCode)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(block[offset..], inode);
        SetRecordLength(block, offset, recordLength);
        block[offset + 6] = (byte)name.Length;
        block[offset + 7] = typeCode;
        name.CopyTo(block[(offset + 8)..]);
        block.Slice(offset + 8 + name.Length, EntrySize(name.Length) - 8 - name.Length).Clear();
    }

    /// <summary>The end of the entry area of a leaf block: before the checksum tail with metadata_csum.</summary>
    internal int LeafLimit() => _sb.BlockSize - (_sb.HasMetadataChecksum ? DirectoryTailSize : 0);

    /// <summary>Checks that a leaf block's records chain exactly to its end (or its checksum tail) and returns that end.</summary>
    private int LeafLimit(Ext4Inode directory, ReadOnlySpan<byte> block, long logical)
    {
        const string S = "ext4 directory";
        int limit = LeafLimit();
        if (_sb.HasMetadataChecksum)
        {
            ReadOnlySpan<byte> tail = block[limit..];
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail) != 0 || BinaryPrimitives.ReadUInt16LittleEndian(tail[4..]) != DirectoryTailSize ||
                tail[6] != 0 || tail[7] != DirectoryTailFileType)
            {
                FormatError.Throw(S, -1, $"inode {directory.Number}: block {logical} has no checksum tail.");
            }

            // Re-sealing a damaged block would hide the damage: check it first.
            if (VerifyChecksums &&
                Ext4Checksum.Crc32C(InodeSeed(directory.Number, directory.Generation), block[..limit]) != BinaryPrimitives.ReadUInt32LittleEndian(tail[8..]))
            {
                FormatError.Throw(S, -1, $"inode {directory.Number}: block {logical} checksum mismatch.");
            }
        }

        int offset = 0;
        while (offset < limit)
        {
            int recordLength = limit - offset < 8 ? 0 : GetRecordLength(block, offset);
            uint inode = recordLength == 0 ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(block[offset..]);
            if (recordLength < 8 || (recordLength & 3) != 0 || recordLength > limit - offset ||
                (inode != 0 && (EntrySize(block[offset + 6]) > recordLength || block[offset + 6] == 0)))
            {
                FormatError.Throw(S, -1, $"inode {directory.Number}: block {logical}, offset {offset}: bad rec_len {recordLength}.");
            }

            offset += recordLength;
        }

        return limit;
    }

    internal void SealLeaf(Ext4Inode directory, Span<byte> block)
    {
        if (!_sb.HasMetadataChecksum)
        {
            return;
        }

        int limit = block.Length - DirectoryTailSize;
        Span<byte> tail = block[limit..];
        BinaryPrimitives.WriteUInt32LittleEndian(tail, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(tail[4..], DirectoryTailSize);
        tail[6] = 0;
        tail[7] = DirectoryTailFileType;
        BinaryPrimitives.WriteUInt32LittleEndian(tail[8..], Ext4Checksum.Crc32C(InodeSeed(directory.Number, directory.Generation), block[..limit]));
    }

    private void SealDxNode(Ext4Inode directory, Span<byte> block, int countOffset)
    {
        if (!_sb.HasMetadataChecksum)
        {
            return;
        }

        int limit = BinaryPrimitives.ReadUInt16LittleEndian(block[countOffset..]);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(block[(countOffset + 2)..]);
        int tail = countOffset + (limit * 8);
        BinaryPrimitives.WriteUInt32LittleEndian(block[tail..], 0);
        uint c = Ext4Checksum.Crc32C(InodeSeed(directory.Number, directory.Generation), block[..(countOffset + (count * 8))]);
        c = Ext4Checksum.Crc32C(c, block.Slice(tail, 4));
        c = Ext4Checksum.Crc32CZeros(c, 4);
        BinaryPrimitives.WriteUInt32LittleEndian(block[(tail + 4)..], c);
    }

    private int DxLimit(int countOffset) => (_sb.BlockSize - countOffset - (_sb.HasMetadataChecksum ? 8 : 0)) / 8;

    private long CheckDirectorySize(Ext4Inode directory)
    {
        int bs = _sb.BlockSize;
        if (directory.Size <= 0 || directory.Size % bs != 0)
        {
            FormatError.Throw("ext4 directory", -1, $"inode {directory.Number}: size {directory.Size} is not a positive multiple of the block size.");
        }

        return directory.Size / bs;
    }

    private long DirectoryBlock(Ext4Inode directory, long logical)
    {
        long physical = MapLogicalBlock(directory, logical);
        if (physical < 0)
        {
            FormatError.Throw("ext4 directory", -1, $"inode {directory.Number}: block {logical} is a hole.");
        }

        return physical;
    }

    /// <summary>
    /// Reads leaf block <paramref name="logical"/> (at <paramref name="physical"/>) into <paramref name="block"/> and
    /// places the entry there if it has room, packing records scattered by removals first ("." and ".." stay
    /// first); then seals and writes the block. <paramref name="limit"/> is the leaf's usable length.
    /// </summary>
    private bool TryPlaceInLeaf(Ext4Inode directory, Span<byte> block, long logical, long physical, ReadOnlySpan<byte> name, uint inode, byte typeCode, out int limit)
    {
        int needed = EntrySize(name.Length);
        ReadFsBlock(physical, block);
        limit = LeafLimit(directory, block, logical);
        int slot = FindSlot(block, limit, needed);
        if (slot < 0 && PackedSize(block, limit) + needed <= limit)
        {
            CompactLeaf(block, 0, limit);
            slot = FindSlot(block, limit, needed);
        }

        if (slot < 0)
        {
            return false;
        }

        PlaceEntry(block, slot, name, inode, typeCode);
        SealLeaf(directory, block);
        WriteFsBlock(physical, block);
        return true;
    }

    /// <summary>
    /// Finds the first record with room for <paramref name="needed"/> more bytes: a free record (inode 0) at
    /// least that long, or a live one with that much slack after its name. Returns its offset or -1.
    /// </summary>
    private int FindSlot(ReadOnlySpan<byte> block, int limit, int needed)
    {
        int offset = 0;
        while (offset < limit)
        {
            int recordLength = GetRecordLength(block, offset);
            uint inode = BinaryPrimitives.ReadUInt32LittleEndian(block[offset..]);
            int free = inode == 0 ? recordLength : recordLength - EntrySize(block[offset + 6]);
            if (free >= needed)
            {
                return offset;
            }

            offset += recordLength;
        }

        return -1;
    }

    /// <summary>Puts an entry into the record at <paramref name="slot"/> (found by <see cref="FindSlot"/>), splitting a live record.</summary>
    private void PlaceEntry(Span<byte> block, int slot, ReadOnlySpan<byte> name, uint inode, byte typeCode)
    {
        int recordLength = GetRecordLength(block, slot);
        if (BinaryPrimitives.ReadUInt32LittleEndian(block[slot..]) == 0)
        {
            WriteEntry(block, slot, recordLength, inode, name, typeCode);
            return;
        }

        int used = EntrySize(block[slot + 6]);
        SetRecordLength(block, slot, used);
        WriteEntry(block, slot + used, recordLength - used, inode, name, typeCode);
    }

    /// <summary>Total bytes the live records of a checked leaf need when packed.</summary>
    private int PackedSize(ReadOnlySpan<byte> block, int limit)
    {
        int total = 0;
        int offset = 0;
        while (offset < limit)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(block[offset..]) != 0)
            {
                total += EntrySize(block[offset + 6]);
            }

            offset += GetRecordLength(block, offset);
        }

        return total;
    }

    /// <summary>Moves the live records from <paramref name="start"/> on to the front of that area, leaving the slack in the last one.</summary>
    private void CompactLeaf(Span<byte> block, int start, int limit)
    {
        int read = start;
        int write = start;
        int last = -1;
        while (read < limit)
        {
            int recordLength = GetRecordLength(block, read);
            if (BinaryPrimitives.ReadUInt32LittleEndian(block[read..]) != 0)
            {
                int size = EntrySize(block[read + 6]);
                if (write != read)
                {
                    block.Slice(read, size).CopyTo(block[write..]);
                }

                SetRecordLength(block, write, size);
                last = write;
                write += size;
            }

            read += recordLength;
        }

        if (last < 0)
        {
            // No live record: one empty record spans the area.
            BinaryPrimitives.WriteUInt32LittleEndian(block[start..], 0);
            SetRecordLength(block, start, limit - start);
            block[start + 6] = 0;
            block[start + 7] = 0;
            block[(start + 8)..limit].Clear();
            return;
        }

        SetRecordLength(block, last, limit - last);
        block[write..limit].Clear();
    }

    private void AddLinear(Ext4Inode directory, byte[] name, uint inode, byte typeCode)
    {
        int bs = _sb.BlockSize;
        long blocks = CheckDirectorySize(directory);
        int needed = EntrySize(name.Length);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> block = buffer.AsSpan(0, bs);
            long lastPhysical = -1;
            for (long b = 0; b < blocks; b++)
            {
                long physical = DirectoryBlock(directory, b);
                if (TryPlaceInLeaf(directory, block, b, physical, name, inode, typeCode, out _))
                {
                    return;
                }

                lastPhysical = physical;
            }

            if (blocks == 1 && (_sb.Compatible & Ext4CompatibleFeatures.DirIndex) != 0)
            {
                // The kernel's rule: a one-block directory that overflows becomes an htree.
                MakeIndexed(directory, block, lastPhysical, name, inode, typeCode);
                return;
            }

            long newPhysical = AllocateDirectoryBlocks(directory, blocks, 1)[0];
            block.Clear();
            WriteEntry(block, 0, LeafLimit(), inode, name, typeCode);
            SealLeaf(directory, block);
            WriteFsBlock(newPhysical, block);
            directory.Size = (blocks + 1) * bs;
            WriteInode(directory);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Maps <paramref name="count"/> new blocks at the end of the directory (logical
    /// <paramref name="firstLogical"/> on); on failure the blocks mapped so far are released again.
    /// </summary>
    private long[] AllocateDirectoryBlocks(Ext4Inode directory, long firstLogical, int count)
    {
        long[] physical = new long[count];
        int done = 0;
        try
        {
            for (; done < count; done++)
            {
                physical[done] = MapOrAllocateBlock(directory, firstLogical + done);
            }
        }
        catch when (done > 0)
        {
            TruncateBlocks(directory, firstLogical * _sb.BlockSize);
            throw;
        }

        return physical;
    }

    private void RemoveFromLeaf(Span<byte> block, int offset, int previous)
    {
        int recordLength = GetRecordLength(block, offset);
        int nameLength = block[offset + 6];
        if (previous >= 0)
        {
            SetRecordLength(block, previous, GetRecordLength(block, previous) + recordLength);
            block.Slice(offset, 8 + nameLength).Clear();
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(block[offset..], 0);
            block[offset + 6] = 0;
            block[offset + 7] = 0;
            block.Slice(offset + 8, nameLength).Clear();
        }
    }

    /// <summary>Finds <paramref name="name"/> among the live records of a checked leaf; returns its offset and its predecessor's.</summary>
    private int FindInLeaf(ReadOnlySpan<byte> block, int limit, ReadOnlySpan<byte> name, out int previous)
    {
        previous = -1;
        int offset = 0;
        while (offset < limit)
        {
            int recordLength = GetRecordLength(block, offset);
            if (BinaryPrimitives.ReadUInt32LittleEndian(block[offset..]) != 0 && block[offset + 6] == name.Length &&
                block.Slice(offset + 8, name.Length).SequenceEqual(name))
            {
                return offset;
            }

            previous = offset;
            offset += recordLength;
        }

        return -1;
    }

    /// <summary>
    /// Removes the first live entry whose name, decoded lossily as UTF-8, equals <paramref name="name"/>: a
    /// scan of every leaf block (index blocks of an htree skipped).
    /// </summary>
    private bool RemoveByDecodedName(Ext4Inode directory, string name)
    {
        int bs = _sb.BlockSize;
        long blocks = CheckDirectorySize(directory);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> block = buffer.AsSpan(0, bs);
            HashSet<long>? indexBlocks = null;
            if (IsIndexedDirectory(directory))
            {
                var map = new Ext4FileStream(_device, bs, directory.Size, MapFile(directory), _sync);
                indexBlocks = VerifyHtree(directory, map, blocks, block);
            }

            for (long b = 0; b < blocks; b++)
            {
                if (indexBlocks is not null && indexBlocks.Contains(b))
                {
                    continue;
                }

                long physical = DirectoryBlock(directory, b);
                ReadFsBlock(physical, block);
                int limit = LeafLimit(directory, block, b);
                int previous = -1;
                int offset = 0;
                while (offset < limit)
                {
                    int recordLength = GetRecordLength(block, offset);
                    if (BinaryPrimitives.ReadUInt32LittleEndian(block[offset..]) != 0 &&
                        UnixPathEncoding.GetString(block.Slice(offset + 8, block[offset + 6])) == name)
                    {
                        RemoveFromLeaf(block, offset, previous);
                        SealLeaf(directory, block);
                        WriteFsBlock(physical, block);
                        return true;
                    }

                    previous = offset;
                    offset += recordLength;
                }
            }

            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private bool RemoveLinear(Ext4Inode directory, byte[] name)
    {
        int bs = _sb.BlockSize;
        long blocks = CheckDirectorySize(directory);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> block = buffer.AsSpan(0, bs);
            for (long b = 0; b < blocks; b++)
            {
                long physical = DirectoryBlock(directory, b);
                ReadFsBlock(physical, block);
                int limit = LeafLimit(directory, block, b);
                int offset = FindInLeaf(block, limit, name, out int previous);
                if (offset >= 0)
                {
                    RemoveFromLeaf(block, offset, previous);
                    SealLeaf(directory, block);
                    WriteFsBlock(physical, block);
                    return true;
                }
            }

            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void EnsureHashSettings()
    {
        if (_dxHashSeed is not null)
        {
            return;
        }

        // s_hash_seed (0xEC), s_def_hash_version (0xFC) and s_flags (0x160) never change while mounted.
        Span<byte> sb = stackalloc byte[Ext4SuperBlock.Size];
        _device.ReadExactly(Ext4SuperBlock.Offset, sb);
        uint[] seed = new uint[4];
        for (int i = 0; i < 4; i++)
        {
            seed[i] = BinaryPrimitives.ReadUInt32LittleEndian(sb[(0xEC + (i * 4))..]);
        }

        _dxDefaultHashVersion = sb[0xFC] <= Ext4DirectoryHash.Tea ? sb[0xFC] : Ext4DirectoryHash.HalfMd4;
        _dxUnsignedHash = (BinaryPrimitives.ReadUInt32LittleEndian(sb[0x160..]) & 0x2) != 0;
        _dxHashSeed = seed;
    }

    /// <summary>The hash actually used for a root's <c>hash_version</c>: the signed variants turn unsigned when <c>s_flags</c> says so.</summary>
    private int EffectiveHashVersion(Ext4Inode directory, int rootVersion)
    {
        int version = rootVersion <= Ext4DirectoryHash.Tea && _dxUnsignedHash ? rootVersion + 3 : rootVersion;
        if (version == 6)
        {
            FormatError.Unsupported($"Directory inode {directory.Number} uses the SipHash name hash (casefold), which is not supported for writing.");
        }

        if (version > Ext4DirectoryHash.TeaUnsigned)
        {
            FormatError.Throw("ext4 htree", -1, $"directory inode {directory.Number}: unknown hash version {rootVersion}.");
        }

        return version;
    }

    private uint HashName(ReadOnlySpan<byte> name, int version) => Ext4DirectoryHash.Compute(name, version, _dxHashSeed, out _);

    private int MaxIndexLevels => (_sb.Incompatible & Ext4IncompatibleFeatures.LargeDirectories) != 0 ? 3 : 2;

    private static int DxCount(ReadOnlySpan<byte> node, int countOffset) => BinaryPrimitives.ReadUInt16LittleEndian(node[(countOffset + 2)..]);

    private static int DxLimitOf(ReadOnlySpan<byte> node, int countOffset) => BinaryPrimitives.ReadUInt16LittleEndian(node[countOffset..]);

    private static void SetDxCount(Span<byte> node, int countOffset, int count) =>
        BinaryPrimitives.WriteUInt16LittleEndian(node[(countOffset + 2)..], (ushort)count);

    private static uint DxHash(ReadOnlySpan<byte> node, int countOffset, int index) =>
        index == 0 ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(node[(countOffset + (index * 8))..]);

    private static uint DxChild(ReadOnlySpan<byte> node, int countOffset, int index) =>
        BinaryPrimitives.ReadUInt32LittleEndian(node[(countOffset + (index * 8) + 4)..]);

    /// <summary>Inserts {hash, block} as entry <paramref name="index"/> (≥ 1) of a node that has room.</summary>
    private static void InsertDxEntry(Span<byte> node, int countOffset, int index, uint hash, uint child)
    {
        int count = DxCount(node, countOffset);
        int at = countOffset + (index * 8);
        node[at..(countOffset + (count * 8))].CopyTo(node[(at + 8)..]);
        BinaryPrimitives.WriteUInt32LittleEndian(node[at..], hash);
        BinaryPrimitives.WriteUInt32LittleEndian(node[(at + 4)..], child);
        SetDxCount(node, countOffset, count + 1);
    }

    /// <summary>Starts an empty index node: a free record spanning the block, then limit and count.</summary>
    private void InitializeDxNode(Span<byte> node)
    {
        node.Clear();
        SetRecordLength(node, 0, node.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(node[DxNodeCountOffset..], (ushort)DxLimit(DxNodeCountOffset));
    }

    /// <summary>Checks an index node's limit, count, children and hash order (and its checksum when verifying).</summary>
    private void ValidateDxNode(Ext4Inode directory, ReadOnlySpan<byte> node, int countOffset, long blockCount, long logical)
    {
        const string S = "ext4 htree";
        int limit = DxLimitOf(node, countOffset);
        int count = DxCount(node, countOffset);
        if (limit != DxLimit(countOffset) || count == 0 || count > limit)
        {
            FormatError.Throw(S, -1, $"directory inode {directory.Number}, block {logical}: dx count {count} / limit {limit}.");
        }

        uint previous = 0;
        for (int i = 0; i < count; i++)
        {
            uint hash = DxHash(node, countOffset, i);
            uint child = DxChild(node, countOffset, i);
            if (child == 0 || child >= blockCount || hash < previous)
            {
                FormatError.Throw(S, -1, $"directory inode {directory.Number}, block {logical}: dx entry {i} (hash 0x{hash:X8}, block {child}) is invalid.");
            }

            previous = hash;
        }

        if (_sb.HasMetadataChecksum && VerifyChecksums)
        {
            int tail = countOffset + (limit * 8);
            uint c = Ext4Checksum.Crc32C(InodeSeed(directory.Number, directory.Generation), node[..(countOffset + (count * 8))]);
            c = Ext4Checksum.Crc32C(c, node.Slice(tail, 4));
            c = Ext4Checksum.Crc32CZeros(c, 4);
            if (c != BinaryPrimitives.ReadUInt32LittleEndian(node[(tail + 4)..]))
            {
                FormatError.Throw(S, -1, $"directory inode {directory.Number}, block {logical}: dx checksum mismatch.");
            }
        }
    }

    /// <summary>The last entry whose hash is ≤ <paramref name="hash"/> (entry 0 stands for hash 0).</summary>
    private static int DxSearch(ReadOnlySpan<byte> node, int countOffset, uint hash)
    {
        int lo = 1;
        int hi = DxCount(node, countOffset) - 1;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) / 2);
            if (DxHash(node, countOffset, mid) > hash)
            {
                hi = mid - 1;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo - 1;
    }

    /// <summary>
    /// Reads the dx root and the index nodes on the way to the leaf for <paramref name="name"/>'s hash.
    /// Buffers of the returned frames are rented; <see cref="ReturnFrames"/> gives them back.
    /// </summary>
    private List<DxFrame> ProbeHtree(Ext4Inode directory, ReadOnlySpan<byte> name, long blockCount, out uint hash, out int version)
    {
        const string S = "ext4 htree";
        EnsureHashSettings();
        int bs = _sb.BlockSize;
        var frames = new List<DxFrame>(3);
        try
        {
            var root = new DxFrame { Logical = 0, Physical = DirectoryBlock(directory, 0), Buffer = ArrayPool<byte>.Shared.Rent(bs), CountOffset = DxRootCountOffset };
            frames.Add(root);
            Span<byte> r = root.Buffer.AsSpan(0, bs);
            ReadFsBlock(root.Physical, r);
            int levels = r[0x1E];
            if (GetRecordLength(r, 0) != 12 || r[6] != 1 || r[8] != '.' || GetRecordLength(r, 12) != bs - 12 || r[12 + 6] != 2 ||
                r[0x1D] != 8 || levels >= MaxIndexLevels)
            {
                FormatError.Throw(S, -1, $"directory inode {directory.Number}: bad dx root (info length {r[0x1D]}, levels {levels}).");
            }

            version = EffectiveHashVersion(directory, r[0x1C]);
            hash = HashName(name, version);
            ValidateDxNode(directory, r, DxRootCountOffset, blockCount, 0);
            root.At = DxSearch(r, DxRootCountOffset, hash);
            for (int level = 1; level <= levels; level++)
            {
                DxFrame parent = frames[level - 1];
                long logical = DxChild(parent.Buffer, parent.CountOffset, parent.At);
                var frame = new DxFrame { Logical = logical, Physical = DirectoryBlock(directory, logical), Buffer = ArrayPool<byte>.Shared.Rent(bs), CountOffset = DxNodeCountOffset };
                frames.Add(frame);
                ReadDxNode(directory, frame, blockCount);
                frame.At = DxSearch(frame.Buffer, DxNodeCountOffset, hash);
            }

            return frames;
        }
        catch
        {
            ReturnFrames(frames);
            throw;
        }
    }

    private void ReadDxNode(Ext4Inode directory, DxFrame frame, long blockCount)
    {
        int bs = _sb.BlockSize;
        Span<byte> node = frame.Buffer.AsSpan(0, bs);
        ReadFsBlock(frame.Physical, node);
        if (BinaryPrimitives.ReadUInt32LittleEndian(node) != 0 || GetRecordLength(node, 0) != bs)
        {
            FormatError.Throw("ext4 htree", -1, $"directory inode {directory.Number}: index block {frame.Logical} lacks its empty header entry.");
        }

        ValidateDxNode(directory, node, DxNodeCountOffset, blockCount, frame.Logical);
    }

    private static void ReturnFrames(List<DxFrame> frames)
    {
        foreach (DxFrame f in frames)
        {
            if (f.Buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(f.Buffer);
                f.Buffer = [];
            }
        }
    }

    /// <summary>
    /// Moves the frames to the next leaf when its index entry continues <paramref name="hash"/> (a run of equal
    /// hashes spread over several leaves); false when the hash cannot continue there.
    /// </summary>
    private bool AdvanceToNextLeaf(Ext4Inode directory, List<DxFrame> frames, uint hash, long blockCount)
    {
        int j = frames.Count - 1;
        while (j >= 0 && frames[j].At + 1 >= DxCount(frames[j].Buffer, frames[j].CountOffset))
        {
            j--;
        }

        if (j < 0)
        {
            return false;
        }

        frames[j].At++;
        if ((DxHash(frames[j].Buffer, frames[j].CountOffset, frames[j].At) & ~1u) != hash)
        {
            return false;
        }

        for (int i = j + 1; i < frames.Count; i++)
        {
            DxFrame parent = frames[i - 1];
            DxFrame frame = frames[i];
            frame.Logical = DxChild(parent.Buffer, parent.CountOffset, parent.At);
            frame.Physical = DirectoryBlock(directory, frame.Logical);
            ReadDxNode(directory, frame, blockCount);
            frame.At = 0;
        }

        return true;
    }

    private long LeafOf(List<DxFrame> frames)
    {
        DxFrame last = frames[^1];
        return DxChild(last.Buffer, last.CountOffset, last.At);
    }

    private void WriteDxFrame(Ext4Inode directory, DxFrame frame)
    {
        Span<byte> node = frame.Buffer.AsSpan(0, _sb.BlockSize);
        SealDxNode(directory, node, frame.CountOffset);
        WriteFsBlock(frame.Physical, node);
    }

    private void AddIndexed(Ext4Inode directory, byte[] name, uint inode, byte typeCode)
    {
        int bs = _sb.BlockSize;
        long blocks = CheckDirectorySize(directory);
        int needed = EntrySize(name.Length);
        List<DxFrame> frames = ProbeHtree(directory, name, blocks, out uint hash, out int version);
        byte[] leafBuffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> leaf = leafBuffer.AsSpan(0, bs);
            long leafLogical = LeafOf(frames);
            long leafPhysical = DirectoryBlock(directory, leafLogical);
            if (TryPlaceInLeaf(directory, leaf, leafLogical, leafPhysical, name, inode, typeCode, out int limit))
            {
                return;
            }

            SplitLeaf(directory, frames, blocks, leaf, leafPhysical, limit, new AddedEntry(name, inode, typeCode, hash), version);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(leafBuffer);
            ReturnFrames(frames);
        }
    }

    /// <summary>
    /// Splits a full leaf: its records and the new one, sorted by hash, are divided where the two halves are
    /// closest in size; the upper half moves to a new block whose index entry (with the continuation bit when
    /// the hash at the split also ends the lower half) goes right after the leaf's.
    /// </summary>
    private void SplitLeaf(Ext4Inode directory, List<DxFrame> frames, long blocks, Span<byte> leaf, long leafPhysical, int limit, AddedEntry added, int version)
    {
        int bs = _sb.BlockSize;
        List<LeafRecord> records = CollectRecords(leaf, limit, 0, version, added);
        int split = ChooseSplit(records, limit, directory);
        uint splitHash = records[split].Hash;
        bool continued = records[split - 1].Hash == splitHash;

        // Plan the index change before touching anything: the lowest index node with room, or one more level.
        int deepest = frames.Count - 1;
        int k = deepest;
        while (k >= 0 && DxCount(frames[k].Buffer, frames[k].CountOffset) >= DxLimitOf(frames[k].Buffer, frames[k].CountOffset))
        {
            k--;
        }

        int newNodes;
        if (k < 0)
        {
            if (deepest + 1 >= MaxIndexLevels)
            {
                throw new IOException($"The index of directory inode {directory.Number} is full ({deepest + 1} levels{((_sb.Incompatible & Ext4IncompatibleFeatures.LargeDirectories) == 0 ? "; largedir would allow one more" : string.Empty)}).");
            }

            newNodes = 1 + deepest;
        }
        else
        {
            newNodes = deepest - k;
        }

        long[] physical = AllocateDirectoryBlocks(directory, blocks, 1 + newNodes);
        WriteSplitLeaf(directory, leaf, records, split, added, limit, lowBlock: leafPhysical, highBlock: physical[0]);

        InsertIndexEntry(directory, frames, k, splitHash | (continued ? 1u : 0u), (uint)blocks, blocks + 1, physical.AsSpan(1));
        directory.Size = (blocks + 1 + newNodes) * bs;
        WriteInode(directory);
    }

    /// <summary>
    /// Inserts {hash, child} after the entry followed in the deepest frame. Full nodes below the lowest one with
    /// room (<paramref name="roomLevel"/>) are split in half from the top down; when even the root is full
    /// (<paramref name="roomLevel"/> &lt; 0) its entries first move into a new node (one more level).
    /// <paramref name="nodePhysical"/> holds the blocks mapped for new nodes, logical
    /// <paramref name="firstNodeLogical"/> on.
    /// </summary>
    private void InsertIndexEntry(Ext4Inode directory, List<DxFrame> frames, int roomLevel, uint hash, uint child, long firstNodeLogical, ReadOnlySpan<long> nodePhysical)
    {
        int bs = _sb.BlockSize;
        int next = 0;
        int k = roomLevel;
        if (k < 0)
        {
            DxFrame root = frames[0];
            Span<byte> r = root.Buffer.AsSpan(0, bs);
            int count = DxCount(r, DxRootCountOffset);
            var node = new DxFrame { Logical = firstNodeLogical + next, Physical = nodePhysical[next], Buffer = ArrayPool<byte>.Shared.Rent(bs), CountOffset = DxNodeCountOffset, At = root.At };
            next++;
            frames.Insert(1, node);
            Span<byte> n = node.Buffer.AsSpan(0, bs);
            InitializeDxNode(n);
            r.Slice(DxRootCountOffset + 4, (count * 8) - 4).CopyTo(n[(DxNodeCountOffset + 4)..]);
            SetDxCount(n, DxNodeCountOffset, count);
            SetDxCount(r, DxRootCountOffset, 1);
            BinaryPrimitives.WriteUInt32LittleEndian(r[(DxRootCountOffset + 4)..], (uint)node.Logical);
            r[0x1E]++;
            root.At = 0;
            k = 1;
        }

        for (int j = k + 1; j < frames.Count; j++)
        {
            DxFrame full = frames[j];
            Span<byte> f = full.Buffer.AsSpan(0, bs);
            int count = DxCount(f, full.CountOffset);
            int half = count / 2;
            uint splitHash = DxHash(f, full.CountOffset, half);
            var upper = new DxFrame { Logical = firstNodeLogical + next, Physical = nodePhysical[next], Buffer = ArrayPool<byte>.Shared.Rent(bs), CountOffset = DxNodeCountOffset };
            next++;
            Span<byte> u = upper.Buffer.AsSpan(0, bs);
            InitializeDxNode(u);
            f.Slice(full.CountOffset + (half * 8) + 4, ((count - half) * 8) - 4).CopyTo(u[(DxNodeCountOffset + 4)..]);
            SetDxCount(u, DxNodeCountOffset, count - half);
            SetDxCount(f, full.CountOffset, half);
            DxFrame parent = frames[j - 1];
            InsertDxEntry(parent.Buffer, parent.CountOffset, parent.At + 1, splitHash, (uint)upper.Logical);
            DxFrame off;
            if (full.At >= half)
            {
                upper.At = full.At - half;
                parent.At++;
                frames[j] = upper;
                off = full;
            }
            else
            {
                off = upper;
            }

            // The half that is not on the path is finished now.
            WriteDxFrame(directory, off);
            ArrayPool<byte>.Shared.Return(off.Buffer);
            off.Buffer = [];
        }

        DxFrame last = frames[^1];
        InsertDxEntry(last.Buffer, last.CountOffset, last.At + 1, hash, child);
        for (int j = frames.Count - 1; j >= 0; j--)
        {
            WriteDxFrame(directory, frames[j]);
        }
    }

    /// <summary>The live records of a leaf (from <paramref name="start"/>) and the new one, with their hashes, sorted by hash.</summary>
    private List<LeafRecord> CollectRecords(ReadOnlySpan<byte> block, int limit, int start, int version, AddedEntry added)
    {
        var records = new List<LeafRecord>(64);
        int offset = start;
        while (offset < limit)
        {
            int recordLength = GetRecordLength(block, offset);
            if (BinaryPrimitives.ReadUInt32LittleEndian(block[offset..]) != 0)
            {
                int nameLength = block[offset + 6];
                records.Add(new LeafRecord(HashName(block.Slice(offset + 8, nameLength), version), offset, nameLength, records.Count));
            }

            offset += recordLength;
        }

        records.Add(new LeafRecord(added.Hash, -1, added.Name.Length, records.Count));
        records.Sort(static (a, b) => a.Hash != b.Hash ? a.Hash.CompareTo(b.Hash) : a.Order.CompareTo(b.Order));
        return records;
    }

    /// <summary>The index where the sorted records divide into two leaves of the most even sizes.</summary>
    private static int ChooseSplit(List<LeafRecord> records, int limit, Ext4Inode directory)
    {
        int total = 0;
        foreach (LeafRecord r in records)
        {
            total += EntrySize(r.NameLength);
        }

        int best = -1;
        int bestLarger = int.MaxValue;
        int prefix = 0;
        for (int s = 1; s < records.Count; s++)
        {
            prefix += EntrySize(records[s - 1].NameLength);
            int larger = Math.Max(prefix, total - prefix);
            if (larger <= limit && larger < bestLarger)
            {
                best = s;
                bestLarger = larger;
            }
        }

        if (best < 0)
        {
            FormatError.Throw("ext4 directory", -1, $"inode {directory.Number}: a leaf cannot be split.");
        }

        return best;
    }

    /// <summary>
    /// Writes the records of a split leaf: those before <paramref name="split"/> to <paramref name="lowBlock"/>,
    /// the rest to <paramref name="highBlock"/>, each sealed. The high half is written first, so that when the low
    /// half overwrites the leaf being split, its other records already exist in their new block.
    /// </summary>
    private void WriteSplitLeaf(Ext4Inode directory, ReadOnlySpan<byte> source, List<LeafRecord> records, int split, AddedEntry added, int limit, long lowBlock, long highBlock)
    {
        int bs = _sb.BlockSize;
        byte[] lowBuffer = ArrayPool<byte>.Shared.Rent(bs);
        byte[] highBuffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> low = lowBuffer.AsSpan(0, bs);
            Span<byte> high = highBuffer.AsSpan(0, bs);
            FillLeaf(low, source, records, 0, split, added, limit);
            FillLeaf(high, source, records, split, records.Count, added, limit);
            SealLeaf(directory, low);
            SealLeaf(directory, high);
            WriteFsBlock(highBlock, high);
            WriteFsBlock(lowBlock, low);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(lowBuffer);
            ArrayPool<byte>.Shared.Return(highBuffer);
        }
    }

    /// <summary>Writes records [<paramref name="from"/>, <paramref name="to"/>) packed into an empty leaf; the last one reaches <paramref name="limit"/>.</summary>
    private void FillLeaf(Span<byte> target, ReadOnlySpan<byte> source, List<LeafRecord> records, int from, int to, AddedEntry added, int limit)
    {
        target.Clear();
        int offset = 0;
        for (int i = from; i < to; i++)
        {
            LeafRecord r = records[i];
            int size = EntrySize(r.NameLength);
            int recordLength = i == to - 1 ? limit - offset : size;
            if (r.Offset < 0)
            {
                WriteEntry(target, offset, recordLength, added.Inode, added.Name, added.TypeCode);
            }
            else
            {
                WriteEntry(target, offset, recordLength, BinaryPrimitives.ReadUInt32LittleEndian(source[r.Offset..]),
                    source.Slice(r.Offset + 8, r.NameLength), source[r.Offset + 7]);
            }

            offset += size;
        }
    }

    /// <summary>
    /// Turns a full one-block linear directory into an htree: block 0 becomes the dx root ("." and ".." kept),
    /// its entries and the new one are divided by hash over two new leaves.
    /// </summary>
    private void MakeIndexed(Ext4Inode directory, Span<byte> block, long physical, byte[] name, uint inode, byte typeCode)
    {
        const string S = "ext4 directory";
        int bs = _sb.BlockSize;
        EnsureHashSettings();
        int limit = LeafLimit();
        int dotLength = GetRecordLength(block, 0);
        if (BinaryPrimitives.ReadUInt32LittleEndian(block) == 0 || block[6] != 1 || block[8] != '.' || dotLength > limit - 12 ||
            BinaryPrimitives.ReadUInt32LittleEndian(block[dotLength..]) == 0 || block[dotLength + 6] != 2 || block[dotLength + 8] != '.' || block[dotLength + 9] != '.')
        {
            FormatError.Throw(S, -1, $"inode {directory.Number}: block 0 does not start with '.' and '..'.");
        }

        uint self = BinaryPrimitives.ReadUInt32LittleEndian(block);
        uint parent = BinaryPrimitives.ReadUInt32LittleEndian(block[dotLength..]);
        byte dotType = block[7];
        byte dotDotType = block[dotLength + 7];
        int rootVersion = _dxDefaultHashVersion;
        int version = EffectiveHashVersion(directory, rootVersion);
        var added = new AddedEntry(name, inode, typeCode, HashName(name, version));
        List<LeafRecord> records = CollectRecords(block, limit, dotLength + GetRecordLength(block, dotLength), version, added);
        int split = ChooseSplit(records, limit, directory);
        uint splitHash = records[split].Hash;
        bool continued = records[split - 1].Hash == splitHash;

        long[] leaves = AllocateDirectoryBlocks(directory, 1, 2);
        WriteSplitLeaf(directory, block, records, split, added, limit, lowBlock: leaves[0], highBlock: leaves[1]);

        block.Clear();
        WriteEntry(block, 0, 12, self, "."u8, dotType);
        WriteEntry(block, 12, bs - 12, parent, ".."u8, dotDotType);
        block[0x1C] = (byte)rootVersion;
        block[0x1D] = 8;
        BinaryPrimitives.WriteUInt16LittleEndian(block[DxRootCountOffset..], (ushort)DxLimit(DxRootCountOffset));
        SetDxCount(block, DxRootCountOffset, 1);
        BinaryPrimitives.WriteUInt32LittleEndian(block[(DxRootCountOffset + 4)..], 1);
        InsertDxEntry(block, DxRootCountOffset, 1, splitHash | (continued ? 1u : 0u), 2);
        SealDxNode(directory, block, DxRootCountOffset);
        WriteFsBlock(physical, block);
        directory.Flags |= Ext4Inode.IndexFlag;
        directory.Size = 3L * bs;
        WriteInode(directory);
    }

    private bool RemoveIndexed(Ext4Inode directory, byte[] name)
    {
        int bs = _sb.BlockSize;
        long blocks = CheckDirectorySize(directory);
        List<DxFrame> frames = ProbeHtree(directory, name, blocks, out uint hash, out _);
        byte[] leafBuffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> leaf = leafBuffer.AsSpan(0, bs);
            while (true)
            {
                long leafLogical = LeafOf(frames);
                long leafPhysical = DirectoryBlock(directory, leafLogical);
                ReadFsBlock(leafPhysical, leaf);
                int limit = LeafLimit(directory, leaf, leafLogical);
                int offset = FindInLeaf(leaf, limit, name, out int previous);
                if (offset >= 0)
                {
                    RemoveFromLeaf(leaf, offset, previous);
                    SealLeaf(directory, leaf);
                    WriteFsBlock(leafPhysical, leaf);
                    return true;
                }

                if (!AdvanceToNextLeaf(directory, frames, hash, blocks))
                {
                    return false;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(leafBuffer);
            ReturnFrames(frames);
        }
    }

    /// <summary>One index block on the path from the dx root to a leaf.</summary>
    private sealed class DxFrame
    {
        public long Logical { get; set; }

        public long Physical { get; set; }

        public byte[] Buffer { get; set; } = [];

        /// <summary>Offset of <c>dx_countlimit</c>: 0x20 in the root, 8 in other index nodes.</summary>
        public int CountOffset { get; init; }

        /// <summary>The entry followed towards the leaf.</summary>
        public int At { get; set; }
    }

    /// <summary>A live record of a leaf being split (<see cref="Offset"/> -1 is the entry being added).</summary>
    private readonly record struct LeafRecord(uint Hash, int Offset, int NameLength, int Order);

    /// <summary>The entry being added.</summary>
    private readonly record struct AddedEntry(byte[] Name, uint Inode, byte TypeCode, uint Hash);
}
