using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>Reads symbolic-link targets: in the inode (local) or in remote blocks (<c>XSLM</c> headers on version 5).</summary>
internal static class XfsSymbolicLink
{
    /// <summary>The longest target XFS stores (<c>XFS_SYMLINK_MAXLEN</c>).</summary>
    public const int MaxLength = 1024;

    private const uint Magic = 0x58534C4D; // XSLM
    private const int Header = 56;
    private const int CrcOffset = 12;

    /// <summary>The target of symbolic link <paramref name="inode"/>.</summary>
    public static string ReadTarget(XfsVolume volume, XfsInode inode)
    {
        string what = $"XFS symbolic link {inode.Number}";
        if (inode.Size is < 1 or > MaxLength)
        {
            FormatError.Throw(what, -1, $"target length {inode.Size} is not 1..{MaxLength}.");
        }

        int length = (int)inode.Size;
        if (inode.Format == XfsForkFormat.Local)
        {
            if (length > inode.DataFork.Length)
            {
                FormatError.Throw(what, -1, $"a {length}-byte local target does not fit in the fork.");
            }

            return Decode(inode.DataFork[..length], what);
        }

        XfsSuperBlock sb = volume.SuperBlock;
        XfsExtent[] extents = XfsBlockMap.Read(volume, inode, attributeFork: false);
        byte[] target = new byte[length];
        int done = 0;
        ulong fileBlock = 0;
        while (done < length)
        {
            int index = XfsBlockMap.Find(extents, fileBlock);
            if (index < 0)
            {
                FormatError.Throw(what, -1, $"block {fileBlock} of the target is not mapped.");
            }

            // Version 5 keeps one header per contiguous extent (the kernel reads each mapping as one buffer).
            XfsExtent e = extents[index];
            ulong inExtent = fileBlock - e.FileBlock;
            int blocks = (int)Math.Min(e.Length - inExtent, (ulong)((MaxLength + sb.BlockSize - 1) / sb.BlockSize) + 1);
            if (!sb.HasCrc)
            {
                blocks = 1;
            }

            byte[] buffer = new byte[blocks * sb.BlockSize];
            volume.ReadBlocks(e.FsBlock + inExtent, buffer, what);
            int start = sb.HasCrc ? Header : 0;
            int n = Math.Min(buffer.Length - start, length - done);
            if (sb.HasCrc)
            {
                ReadOnlySpan<byte> s = buffer;
                if (BinaryPrimitives.ReadUInt32BigEndian(s) != Magic || BinaryPrimitives.ReadUInt32BigEndian(s[4..]) != (uint)done ||
                    BinaryPrimitives.ReadUInt32BigEndian(s[8..]) != (uint)n || BinaryPrimitives.ReadUInt64BigEndian(s[32..]) != inode.Number)
                {
                    FormatError.Throw(what, -1, $"remote block {fileBlock} has a bad header.");
                }

                if (volume.VerifyChecksums && !XfsChecksum.IsValid(s, CrcOffset))
                {
                    FormatError.Throw(what, -1, $"remote block {fileBlock}: checksum mismatch.");
                }
            }

            buffer.AsSpan(start, n).CopyTo(target.AsSpan(done));
            done += n;
            fileBlock += (ulong)blocks;
        }

        return Decode(target, what);
    }

    private static string Decode(ReadOnlySpan<byte> target, string what)
    {
        if (target.IndexOf((byte)0) >= 0)
        {
            FormatError.Throw(what, -1, "the target contains a NUL byte.");
        }

        return UnixPathEncoding.GetString(target);
    }
}
