using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// An internal jbd2 journal (the journal inode's blocks and its big-endian superblock): writes one transaction
/// the way the kernel does (descriptor blocks with tags, the block images, a flush, the commit block, a flush) and
/// marks the log empty again once the transaction has been checkpointed.
/// </summary>
internal sealed class Ext4Journal
{
    public const uint Magic = 0xC03B3998;
    public const int DescriptorBlockType = 1;
    public const int CommitBlockType = 2;
    public const int SuperblockV1 = 3;
    public const int SuperblockV2 = 4;
    public const int RevokeBlockType = 5;

    public const uint CompatChecksum = 0x1;
    public const uint IncompatRevoke = 0x1;
    public const uint Incompat64Bit = 0x2;
    public const uint IncompatAsyncCommit = 0x4;
    public const uint IncompatCsumV2 = 0x8;
    public const uint IncompatCsumV3 = 0x10;
    public const uint IncompatFastCommit = 0x20;

    public const int FlagEscape = 1;
    public const int FlagSameUuid = 2;
    public const int FlagDeleted = 4;
    public const int FlagLastTag = 8;

    private readonly BlockDevice _device;
    private readonly long[] _map;
    private readonly int _blockSize;
    private readonly byte[] _sb;

    private Ext4Journal(BlockDevice device, long[] map, int blockSize, byte[] sb)
    {
        _device = device;
        _map = map;
        _blockSize = blockSize;
        _sb = sb;
    }

    /// <summary>Number of journal blocks (<c>s_maxlen</c>).</summary>
    public uint MaxLength => BinaryPrimitives.ReadUInt32BigEndian(_sb.AsSpan(0x10));

    /// <summary>First log block (<c>s_first</c>).</summary>
    public uint First => BinaryPrimitives.ReadUInt32BigEndian(_sb.AsSpan(0x14));

    /// <summary>Sequence of the first transaction expected in the log (<c>s_sequence</c>).</summary>
    public uint Sequence => BinaryPrimitives.ReadUInt32BigEndian(_sb.AsSpan(0x18));

    /// <summary>Log block of the oldest transaction, or 0 when the log is empty (<c>s_start</c>).</summary>
    public uint Start => BinaryPrimitives.ReadUInt32BigEndian(_sb.AsSpan(0x1C));

    public uint Incompatible => BinaryPrimitives.ReadUInt32BigEndian(_sb.AsSpan(0x28));

    public uint Compatible => BinaryPrimitives.ReadUInt32BigEndian(_sb.AsSpan(0x24));

    public bool HasCsumV2OrV3 => (Incompatible & (IncompatCsumV2 | IncompatCsumV3)) != 0;

    public bool Is64Bit => (Incompatible & Incompat64Bit) != 0;

    /// <summary>The jbd2 checksum seed: crc32c(~0, journal uuid).</summary>
    public uint ChecksumSeed => Ext4Checksum.Crc32C(~0u, _sb.AsSpan(0x30, 16));

    /// <summary>Blocks one transaction may take: a quarter of the log, as jbd2 limits a transaction.</summary>
    public int TransactionLimit => (int)Math.Max(16, (MaxLength - First) / 4);

    /// <summary>Loads the journal whose blocks are <paramref name="map"/> (physical block of each journal block).</summary>
    /// <exception cref="InvalidDataException">The journal superblock is corrupt.</exception>
    /// <exception cref="NotSupportedException">The journal uses a feature this writer does not maintain.</exception>
    public static Ext4Journal Load(BlockDevice device, long[] map, int blockSize)
    {
        const string S = "ext4 journal superblock";
        if (map.Length < 2)
        {
            FormatError.Throw(S, -1, "the journal is too small.");
        }

        byte[] sb = new byte[1024];
        device.ReadExactly(map[0] * blockSize, sb);
        uint type = BinaryPrimitives.ReadUInt32BigEndian(sb.AsSpan(4));
        if (BinaryPrimitives.ReadUInt32BigEndian(sb) != Magic || type is not (SuperblockV1 or SuperblockV2))
        {
            FormatError.Throw(S, map[0] * blockSize, "bad magic or block type.");
        }

        var journal = new Ext4Journal(device, map, blockSize, sb);
        if (BinaryPrimitives.ReadUInt32BigEndian(sb.AsSpan(0x0C)) != (uint)blockSize)
        {
            FormatError.Throw(S, map[0] * blockSize, "its block size differs from the file system's.");
        }

        if (journal.MaxLength > map.Length || journal.First == 0 || journal.First >= journal.MaxLength || journal.Start >= journal.MaxLength)
        {
            FormatError.Throw(S, map[0] * blockSize, $"s_maxlen {journal.MaxLength}, s_first {journal.First} or s_start {journal.Start} does not fit the journal's {map.Length} blocks.");
        }

        if (type == SuperblockV2 && (journal.Incompatible & (IncompatCsumV2 | IncompatCsumV3)) != 0)
        {
            uint stored = BinaryPrimitives.ReadUInt32BigEndian(sb.AsSpan(0xFC));
            if (stored != journal.SuperblockChecksum())
            {
                FormatError.Throw(S, map[0] * blockSize, "checksum mismatch.");
            }
        }

        return journal;
    }

