using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Reads an inode's extended attributes in every attribute-fork format: shortform (in the inode), a
/// single leaf block, and node form (a dabtree over leaf blocks), with values local to the leaf or in
/// remote value blocks. Names get their Linux namespace prefix from the entry flags. The POSIX ACLs
/// XFS keeps as <c>trusted.SGI_ACL_FILE</c>/<c>SGI_ACL_DEFAULT</c> are listed as the kernel lists them
/// to root: under those names as stored, and as <c>system.posix_acl_access</c>/<c>system.posix_acl_default</c>
/// in the Linux xattr format.
/// </summary>
internal static class XfsAttributeReader
{
    private const ushort LeafMagicV5 = 0x3BEE;
    private const ushort LeafMagicV4 = 0xFBEE;
    private const ushort NodeMagicV5 = 0x3EBE;
    private const ushort NodeMagicV4 = 0xFEBE;
    private const uint RemoteMagic = 0x5841524D; // XARM
    private const int RemoteHeader = 56;
    private const int DaCrcOffset = 12;
    private const int MaxNodeLevels = 5;
    private const byte FlagLocal = 0x1;
    private const byte FlagRoot = 0x2;
    private const byte FlagSecure = 0x4;
    private const byte FlagParent = 0x8;
    private const byte FlagIncomplete = 0x80;

    /// <summary>The attributes of <paramref name="inode"/>, by full name ("user.x", "security.selinux").</summary>
    public static Dictionary<string, byte[]> Read(XfsVolume volume, XfsInode inode)
    {
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        if (!inode.HasAttributeFork)
        {
            return result;
        }

        if (inode.AttributeFormat == XfsForkFormat.Local)
        {
            ReadShortForm(inode, result);
            return result;
        }

        XfsExtent[] extents = XfsBlockMap.Read(volume, inode, attributeFork: true);
        if (extents.Length == 0)
        {
            return result;
        }

        var reader = new BlockReader(volume, inode, extents);
        ReadTree(reader, result);
        return result;
    }

    private static void ReadShortForm(XfsInode inode, Dictionary<string, byte[]> result)
    {
        ReadOnlySpan<byte> fork = inode.AttributeFork;
        string what = $"XFS inode {inode.Number} attributes (shortform)";
        if (fork.Length < 4)
        {
            FormatError.Throw(what, -1, "the header does not fit.");
        }

        int total = BinaryPrimitives.ReadUInt16BigEndian(fork);
        int count = fork[2];
        if (total < 4 || total > fork.Length)
        {
            FormatError.Throw(what, -1, $"total size {total} does not fit in the {fork.Length}-byte fork.");
        }

        ReadOnlySpan<byte> s = fork[..total];
        int p = 4;
        for (int i = 0; i < count; i++)
        {
            if (p + 3 > s.Length || p + 3 + s[p] + s[p + 1] > s.Length)
            {
                FormatError.Throw(what, p, $"entry {i} of {count} runs past the end.");
            }

            int nameLength = s[p];
            int valueLength = s[p + 1];
            byte flags = s[p + 2];
            Add(result, flags, s.Slice(p + 3, nameLength), s.Slice(p + 3 + nameLength, valueLength).ToArray(), what);
            p += 3 + nameLength + valueLength;
        }
    }

    private static void ReadTree(BlockReader reader, Dictionary<string, byte[]> result)
    {
        bool v5 = reader.Volume.SuperBlock.HasCrc;
        uint block = 0;
        for (int level = 0; ; level++)
        {
            byte[] b = reader.Read(block, verifyDa: true);
            ushort magic = BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(8));
            if (magic == (v5 ? LeafMagicV5 : LeafMagicV4))
            {
                break;
            }

            if (magic != (v5 ? NodeMagicV5 : NodeMagicV4) || level >= MaxNodeLevels)
            {
                FormatError.Throw(reader.What, -1, $"attribute block {block} is neither a leaf nor a node (magic 0x{magic:x4}, depth {level}).");
            }

            int header = v5 ? 64 : 16;
            int count = BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(header - (v5 ? 8 : 4)));
            if (count < 1 || header + (count * 8) > b.Length)
            {
                FormatError.Throw(reader.What, -1, $"attribute node {block} has {count} entries.");
            }

