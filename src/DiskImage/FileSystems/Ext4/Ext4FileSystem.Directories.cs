using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace DiskImage.FileSystems.Ext4;

// Directory reading: linear blocks, htree (dx) directories and inline directories.
public sealed partial class Ext4FileSystem
{
    private const int MaxCachedDirectories = 256;
    internal readonly Dictionary<uint, Dictionary<string, uint>> _directoryCache = [];

    /// <summary>
    /// Returns name → inode for a directory (without "." and ".."). Listings are cached (up to 256
    /// directories); the directory writer updates a cached listing in place with every entry it adds or
    /// removes, and drops it (<see cref="InvalidateDirectory"/>) when a change fails half-way.
    /// </summary>
    internal Dictionary<string, uint> GetDirectory(Ext4Node directory)
    {
        Ext4Inode inode = directory.Inode;
        if (_directoryCache.TryGetValue(inode.Number, out Dictionary<string, uint>? cached))
        {
            return cached;
        }

        CheckDirectoryReadable(inode, directory.Path);
        var entries = new Dictionary<string, uint>(StringComparer.Ordinal);
        if (inode.HasInlineData)
        {
            ReadInlineDirectory(inode, entries);
        }
        else
        {
            ReadBlockDirectory(inode, entries);
        }

        if (_directoryCache.Count >= MaxCachedDirectories)
        {
            _directoryCache.Clear();
        }

        _directoryCache[inode.Number] = entries;
        return entries;
    }

    /// <summary>
    /// Refuses a directory whose names this reader cannot use: encrypted (<c>ENCRYPT_FL</c>, fscrypt: the names on
    /// disk are ciphertext) or casefolded (<c>CASEFOLD_FL</c>: lookups ignore case and its htree hashes the folded
    /// name). Names the path when it is known.
    /// </summary>
    /// <exception cref="NotSupportedException">The directory is encrypted or casefolded.</exception>
    internal static void CheckDirectoryReadable(Ext4Inode inode, string? path)
    {
        string what = path is null ? $"Directory inode {inode.Number}" : $"The directory '{path}'";
        if ((inode.Flags & Ext4Inode.EncryptFlag) != 0)
        {
            FormatError.Unsupported($"{what} is encrypted (fscrypt); listing, looking up or changing its entries is not supported.");
        }

        if ((inode.Flags & Ext4Inode.CaseFoldFlag) != 0)
        {
            FormatError.Unsupported($"{what} is case-insensitive (casefold); listing, looking up or changing its entries is not supported.");
        }
    }

    private void ReadInlineDirectory(Ext4Inode inode, Dictionary<string, uint> entries)
    {
        byte[] data = ReadInlineData(inode);
        if (data.Length < 4)
        {
            FormatError.Throw("ext4 inline directory", -1, $"inode {inode.Number}: too short.");
        }

        int first = Math.Min(data.Length, 60);
        ParseEntries(inode, data.AsSpan(4, first - 4), entries, -1);
        if (data.Length > 60)
        {
            ParseEntries(inode, data.AsSpan(60), entries, -1);
        }
    }