    /// <summary>Refuses journal features this writer cannot produce (checksum v1, fast commits, async commit).</summary>
    public void CheckWritable()
    {
        const string Prefix = "The ext4 file system cannot be opened for writing: ";
        if ((Compatible & CompatChecksum) != 0)
        {
            FormatError.Unsupported(Prefix + "the journal uses v1 checksums (journal_checksum without metadata_csum).");
        }

        if ((Incompatible & ~(IncompatRevoke | Incompat64Bit | IncompatCsumV2 | IncompatCsumV3)) != 0)
        {
            FormatError.Unsupported(Prefix + $"the journal uses unsupported features 0x{Incompatible:X} (fast_commit or async_commit).");
        }
    }

    /// <summary>Turns on what the kernel sets at mount: 64bit tags for a 64bit file system, csum v3 with metadata_csum.</summary>
    public void SetFeatures(bool fs64Bit, bool metadataChecksum)
    {
        uint incompat = Incompatible;
        if (fs64Bit)
        {
            incompat |= Incompat64Bit;
        }

        if (metadataChecksum && (incompat & IncompatCsumV2) == 0)
        {
            incompat |= IncompatCsumV3;
            _sb[0x50] = 4; // JBD2_CRC32C_CHKSUM
        }

        if (incompat != Incompatible)
        {
            BinaryPrimitives.WriteUInt32BigEndian(_sb.AsSpan(0x28), incompat);
            BinaryPrimitives.WriteUInt32BigEndian(_sb.AsSpan(0x04), SuperblockV2);
        }
    }

    /// <summary>Bytes of one block tag in a descriptor block.</summary>
    public int TagBytes
    {
        get
        {
            if ((Incompatible & IncompatCsumV3) != 0)
            {
                return 16;
            }

            int size = 12;
            if ((Incompatible & IncompatCsumV2) != 0)
            {
                size += 2;
            }

            return Is64Bit ? size : size - 4;
        }
    }

    /// <summary>Journal blocks needed for a transaction of <paramref name="count"/> block images (descriptors, images, commit).</summary>
    public long BlocksFor(int count)
    {
        int perDescriptor = TagsPerDescriptor();
        return count + ((count + perDescriptor - 1) / perDescriptor) + 1;
    }

    /// <summary>Whether the log can hold a transaction of <paramref name="count"/> block images.</summary>
    public bool Fits(int count) => BlocksFor(count) <= MaxLength - First;

    /// <summary>
    /// Writes the transaction (from <c>s_first</c>) with <c>s_start</c> set: descriptors and images, a flush, the
    /// commit block and a flush. Once this returns, replaying the journal applies <paramref name="blocks"/>.
    /// </summary>
    public void WriteTransaction(long[] blocks, Func<long, byte[]> image, long commitSeconds)
    {
        uint sequence = Sequence;
        int bs = _blockSize;
        bool csum = HasCsumV2OrV3;
        uint seed = ChecksumSeed;
        int tagBytes = TagBytes;
        int perDescriptor = TagsPerDescriptor();

        // The log is about to hold a transaction from s_first.
        BinaryPrimitives.WriteUInt32BigEndian(_sb.AsSpan(0x1C), First);
        WriteSuperblock();

        long pos = First;
        byte[] descriptor = new byte[bs];
        byte[] escaped = new byte[bs];
        for (int at = 0; at < blocks.Length; at += perDescriptor)
        {
            int n = Math.Min(perDescriptor, blocks.Length - at);
            descriptor.AsSpan().Clear();
            WriteHeader(descriptor, DescriptorBlockType, sequence);
            int off = 12;
            for (int i = 0; i < n; i++)
            {
                long block = blocks[at + i];
                byte[] data = image(block);
                uint flags = i == 0 ? 0u : FlagSameUuid;
                if (BinaryPrimitives.ReadUInt32BigEndian(data) == Magic)
                {
                    flags |= FlagEscape;
                }

                if (i == n - 1)
                {
                    flags |= FlagLastTag;
                }

                uint tagCsum = 0;
                if (csum)
                {
                    // Over the block as the log holds it (an escaped block has its first four bytes zeroed).
                    tagCsum = Ext4Checksum.Crc32C(seed, BinaryPrimitives.ReverseEndianness(sequence));
                    tagCsum = (flags & FlagEscape) != 0
                        ? Ext4Checksum.Crc32C(Ext4Checksum.Crc32CZeros(tagCsum, 4), data.AsSpan(4, bs - 4))
                        : Ext4Checksum.Crc32C(tagCsum, data.AsSpan(0, bs));
                }

                WriteTag(descriptor.AsSpan(off, tagBytes), block, flags, tagCsum);
                off += tagBytes;
                if (i == 0)
                {
                    _sb.AsSpan(0x30, 16).CopyTo(descriptor.AsSpan(off));
                    off += 16;
                }
            }

            if (csum)
            {
                BinaryPrimitives.WriteUInt32BigEndian(descriptor.AsSpan(bs - 4), Ext4Checksum.Crc32C(seed, descriptor));
            }

            WriteLogBlock(pos++, descriptor);
            for (int i = 0; i < n; i++)
            {
                byte[] data = image(blocks[at + i]);
                if (BinaryPrimitives.ReadUInt32BigEndian(data) == Magic)
                {
                    data.AsSpan(0, bs).CopyTo(escaped);
                    escaped.AsSpan(0, 4).Clear();
                    data = escaped;
                }

                WriteLogBlock(pos++, data.AsSpan(0, bs));
            }
        }

        _device.Flush();
        byte[] commit = new byte[bs];
        WriteHeader(commit, CommitBlockType, sequence);
        BinaryPrimitives.WriteUInt64BigEndian(commit.AsSpan(0x30), (ulong)Math.Max(0, commitSeconds));
        if (csum)
        {
            BinaryPrimitives.WriteUInt32BigEndian(commit.AsSpan(0x10), Ext4Checksum.Crc32C(seed, commit));
        }

        WriteLogBlock(pos, commit);
        _device.Flush();
    }

