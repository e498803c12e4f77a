using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Writes one laid-out <see cref="XfsBuildItem"/>: its inode (core, data fork, attribute fork, CRC), its directory,
/// attribute, remote-symlink and bmbt blocks (stamped with uuid, owner, disk address and CRC) and its file content.
/// </summary>
internal sealed class XfsForkWriter(XfsGeometry g, BlockDevice device, byte[] uuid, IFileSystem? source, CancellationToken cancellationToken)
{
    private byte[]? _copyBuffer;

    /// <summary>The full <c>di_mode</c> of an entry: type bits and permissions (the one place modes are converted).</summary>
    public static ushort DiskMode(UnixFileInfo info)
    {
        int type = info.Type switch
        {
            UnixFileType.RegularFile => 0x8000,
            UnixFileType.Directory => 0x4000,
            UnixFileType.SymbolicLink => 0xA000,
            UnixFileType.CharacterDevice => 0x2000,
            UnixFileType.BlockDevice => 0x6000,
            UnixFileType.Fifo => 0x1000,
            UnixFileType.Socket => 0xC000,
            _ => throw new NotSupportedException($"'{info.Path}': unsupported file type {info.Type}."),
        };
        return (ushort)(type | ((int)info.Mode & 0xFFF));
    }

    /// <summary>Writes <paramref name="item"/>'s inode into <paramref name="inode"/> and everything it owns to the device.</summary>
    public void Write(XfsBuildItem item, Span<byte> inode)
    {
        UnixFileInfo info = item.Info;
        int lit = g.LiteralSize;
        int dataSpace = item.ForkOffset > 0 ? item.ForkOffset * 8 : lit;
        long nblocks = (item.BmbtBlocks?.Count ?? 0) + Sum(item.DataExtents) + Sum(item.AttrExtents);
        bool device = info.Type is UnixFileType.CharacterDevice or UnixFileType.BlockDevice or UnixFileType.Fifo or UnixFileType.Socket;
        byte dataFormat = device ? XfsNewInode.FormatDevice : item.LocalData is not null ? XfsNewInode.FormatLocal :
            item.BmbtBlocks is not null ? XfsNewInode.FormatBtree : XfsNewInode.FormatExtents;
        var core = new XfsNewInode
        {
            Mode = DiskMode(info),
            UserId = info.UserId,
            GroupId = info.GroupId,
            LinkCount = (uint)(info.Type == UnixFileType.Directory ? 2 + item.Subdirectories : item.Links),
            AccessTime = info.AccessTime,
            ModificationTime = info.ModificationTime,
            ChangeTime = info.ChangeTime,
            CreationTime = info.CreationTime ?? info.ChangeTime,
            Size = item.Size,
            BlockCount = nblocks,
            DataExtents = item.LocalData is not null || device ? 0 : item.DataExtents.Count,
            AttrExtents = item.AttrExtents.Count,
            ForkOffset = item.ForkOffset,
            DataFormat = dataFormat,
            AttrFormat = item.LocalAttributes is not null ? XfsNewInode.FormatLocal : XfsNewInode.FormatExtents,
        };
        core.WriteTo(inode, g, uuid, item.Inode);
        Span<byte> dataFork = inode.Slice(XfsGeometry.InodeCoreSize, dataSpace);
        dataFork.Clear();
        if (device)
        {
            if (info.Type is UnixFileType.CharacterDevice or UnixFileType.BlockDevice)
            {
                BinaryPrimitives.WriteUInt32BigEndian(dataFork, ((uint)info.DeviceMajor << 18) | ((uint)info.DeviceMinor & 0x3FFFF));
            }
        }
        else if (item.LocalData is not null)
        {
            item.LocalData.CopyTo(dataFork);
        }
        else if (item.BmbtBlocks is not null)
        {
            XfsBmbtWriter.Write(g, uuid, item.Inode, item.DataExtents, item.BmbtBlocks, dataFork, DiskAddress, WriteFsBlock);
        }
        else
        {
            WriteExtents(dataFork, item.DataExtents);
        }

        if (item.ForkOffset > 0)
        {
            Span<byte> attrFork = inode[(XfsGeometry.InodeCoreSize + dataSpace)..];
            attrFork.Clear();
            if (item.LocalAttributes is not null)
            {
                item.LocalAttributes.CopyTo(attrFork);
            }
            else
            {
                WriteExtents(attrFork, item.AttrExtents);
            }
        }

        XfsChecksum.Update(inode, 100);
        if (item.DataBlocks is not null)
        {
            WriteBlocks(item.DataBlocks, item.DataExtents, item.Inode);
        }

        if (item.AttrBlocks is not null)
        {
            WriteBlocks(item.AttrBlocks, item.AttrExtents, item.Inode);
        }

        if (info.Type == UnixFileType.RegularFile && item.DataExtents.Count > 0 && source is not null)
        {
            CopyData(item);
        }
    }