            block = BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(header + 4)); // the first entry's "before"
        }

        // Leaves are chained left to right through "forw"; a chain longer than the fork has blocks is a cycle.
        var seen = new HashSet<uint>();
        while (true)
        {
            if (!seen.Add(block) || (ulong)seen.Count > reader.MappedBlocks)
            {
                FormatError.Throw(reader.What, -1, $"the attribute leaf chain loops at block {block}.");
            }

            byte[] leaf = reader.Read(block, verifyDa: true);
            ReadLeaf(reader, block, leaf, result);
            block = BinaryPrimitives.ReadUInt32BigEndian(leaf);
            if (block == 0)
            {
                return;
            }
        }
    }

    private static void ReadLeaf(BlockReader reader, uint block, byte[] leaf, Dictionary<string, byte[]> result)
    {
        bool v5 = reader.Volume.SuperBlock.HasCrc;
        ReadOnlySpan<byte> s = leaf;
        string what = $"{reader.What} leaf {block}";
        if (BinaryPrimitives.ReadUInt16BigEndian(s[8..]) != (v5 ? LeafMagicV5 : LeafMagicV4))
        {
            FormatError.Throw(what, -1, "bad magic.");
        }

        int countOffset = v5 ? 56 : 12;
        int entriesOffset = v5 ? 80 : 32;
        int count = BinaryPrimitives.ReadUInt16BigEndian(s[countOffset..]);
        if (entriesOffset + (count * 8) > s.Length)
        {
            FormatError.Throw(what, -1, $"{count} entries do not fit in the block.");
        }

        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> e = s.Slice(entriesOffset + (i * 8), 8);
            int nameIndex = BinaryPrimitives.ReadUInt16BigEndian(e[4..]);
            byte flags = e[6];
            if ((flags & FlagIncomplete) != 0)
            {
                continue;
            }

            if ((flags & FlagLocal) != 0)
            {
                if (nameIndex + 3 > s.Length)
                {
                    FormatError.Throw(what, nameIndex, "a local entry is past the end of the block.");
                }

                int valueLength = BinaryPrimitives.ReadUInt16BigEndian(s[nameIndex..]);
                int nameLength = s[nameIndex + 2];
                if (nameIndex + 3 + nameLength + valueLength > s.Length)
                {
                    FormatError.Throw(what, nameIndex, "a local entry runs past the end of the block.");
                }

                Add(result, flags, s.Slice(nameIndex + 3, nameLength), s.Slice(nameIndex + 3 + nameLength, valueLength).ToArray(), what);
            }
            else
            {
                if (nameIndex + 9 > s.Length || nameIndex + 9 + s[nameIndex + 8] > s.Length)
                {
                    FormatError.Throw(what, nameIndex, "a remote entry runs past the end of the block.");
                }

                uint valueBlock = BinaryPrimitives.ReadUInt32BigEndian(s[nameIndex..]);
                uint valueLength = BinaryPrimitives.ReadUInt32BigEndian(s[(nameIndex + 4)..]);
                int nameLength = s[nameIndex + 8];
                Add(result, flags, s.Slice(nameIndex + 9, nameLength), ReadRemote(reader, valueBlock, valueLength), what);
            }
        }
    }

    private static byte[] ReadRemote(BlockReader reader, uint firstBlock, uint length)
    {
        XfsSuperBlock sb = reader.Volume.SuperBlock;
        const int MaxValue = 64 * 1024; // XATTR_SIZE_MAX
        if (length > MaxValue)
        {
            FormatError.Throw(reader.What, -1, $"remote value of {length} bytes is larger than the 64 KiB limit.");
        }

        int perBlock = sb.BlockSize - (sb.HasCrc ? RemoteHeader : 0);
        byte[] value = new byte[length];
        int done = 0;
        for (uint block = firstBlock; done < value.Length; block++)
        {
            byte[] b = reader.Read(block, verifyDa: false);
            int n = Math.Min(perBlock, value.Length - done);
            if (sb.HasCrc)
            {
                ReadOnlySpan<byte> s = b;
                if (BinaryPrimitives.ReadUInt32BigEndian(s) != RemoteMagic ||
                    BinaryPrimitives.ReadUInt32BigEndian(s[4..]) != (uint)done || BinaryPrimitives.ReadUInt32BigEndian(s[8..]) != (uint)n)
                {
                    FormatError.Throw(reader.What, -1, $"remote value block {block} has a bad header.");
                }

                if (reader.Volume.VerifyChecksums && !XfsChecksum.IsValid(s, 12))
                {
                    FormatError.Throw(reader.What, -1, $"remote value block {block}: checksum mismatch.");
                }

                b.AsSpan(RemoteHeader, n).CopyTo(value.AsSpan(done));
            }
            else
            {
                b.AsSpan(0, n).CopyTo(value.AsSpan(done));
            }

            done += n;
        }

        return value;
    }

    private static void Add(Dictionary<string, byte[]> result, byte flags, ReadOnlySpan<byte> name, byte[] value, string what)
    {
        if (name.IsEmpty || name.IndexOf((byte)0) >= 0)
        {
            FormatError.Throw(what, -1, "an attribute name is empty or contains a NUL byte.");
        }

        if ((flags & FlagParent) != 0)
        {
            return; // parent pointers are file-system metadata, not user-visible attributes
        }

        string bare = UnixPathEncoding.GetString(name);
        string full;
        if ((flags & FlagRoot) != 0)
        {
            string? acl = bare switch
            {
                "SGI_ACL_FILE" => XfsPosixAcl.AccessName,
                "SGI_ACL_DEFAULT" => XfsPosixAcl.DefaultName,
                _ => null,
            };
            full = "trusted." + bare;
            if (acl is not null)
            {
                // Linux lists both: the raw trusted.SGI_ACL_* attribute and the ACL under its system name.
                result[acl] = XfsPosixAcl.ToXattr(value, what);
            }
        }
        else
        {
            full = ((flags & FlagSecure) != 0 ? "security." : "user.") + bare;
        }

        result[full] = value;
    }

    /// <summary>Reads attribute-fork blocks by their logical number.</summary>
    private sealed class BlockReader(XfsVolume volume, XfsInode inode, XfsExtent[] extents)
    {
        public XfsVolume Volume { get; } = volume;

        public string What { get; } = $"XFS inode {inode.Number} attributes";

        public ulong MappedBlocks { get; } = SumLengths(extents);

        public byte[] Read(uint block, bool verifyDa)
        {
            int index = XfsBlockMap.Find(extents, block);
            if (index < 0)
            {
                FormatError.Throw(What, -1, $"attribute block {block} is not mapped.");
            }

            XfsExtent e = extents[index];
            byte[] b = new byte[Volume.BlockSize];
            Volume.ReadBlocks(e.FsBlock + (block - e.FileBlock), b, What);
            if (verifyDa && Volume.SuperBlock.HasCrc)
            {
                if (Volume.VerifyChecksums && !XfsChecksum.IsValid(b, DaCrcOffset))
                {
                    FormatError.Throw(What, -1, $"attribute block {block}: checksum mismatch.");
                }

                if (BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan(48)) != inode.Number)
                {
                    FormatError.Throw(What, -1, $"attribute block {block} records another owner.");
                }
            }

            return b;
        }

        private static ulong SumLengths(XfsExtent[] extents)
        {
            ulong sum = 0;
            foreach (XfsExtent e in extents)
            {
                sum += e.Length;
            }

            return sum;
        }
    }
}