    /// <summary>After the checkpoint: the log is empty (<c>s_start</c> = 0) and the next transaction is the following sequence.</summary>
    public void MarkEmpty()
    {
        BinaryPrimitives.WriteUInt32BigEndian(_sb.AsSpan(0x18), Sequence + 1);
        BinaryPrimitives.WriteUInt32BigEndian(_sb.AsSpan(0x1C), 0);
        WriteSuperblock();
    }

    /// <summary>Sets <c>s_start</c>/<c>s_sequence</c> after a replay and writes the superblock.</summary>
    public void SetEmptyAfter(uint nextSequence)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_sb.AsSpan(0x18), nextSequence);
        BinaryPrimitives.WriteUInt32BigEndian(_sb.AsSpan(0x1C), 0);
        WriteSuperblock();
    }

    /// <summary>The physical block of journal block <paramref name="logBlock"/>.</summary>
    public long Physical(long logBlock) => _map[logBlock];

    private int TagsPerDescriptor()
    {
        int room = _blockSize - 12 - 16 - (HasCsumV2OrV3 ? 4 : 0);
        return room / TagBytes;
    }

    private void WriteTag(Span<byte> tag, long block, uint flags, uint checksum)
    {
        BinaryPrimitives.WriteUInt32BigEndian(tag, (uint)block);
        if ((Incompatible & IncompatCsumV3) != 0)
        {
            BinaryPrimitives.WriteUInt32BigEndian(tag[4..], flags);
            BinaryPrimitives.WriteUInt32BigEndian(tag[8..], (uint)(block >> 32));
            BinaryPrimitives.WriteUInt32BigEndian(tag[12..], checksum);
            return;
        }

        BinaryPrimitives.WriteUInt16BigEndian(tag[4..], (ushort)checksum);
        BinaryPrimitives.WriteUInt16BigEndian(tag[6..], (ushort)flags);
        if (Is64Bit)
        {
            BinaryPrimitives.WriteUInt32BigEndian(tag[8..], (uint)(block >> 32));
        }
        else if (block > uint.MaxValue)
        {
            throw new InvalidOperationException("A block above 2^32 needs the 64bit journal feature.");
        }
    }

    private static void WriteHeader(Span<byte> block, int type, uint sequence)
    {
        BinaryPrimitives.WriteUInt32BigEndian(block, Magic);
        BinaryPrimitives.WriteUInt32BigEndian(block[4..], (uint)type);
        BinaryPrimitives.WriteUInt32BigEndian(block[8..], sequence);
    }

    private void WriteLogBlock(long logBlock, ReadOnlySpan<byte> data) => _device.Write(_map[logBlock] * _blockSize, data);

    private uint SuperblockChecksum()
    {
        Span<byte> copy = stackalloc byte[1024];
        _sb.CopyTo(copy);
        copy[0xFC..0x100].Clear();
        return Ext4Checksum.Crc32C(~0u, copy);
    }

    private void WriteSuperblock()
    {
        if (HasCsumV2OrV3)
        {
            BinaryPrimitives.WriteUInt32BigEndian(_sb.AsSpan(0xFC), SuperblockChecksum());
        }

        _device.Write(_map[0] * _blockSize, _sb);
    }
}