    private static long Sum(List<XfsExtentToWrite> extents)
    {
        long n = 0;
        foreach (XfsExtentToWrite e in extents)
        {
            n += e.Count;
        }

        return n;
    }

    private static void WriteExtents(Span<byte> fork, List<XfsExtentToWrite> extents)
    {
        for (int i = 0; i < extents.Count; i++)
        {
            extents[i].WriteTo(fork.Slice(i * 16, 16));
        }
    }

    private long ByteOffset(ulong fsBlock) => g.ByteOffset((int)(fsBlock >> g.AgBlockLog), (long)(fsBlock & ((1UL << g.AgBlockLog) - 1)));

    private ulong DiskAddress(ulong fsBlock) => (ulong)ByteOffset(fsBlock) >> 9;

    private void WriteFsBlock(ulong fsBlock, byte[] data) => device.Write(ByteOffset(fsBlock), data);

    private static ulong Map(List<XfsExtentToWrite> extents, long logical)
    {
        foreach (XfsExtentToWrite e in extents)
        {
            if (logical >= e.Logical && logical < e.Logical + e.Count)
            {
                return e.FsBlock + (ulong)(logical - e.Logical);
            }
        }

        throw new InvalidOperationException($"Logical block {logical} is not mapped.");
    }

    private void WriteBlocks(List<XfsMetadataBlock> blocks, List<XfsExtentToWrite> extents, ulong owner)
    {
        int bs = g.BlockSize;
        foreach (XfsMetadataBlock b in blocks)
        {
            ulong first = Map(extents, b.LogicalBlock);
            ulong daddr = DiskAddress(first);
            switch (b.Kind)
            {
                case XfsHeaderKind.Directory:
                    XfsMetadataStamp.DirectoryBlock(b.Data, daddr, uuid, owner);
                    break;
                case XfsHeaderKind.DaTree:
                    XfsMetadataStamp.DaBlock(b.Data, daddr, uuid, owner);
                    break;
                default:
                    XfsMetadataStamp.RemoteBlock(b.Data, daddr, uuid, owner);
                    break;
            }

            for (int i = 0; i < b.Data.Length / bs; i++)
            {
                ulong fsb = i == 0 ? first : Map(extents, b.LogicalBlock + i);
                device.Write(ByteOffset(fsb), b.Data.AsSpan(i * bs, bs));
            }
        }
    }

    private void CopyData(XfsBuildItem item)
    {
        int bs = g.BlockSize;
        long size = item.Info.Size;
        _copyBuffer ??= new byte[XfsBuilder.CopyBuffer];
        byte[] buffer = _copyBuffer;
        using Stream s = source!.OpenFile(item.Path, FileMode.Open, FileAccess.Read);
        foreach (XfsExtentToWrite e in item.DataExtents)
        {
            long pos = e.Logical * bs;
            long end = Math.Min(pos + ((long)e.Count * bs), size);
            long dest = ByteOffset(e.FsBlock);
            if (s.Position != pos)
            {
                s.Position = pos;
            }

            while (pos < end)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int want = (int)Math.Min(buffer.Length, end - pos);
                int got = 0;
                while (got < want)
                {
                    int r = s.Read(buffer, got, want - got);
                    if (r == 0)
                    {
                        break;
                    }

                    got += r;
                }

                // A source that shrank reads as zeros; the tail of the last block is zeroed too.
                int padded = Math.Min(buffer.Length, (want + bs - 1) / bs * bs);
                Array.Clear(buffer, got, padded - got);
                device.Write(dest, buffer.AsSpan(0, padded));
                dest += padded;
                pos += want;
            }
        }
    }
}
