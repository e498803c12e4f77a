using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Recovery of a jbd2 journal as the kernel does it at mount: the log is walked from <c>s_start</c> with
/// <c>s_sequence</c>, stopping at the first block that is not the next expected descriptor, revoke or commit block
/// (or fails its checksum); the transactions that have a commit block are applied in order, skipping blocks revoked
/// by the same or a later transaction and tags whose checksum does not match; then the log is marked empty.
/// </summary>
internal static class Ext4JournalReplay
{
    /// <summary>Replays <paramref name="journal"/> onto <paramref name="device"/>; returns the number of transactions applied.</summary>
    public static int Replay(Ext4Journal journal, BlockDevice device, int blockSize, long fsBlocks)
    {
        if ((journal.Incompatible & Ext4Journal.IncompatFastCommit) != 0)
        {
            FormatError.Unsupported("The ext4 journal uses fast commits, which are not replayed here; recover it with e2fsck.");
        }

        if (journal.Start == 0)
        {
            return 0;
        }

        var transactions = Scan(journal, device, blockSize, out uint next);
        var revoked = new Dictionary<long, uint>();
        foreach (Transaction t in transactions)
        {
            foreach (long block in t.Revoked)
            {
                if (!revoked.TryGetValue(block, out uint seq) || SequenceAfter(t.Sequence, seq))
                {
                    revoked[block] = t.Sequence;
                }
            }
        }

        byte[] data = new byte[blockSize];
        uint seed = journal.ChecksumSeed;
        foreach (Transaction t in transactions)
        {
            foreach (Tag tag in t.Tags)
            {
                if (revoked.TryGetValue(tag.Block, out uint by) && !SequenceAfter(t.Sequence, by))
                {
                    continue;
                }

                device.ReadExactly(journal.Physical(tag.LogBlock) * blockSize, data);
                if (journal.HasCsumV2OrV3 && !TagChecksumMatches(journal, seed, t.Sequence, tag, data))
                {
                    // The kernel skips a block whose checksum fails and replays the rest.
                    continue;
                }

                if ((tag.Flags & Ext4Journal.FlagEscape) != 0)
                {
                    BinaryPrimitives.WriteUInt32BigEndian(data, Ext4Journal.Magic);
                }

                if (tag.Block <= 0 || tag.Block >= fsBlocks)
                {
                    FormatError.Throw("ext4 journal", -1, $"transaction {t.Sequence} logs block {tag.Block}, outside the file system.");
                }

                device.Write(tag.Block * blockSize, data);
            }
        }

        device.Flush();
        journal.SetEmptyAfter(next + 1);
        device.Flush();
        return transactions.Count;
    }

    /// <summary>The committed transactions from <c>s_start</c>; <paramref name="next"/> is the first sequence not found.</summary>
    private static List<Transaction> Scan(Ext4Journal journal, BlockDevice device, int blockSize, out uint next)
    {
        var done = new List<Transaction>();
        uint seq = journal.Sequence;
        long pos = journal.Start;
        byte[] block = new byte[blockSize];
        bool csum = journal.HasCsumV2OrV3;
        uint seed = journal.ChecksumSeed;
        int tagBytes = journal.TagBytes;
        int tail = csum ? 4 : 0;
        var current = new Transaction(seq);
        long walked = 0;
        while (walked++ < journal.MaxLength)
        {
            device.ReadExactly(journal.Physical(pos) * blockSize, block);
            if (BinaryPrimitives.ReadUInt32BigEndian(block) != Ext4Journal.Magic || BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan(8)) != seq)
            {
                break;
            }

            int type = (int)BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan(4));
            if (type == Ext4Journal.DescriptorBlockType)
            {
                if (csum && !TailMatches(block, seed))
                {
                    break;
                }

                int off = 12;
                int count = 0;
                long dataPos = pos;
                while (off + tagBytes <= blockSize - tail)
                {
                    long number = BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan(off));
                    uint flags;
                    uint check;
                    if ((journal.Incompatible & Ext4Journal.IncompatCsumV3) != 0)
                    {
                        flags = BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan(off + 4));
                        check = BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan(off + 12));
                    }
                    else
                    {
                        check = BinaryPrimitives.ReadUInt16BigEndian(block.AsSpan(off + 4));
                        flags = BinaryPrimitives.ReadUInt16BigEndian(block.AsSpan(off + 6));
                    }

                    if (journal.Is64Bit)
                    {
                        number |= (long)BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan(off + 8)) << 32;
                    }

                    off += tagBytes;
                    if ((flags & Ext4Journal.FlagSameUuid) == 0)
                    {
                        off += 16;
                    }

                    dataPos = Next(journal, dataPos);
                    count++;
                    current.Tags.Add(new Tag(number, dataPos, flags, check));
                    if ((flags & Ext4Journal.FlagLastTag) != 0)
                    {
                        break;
                    }
                }

                pos = Next(journal, dataPos);
                walked += count;
                continue;
            }

            if (type == Ext4Journal.RevokeBlockType)
            {
                if (csum && !TailMatches(block, seed))
                {
                    break;
                }

                int used = (int)BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan(12));
                int recordBytes = journal.Is64Bit ? 8 : 4;
                if (used < 16 || used > blockSize - tail)
                {
                    break;
                }

                for (int off = 16; off + recordBytes <= used; off += recordBytes)
                {
                    current.Revoked.Add(journal.Is64Bit
                        ? (long)BinaryPrimitives.ReadUInt64BigEndian(block.AsSpan(off))
                        : BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan(off)));
                }

                pos = Next(journal, pos);
                continue;
            }

            if (type == Ext4Journal.CommitBlockType)
            {
                if (csum)
                {
                    uint stored = BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan(0x10));
                    block.AsSpan(0x10, 4).Clear();
                    if (Ext4Checksum.Crc32C(seed, block) != stored)
                    {
                        break;
                    }
                }

                done.Add(current);
                seq++;
                current = new Transaction(seq);
                pos = Next(journal, pos);
                continue;
            }

            break;
        }

        next = seq;
        return done;
    }

    private static bool TailMatches(byte[] block, uint seed)
    {
        int at = block.Length - 4;
        uint stored = BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan(at));
        block.AsSpan(at, 4).Clear();
        bool ok = Ext4Checksum.Crc32C(seed, block) == stored;
        BinaryPrimitives.WriteUInt32BigEndian(block.AsSpan(at), stored);
        return ok;
    }

    private static bool TagChecksumMatches(Ext4Journal journal, uint seed, uint sequence, Tag tag, byte[] data)
    {
        uint c = Ext4Checksum.Crc32C(Ext4Checksum.Crc32C(seed, BinaryPrimitives.ReverseEndianness(sequence)), data);
        return (journal.Incompatible & Ext4Journal.IncompatCsumV3) != 0 ? c == tag.Checksum : (ushort)c == (ushort)tag.Checksum;
    }

    private static long Next(Ext4Journal journal, long pos) => pos + 1 >= journal.MaxLength ? journal.First : pos + 1;

    /// <summary>Whether sequence <paramref name="a"/> comes after <paramref name="b"/> (wrapping, as jbd2 compares tids).</summary>
    private static bool SequenceAfter(uint a, uint b) => (int)(a - b) > 0;

    private readonly record struct Tag(long Block, long LogBlock, uint Flags, uint Checksum);

    private sealed class Transaction(uint sequence)
    {
        public uint Sequence { get; } = sequence;

        public List<Tag> Tags { get; } = [];

        public List<long> Revoked { get; } = [];
    }
}