    private void ReadBlockDirectory(Ext4Inode inode, Dictionary<string, uint> entries)
    {
        const string S = "ext4 directory";
        int bs = _sb.BlockSize;
        if (inode.Size % bs != 0 || inode.Size == 0)
        {
            FormatError.Throw(S, -1, $"inode {inode.Number}: size {inode.Size} is not a positive multiple of the block size.");
        }

        long blockCount = inode.Size / bs;
        List<Ext4Extent> extents = MapFile(inode);
        var map = new Ext4FileStream(_device, bs, inode.Size, extents, _sync);
        HashSet<long>? dxBlocks = null;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> block = buffer.AsSpan(0, bs);
            if ((inode.Flags & Ext4Inode.IndexFlag) != 0 && (_sb.Compatible & Ext4CompatibleFeatures.DirIndex) != 0)
            {
                dxBlocks = VerifyHtree(inode, map, blockCount, block);
            }

            int extentIndex = 0;
            for (long b = 0; b < blockCount; b++)
            {
                // Extents are sorted: advance past those that end before this block.
                while (extentIndex < extents.Count && extents[extentIndex].Logical + extents[extentIndex].Length <= b)
                {
                    extentIndex++;
                }

                if (extentIndex >= extents.Count || extents[extentIndex].Logical > b || extents[extentIndex].Unwritten)
                {
                    FormatError.Throw(S, -1, $"inode {inode.Number}: block {b} is a hole.");
                }

                map.Position = b * bs;
                map.ReadExactly(block);
                if (dxBlocks is not null && dxBlocks.Contains(b))
                {
                    // Index blocks (the root holds only "." and ".." as entries) were checked by VerifyHtree.
                    continue;
                }

                int limit = bs;
                if (_sb.HasMetadataChecksum)
                {
                    limit = bs - 12;
                    ReadOnlySpan<byte> tail = block[limit..];
                    bool isTail = BinaryPrimitives.ReadUInt32LittleEndian(tail) == 0 && BinaryPrimitives.ReadUInt16LittleEndian(tail[4..]) == 12 && tail[6] == 0 && tail[7] == 0xDE;
                    if (!isTail)
                    {
                        if (VerifyChecksums)
                        {
                            FormatError.Throw(S, -1, $"inode {inode.Number}: block {b} has no checksum tail.");
                        }

                        limit = bs;
                    }
                    else if (VerifyChecksums)
                    {
                        uint c = Ext4Checksum.Crc32C(InodeSeed(inode.Number, inode.Generation), block[..limit]);
                        if (c != BinaryPrimitives.ReadUInt32LittleEndian(tail[8..]))
                        {
                            FormatError.Throw(S, -1, $"inode {inode.Number}: block {b} checksum mismatch.");
                        }
                    }
                }

                ParseEntries(inode, block[..limit], entries, b);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    internal int RecordLength(ushort raw)
    {
        if (_sb.BlockSize < 65536)
        {
            return raw;
        }

        return raw is 0 or 65535 ? 65536 : (raw & 65532) | ((raw & 3) << 16);
    }

    private void ParseEntries(Ext4Inode inode, ReadOnlySpan<byte> region, Dictionary<string, uint> entries, long blockIndex)
    {
        const string S = "ext4 directory entry";
        int off = 0;
        while (off < region.Length)
        {
            if (region.Length - off < 8)
            {
                FormatError.Throw(S, -1, $"directory inode {inode.Number}, block {blockIndex}, offset {off}: truncated entry.");
            }

            uint ino = BinaryPrimitives.ReadUInt32LittleEndian(region[off..]);
            int recLen = RecordLength(BinaryPrimitives.ReadUInt16LittleEndian(region[(off + 4)..]));
            int nameLen = region[off + 6];
            if (recLen < 8 || recLen % 4 != 0 || recLen > region.Length - off || (ino != 0 && 8 + nameLen > recLen))
            {
                FormatError.Throw(S, -1, $"directory inode {inode.Number}, block {blockIndex}, offset {off}: bad rec_len {recLen} (name_len {nameLen}).");
            }

            if (ino != 0)
            {
                if (ino > _sb.InodesCount || nameLen == 0)
                {
                    FormatError.Throw(S, -1, $"directory inode {inode.Number}, block {blockIndex}, offset {off}: bad inode {ino} or empty name.");
                }

                ReadOnlySpan<byte> name = region.Slice(off + 8, nameLen);
                if (name.IndexOfAny((byte)'/', (byte)0) >= 0)
                {
                    FormatError.Throw(S, -1, $"directory inode {inode.Number}, block {blockIndex}, offset {off}: name contains '/' or NUL.");
                }

                if (!(name.Length == 1 && name[0] == '.') && !(name.Length == 2 && name[0] == '.' && name[1] == '.'))
                {
                    entries.TryAdd(UnixPathEncoding.GetString(name), ino);
                }
            }

            off += recLen;
        }
    }

    /// <summary>Checks the htree root and index nodes (limits, counts, levels, block numbers, checksums) and returns the index blocks.</summary>
    internal HashSet<long> VerifyHtree(Ext4Inode inode, Ext4FileStream map, long blockCount, Span<byte> block)
    {
        const string S = "ext4 htree";
        int bs = _sb.BlockSize;
        var dx = new HashSet<long> { 0 };
        map.Position = 0;
        map.ReadExactly(block);
        if (RecordLength(BinaryPrimitives.ReadUInt16LittleEndian(block[4..])) != 12 || block[6] != 1 || block[8] != '.' ||
            RecordLength(BinaryPrimitives.ReadUInt16LittleEndian(block[16..])) != bs - 12 || block[18] != 2)
        {
            FormatError.Throw(S, -1, $"directory inode {inode.Number}: the dx root does not start with '.' and '..'.");
        }

        int hashVersion = block[0x1C];
        int infoLength = block[0x1D];
        int levels = block[0x1E];
        int maxLevels = (_sb.Incompatible & Ext4IncompatibleFeatures.LargeDirectories) != 0 ? 3 : 2;
        if (infoLength != 8 || hashVersion > 5 || levels >= maxLevels)
        {
            FormatError.Throw(S, -1, $"directory inode {inode.Number}: bad dx root (hash {hashVersion}, info length {infoLength}, levels {levels}).");
        }

        var current = new List<long>();
        CheckDxNode(inode, block, 0x20, blockCount, current, 0);
        for (int level = 0; level < levels; level++)
        {
            var next = new List<long>();
            foreach (long b in current)
            {
                if (!dx.Add(b))
                {
                    FormatError.Throw(S, -1, $"directory inode {inode.Number}: index block {b} is referenced twice.");
                }

                map.Position = b * bs;
                map.ReadExactly(block);
                if (BinaryPrimitives.ReadUInt32LittleEndian(block) != 0 || RecordLength(BinaryPrimitives.ReadUInt16LittleEndian(block[4..])) != bs)
                {
                    FormatError.Throw(S, -1, $"directory inode {inode.Number}: index block {b} lacks its empty header entry.");
                }

                CheckDxNode(inode, block, 8, blockCount, next, b);
            }

            current = next;
        }

        foreach (long leaf in current)
        {
            if (dx.Contains(leaf))
            {
                FormatError.Throw(S, -1, $"directory inode {inode.Number}: leaf block {leaf} is also an index block.");
            }
        }

        return dx;
    }

    private void CheckDxNode(Ext4Inode inode, ReadOnlySpan<byte> block, int countOffset, long blockCount, List<long> children, long blockIndex)
    {
        const string S = "ext4 htree";
        bool csum = _sb.HasMetadataChecksum;
        int limit = BinaryPrimitives.ReadUInt16LittleEndian(block[countOffset..]);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(block[(countOffset + 2)..]);
        int expectedLimit = (block.Length - countOffset - (csum ? 8 : 0)) / 8;
        if (limit != expectedLimit || count == 0 || count > limit)
        {
            FormatError.Throw(S, -1, $"directory inode {inode.Number}, block {blockIndex}: dx count {count} / limit {limit} (expected limit {expectedLimit}).");
        }

        uint previousHash = 0;
        for (int i = 0; i < count; i++)
        {
            int e = countOffset + (i * 8);
            uint hash = i == 0 ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(block[e..]);
            long child = BinaryPrimitives.ReadUInt32LittleEndian(block[(e + 4)..]);
            if (child >= blockCount || child == 0 || hash < previousHash)
            {
                FormatError.Throw(S, -1, $"directory inode {inode.Number}, block {blockIndex}: dx entry {i} (hash 0x{hash:X8}, block {child}) is invalid.");
            }

            previousHash = hash;
            children.Add(child);
        }

        if (csum && VerifyChecksums)
        {
            int tail = countOffset + (limit * 8);
            uint c = Ext4Checksum.Crc32C(InodeSeed(inode.Number, inode.Generation), block[..(countOffset + (count * 8))]);
            c = Ext4Checksum.Crc32C(c, block.Slice(tail, 4));
            c = Ext4Checksum.Crc32CZeros(c, 4);
            if (c != BinaryPrimitives.ReadUInt32LittleEndian(block[(tail + 4)..]))
            {
                FormatError.Throw(S, -1, $"directory inode {inode.Number}, block {blockIndex}: dx checksum mismatch.");
            }
        }
    }

    /// <summary>Whether <paramref name="directory"/> holds nothing but "." and "..".</summary>
    internal bool IsDirectoryEmpty(Ext4Inode directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        return GetDirectory(new Ext4Node(directory)).Count == 0;
    }

    /// <summary>Drops the cached listing of directory <paramref name="inode"/> (call it when the inode is freed or rewritten).</summary>
    internal void InvalidateDirectory(uint inode)
    {
        _directoryCache.Remove(inode);
    }

    /// <summary>Adds an entry to <paramref name="directory"/> (see <see cref="Ext4DirectoryWriter.AddDirectoryEntry"/>).</summary>
    internal void AddDirectoryEntry(Ext4Inode directory, string name, uint inode, UnixFileType type) =>
        Directories.AddDirectoryEntry(directory, name, inode, type);

    /// <summary>Removes an entry from <paramref name="directory"/> (see <see cref="Ext4DirectoryWriter.RemoveDirectoryEntry"/>).</summary>
    internal bool RemoveDirectoryEntry(Ext4Inode directory, string name) => Directories.RemoveDirectoryEntry(directory, name);
}
