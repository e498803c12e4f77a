using System.Buffers.Binary;
using System.Text;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Lays out an inode's extended attributes: shortform in the inode (<c>xfs_attr_shortform</c>) or one leaf block
/// (<c>xfs_attr3_leafblock</c>, magic 0x3BEE) at attribute-fork block 0 with values that do not fit locally in remote
/// blocks ('XARM') after it. Also converts Linux xattr names to XFS namespaces and POSIX ACLs to the XFS form.
/// </summary>
internal static class XfsAttributeLayout
{
    public const byte FlagLocal = 0x1;
    public const byte FlagRoot = 0x2;
    public const byte FlagSecure = 0x4;
    private const int LeafHeader = 80;
    private const int RemoteHeader = 56;
    private const ushort LeafMagic = 0x3BEE;
    private const uint RemoteMagic = 0x5841524D;

    /// <summary>Converts Linux xattrs (full names, ACLs in the xattr form) to what XFS stores, sorted by name for reproducibility.</summary>
    /// <exception cref="NotSupportedException">A name XFS cannot store.</exception>
    /// <exception cref="ArgumentException">A POSIX ACL is malformed.</exception>
    public static List<XfsAttributeToWrite> FromXattrs(IReadOnlyDictionary<string, byte[]> xattrs, string path)
    {
        var list = new List<XfsAttributeToWrite>(xattrs.Count);
        foreach ((string name, byte[] value) in xattrs)
        {
            byte flags;
            string suffix;
            byte[] stored = value;
            if (name == XfsPosixAcl.AccessName || name == XfsPosixAcl.DefaultName)
            {
                flags = FlagRoot;
                suffix = name == XfsPosixAcl.AccessName ? "SGI_ACL_FILE" : "SGI_ACL_DEFAULT";
                try
                {
                    stored = XfsPosixAcl.ToDisk(value);
                }
                catch (ArgumentException e)
                {
                    throw new ArgumentException($"'{path}': the xattr '{name}' of the source: {e.Message}", "source", e);
                }
            }
            else if (name.StartsWith("user.", StringComparison.Ordinal))
            {
                flags = 0;
                suffix = name[5..];
            }
            else if ((name == "trusted.SGI_ACL_FILE" && xattrs.ContainsKey(XfsPosixAcl.AccessName)) ||
                     (name == "trusted.SGI_ACL_DEFAULT" && xattrs.ContainsKey(XfsPosixAcl.DefaultName)))
            {
                // An XFS source lists each ACL twice (as the kernel does): its raw form is the system one converted.
                continue;
            }
            else if (name.StartsWith("trusted.", StringComparison.Ordinal))
            {
                flags = FlagRoot;
                suffix = name[8..];
            }
            else if (name.StartsWith("security.", StringComparison.Ordinal))
            {
                flags = FlagSecure;
                suffix = name[9..];
            }
            else
            {
                throw new NotSupportedException($"'{path}': XFS cannot store the xattr '{name}' (only user., trusted., security. and POSIX ACLs).");
            }

            byte[] nameBytes = Encoding.UTF8.GetBytes(suffix);
            if (nameBytes.Length is 0 or > 255)
            {
                throw new NotSupportedException($"'{path}': the xattr name '{name}' must have a 1 to 255-byte suffix.");
            }

            if (stored.Length > 65536)
            {
                throw new NotSupportedException($"'{path}': the xattr '{name}' is larger than 64 KiB.");
            }

            list.Add(new XfsAttributeToWrite(flags, nameBytes, stored));
        }

        list.Sort(static (a, b) => a.Flags != b.Flags ? a.Flags.CompareTo(b.Flags) : a.Name.AsSpan().SequenceCompareTo(b.Name));
        return list;
    }

    /// <summary>The shortform size, or -1 when some entry cannot be shortform (a value of 255 bytes or more).</summary>
    public static int ShortformSize(List<XfsAttributeToWrite> attrs)
    {
        int size = 4;
        foreach (XfsAttributeToWrite a in attrs)
        {
            if (a.Value.Length >= 255 || a.Name.Length >= 255)
            {
                return -1;
            }

            size += 3 + a.Name.Length + a.Value.Length;
        }

        return size;
    }

    /// <summary>The shortform fork content.</summary>
    public static byte[] Shortform(List<XfsAttributeToWrite> attrs)
    {
        int size = ShortformSize(attrs);
        byte[] sf = new byte[size];
        BinaryPrimitives.WriteUInt16BigEndian(sf, (ushort)size);
        sf[2] = (byte)attrs.Count;
        int p = 4;
        foreach (XfsAttributeToWrite a in attrs)
        {
            sf[p] = (byte)a.Name.Length;
            sf[p + 1] = (byte)a.Value.Length;
            sf[p + 2] = a.Flags;
            a.Name.CopyTo(sf, p + 3);
            a.Value.CopyTo(sf, p + 3 + a.Name.Length);
            p += 3 + a.Name.Length + a.Value.Length;
        }

        return sf;
    }

