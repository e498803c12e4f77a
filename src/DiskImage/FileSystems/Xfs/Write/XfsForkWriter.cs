using System.Buffers.Binary;
using DiskImage.FileSystems.Host;
using DiskImage.IO;
using Microsoft.Win32.SafeHandles;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Writes one laid-out <see cref="XfsBuildItem"/>: its inode (core, data fork, attribute fork, CRC), its directory,
/// attribute, remote-symlink and bmbt blocks (stamped with uuid, owner, disk address and CRC) and its file content.
/// </summary>
/// <remarks>
/// Blocks go through one pooled gather buffer: consecutive writes to adjacent device bytes (the layout places the items'
/// blocks one after the other) become one positional write of up to <see cref="XfsBuilder.CopyBuffer"/> bytes, and file
/// content is read straight into it. <see cref="Finish"/> writes what is left.
/// </remarks>
internal sealed class XfsForkWriter(XfsGeometry g, BlockDevice device, byte[] uuid, IFileSystem? source, CancellationToken cancellationToken)
{
    private readonly HostDirectoryFileSystem? _host = OperatingSystem.IsLinux() ? source as HostDirectoryFileSystem : null;
    private byte[]? _gather;
    private long _gatherStart;
    private int _gatherLength;

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

        if (info.Type == UnixFileType.RegularFile && item.DataExtents.Count > 0 && source is not null && !item.DataInPlace)
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

    private void WriteFsBlock(ulong fsBlock, byte[] data) => Put(ByteOffset(fsBlock), data);

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
                Put(ByteOffset(fsb), b.Data.AsSpan(i * bs, bs));
            }
        }
    }

    /// <summary>Writes the gathered bytes and returns the buffer to the pool; call once after the last item.</summary>
    public void Finish()
    {
        FlushGather();
        if (_gather is not null)
        {
            XfsBuilder.Pool.Return(_gather);
            _gather = null;
        }
    }

    /// <summary>The gather buffer's free space at device offset <paramref name="dest"/>, after writing out what does not end there.</summary>
    private Span<byte> Reserve(long dest)
    {
        _gather ??= XfsBuilder.Pool.Rent(XfsBuilder.CopyBuffer);
        if (_gatherLength > 0 && (_gatherStart + _gatherLength != dest || _gatherLength == XfsBuilder.CopyBuffer))
        {
            FlushGather();
        }

        if (_gatherLength == 0)
        {
            _gatherStart = dest;
        }

        return _gather.AsSpan(_gatherLength, XfsBuilder.CopyBuffer - _gatherLength);
    }

    private void Put(long dest, ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            Span<byte> free = Reserve(dest);
            int n = Math.Min(free.Length, data.Length);
            data[..n].CopyTo(free);
            _gatherLength += n;
            dest += n;
            data = data[n..];
        }
    }

    private void FlushGather()
    {
        if (_gatherLength > 0)
        {
            device.Write(_gatherStart, _gather.AsSpan(0, _gatherLength));
            _gatherLength = 0;
        }
    }

    private void CopyData(XfsBuildItem item)
    {
        int bs = g.BlockSize;
        long size = item.Info.Size;
#pragma warning disable CA1416 // _host is only set on Linux.
        using SafeFileHandle? handle = _host?.OpenListedFile(item.Path);
#pragma warning restore CA1416
        using Stream? stream = handle is null ? source!.OpenFile(item.Path, FileMode.Open, FileAccess.Read) : null;
        foreach (XfsExtentToWrite e in item.DataExtents)
        {
            long pos = e.Logical * bs;
            long end = Math.Min(pos + ((long)e.Count * bs), size);
            long dest = ByteOffset(e.FsBlock);
            while (pos < end)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Span<byte> free = Reserve(dest);
                int want = (int)Math.Min(free.Length, end - pos);
                int got = handle is not null ? ReadAt(handle, free[..want], pos) : ReadAt(stream!, free[..want], pos);

                // A source that shrank reads as zeros; the tail of the last block is zeroed too. The buffer and every
                // reservation in it are whole blocks, so the padded length fits.
                int padded = Math.Min(free.Length, (want + bs - 1) / bs * bs);
                free[got..padded].Clear();
                _gatherLength += padded;
                dest += padded;
                pos += want;
            }
        }
    }

    private static int ReadAt(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        int got = 0;
        while (got < buffer.Length)
        {
            int r = RandomAccess.Read(handle, buffer[got..], offset + got);
            if (r == 0)
            {
                break;
            }

            got += r;
        }

        return got;
    }

    private static int ReadAt(Stream stream, Span<byte> buffer, long offset)
    {
        if (stream.Position != offset)
        {
            stream.Position = offset;
        }

        return stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
    }
}