    /// <summary>How many attribute-fork blocks the leaf form takes (leaf block plus remote values).</summary>
    /// <exception cref="NotSupportedException">The attributes need more than one leaf block (node form).</exception>
    public static int LeafBlocks(List<XfsAttributeToWrite> attrs, int blockSize, string path)
    {
        int used = LeafHeader;
        int blocks = 1;
        foreach (XfsAttributeToWrite a in attrs)
        {
            used += 8 + EntrySize(a, blockSize, out bool local);
            if (!local)
            {
                blocks += RemoteBlocks(a.Value.Length, blockSize);
            }
        }

        if (used > blockSize)
        {
            throw new NotSupportedException($"'{path}': its xattrs need more than one attribute leaf block (node-form attributes are not written).");
        }

        return blocks;
    }

    /// <summary>The leaf block and remote value blocks at attribute-fork blocks 0, 1, ...</summary>
    public static List<XfsMetadataBlock> Leaf(List<XfsAttributeToWrite> attrs, int blockSize)
    {
        var order = new List<(uint Hash, XfsAttributeToWrite Attr)>(attrs.Count);
        foreach (XfsAttributeToWrite a in attrs)
        {
            order.Add((XfsNameHash.Compute(a.Name), a));
        }

        order.Sort(static (x, y) => x.Hash.CompareTo(y.Hash));
        var blocks = new List<XfsMetadataBlock>();
        byte[] leaf = new byte[blockSize];
        blocks.Add(new XfsMetadataBlock(0, leaf, XfsHeaderKind.DaTree));
        BinaryPrimitives.WriteUInt16BigEndian(leaf.AsSpan(8), LeafMagic);
        int nameEnd = blockSize;
        int usedBytes = 0;
        long nextRemote = 1;
        for (int i = 0; i < order.Count; i++)
        {
            XfsAttributeToWrite a = order[i].Attr;
            int size = EntrySize(a, blockSize, out bool local);
            nameEnd -= size;
            usedBytes += size;
            Span<byte> e = leaf.AsSpan(LeafHeader + (i * 8), 8);
            BinaryPrimitives.WriteUInt32BigEndian(e, order[i].Hash);
            BinaryPrimitives.WriteUInt16BigEndian(e[4..], (ushort)nameEnd);
            e[6] = (byte)(a.Flags | (local ? FlagLocal : 0));
            Span<byte> n = leaf.AsSpan(nameEnd, size);
            if (local)
            {
                BinaryPrimitives.WriteUInt16BigEndian(n, (ushort)a.Value.Length);
                n[2] = (byte)a.Name.Length;
                a.Name.CopyTo(n[3..]);
                a.Value.CopyTo(n[(3 + a.Name.Length)..]);
            }
            else
            {
                BinaryPrimitives.WriteUInt32BigEndian(n, (uint)nextRemote);
                BinaryPrimitives.WriteInt32BigEndian(n[4..], a.Value.Length);
                n[8] = (byte)a.Name.Length;
                a.Name.CopyTo(n[9..]);
                int per = blockSize - RemoteHeader;
                for (int off = 0; off < a.Value.Length; off += per)
                {
                    int len = Math.Min(per, a.Value.Length - off);
                    byte[] rb = new byte[blockSize];
                    BinaryPrimitives.WriteUInt32BigEndian(rb, RemoteMagic);
                    BinaryPrimitives.WriteInt32BigEndian(rb.AsSpan(4), off);
                    BinaryPrimitives.WriteInt32BigEndian(rb.AsSpan(8), len);
                    a.Value.AsSpan(off, len).CopyTo(rb.AsSpan(RemoteHeader));
                    blocks.Add(new XfsMetadataBlock(nextRemote++, rb, XfsHeaderKind.Remote));
                }
            }
        }

        int entriesEnd = LeafHeader + (order.Count * 8);
        BinaryPrimitives.WriteUInt16BigEndian(leaf.AsSpan(56), (ushort)order.Count);
        BinaryPrimitives.WriteUInt16BigEndian(leaf.AsSpan(58), (ushort)usedBytes);
        BinaryPrimitives.WriteUInt16BigEndian(leaf.AsSpan(60), (ushort)nameEnd);
        BinaryPrimitives.WriteUInt16BigEndian(leaf.AsSpan(64), (ushort)entriesEnd);
        BinaryPrimitives.WriteUInt16BigEndian(leaf.AsSpan(66), (ushort)(nameEnd - entriesEnd));
        return blocks;
    }

    private static int RemoteBlocks(int length, int blockSize) => Math.Max(1, (length + blockSize - RemoteHeader - 1) / (blockSize - RemoteHeader));

    private static int EntrySize(XfsAttributeToWrite a, int blockSize, out bool local)
    {
        int localSize = (3 + a.Name.Length + a.Value.Length + 3) & ~3;
        local = localSize < (blockSize >> 1) + (blockSize >> 2);
        return local ? localSize : (11 + a.Name.Length + 3) & ~3;
    }
}
