using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using DiskImage.FileSystems.Host;
using DiskImage.IO;
using Microsoft.Win32.SafeHandles;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Writes a planned build: directory blocks, file data copied in large runs, extent trees, inodes with
/// their in-inode and block xattrs, through a buffering block writer.
/// </summary>
internal sealed class Ext4BuildWriter(Ext4Builder owner)
{
    private readonly Ext4Builder _builder = owner;

    private const int WriteBufferBytes = 4 << 20;

    /// <summary>Runs of at least this many blocks are copied by the kernel when source and image are host files.</summary>
    private const int DirectCopyMinBlocks = 256;

    private const long DirectCopyChunkBytes = 64L << 20;

    private BlockDevice? _device;

    private static void RenderDirectory(Ext4Builder.Item dir, Span<byte> blocks, int bs, Ext4Formatter engine)
    {
        blocks.Clear();
        int usable = bs - (engine.MetadataChecksum ? 12 : 0);
        int block = 0;
        int off = 0;
        int last = -1;
        void Add(Span<byte> all, uint ino, ReadOnlySpan<byte> name, byte type)
        {
            int rec = Ext4BuildLayout.DirectoryRecordLength(name.Length);
            if (off + rec > usable)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(all[((block * bs) + last + 4)..], (ushort)(usable - last));
                block++;
                off = 0;
            }

            Span<byte> e = all[((block * bs) + off)..];
            BinaryPrimitives.WriteUInt32LittleEndian(e, ino);
            BinaryPrimitives.WriteUInt16LittleEndian(e[4..], (ushort)rec);
            e[6] = (byte)name.Length;
            e[7] = type;
            name.CopyTo(e[8..]);
            last = off;
            off += rec;
        }

        Add(blocks, dir.Ino, "."u8, 2);
        Add(blocks, dir.Parent, ".."u8, 2);
        foreach (Ext4Builder.Child c in dir.Children!)
        {
            Add(blocks, c.Item.Ino, c.Name, Ext4DirectoryLeaf.DirectoryEntryType(c.Item.Info.Type));
        }

        BinaryPrimitives.WriteUInt16LittleEndian(blocks[((block * bs) + last + 4)..], (ushort)(usable - last));
        int count = blocks.Length / bs;
        for (int b = 0; b < count; b++)
        {
            engine.Inodes.SealDirBlock(dir.Ino, blocks.Slice(b * bs, bs));
        }
    }

    internal void Write(Ext4Formatter engine, BlockDevice device, Ext4BuildLayout.Placement[] plan)
    {
        int bs = engine.BlockSize;
        _device = device;
        engine.BeginWriting();
        using var writer = new BlockWriter(device, bs, WriteBufferBytes);
        byte[] raw = new byte[engine.InodeSize];
        byte[] block = new byte[bs];
        for (int i = 0; i < _builder._items.Count; i++)
        {
            _builder._cancellationToken.ThrowIfCancellationRequested();
            Ext4Builder.Item item = _builder._items[i];
            Ext4BuildLayout.Placement p = plan[i];
            switch (item.Info.Type)
            {
                case UnixFileType.Directory:
                    if (item.Synthetic)
                    {
                        writer.Flush();
                        engine.WriteEmptyLostAndFound(p.Runs, Ext4Builder.RootInode);
                    }
                    else
                    {
                        byte[] dirBuf = ArrayPool<byte>.Shared.Rent(p.DirectoryBlocks * bs);
                        try
                        {
                            Span<byte> all = dirBuf.AsSpan(0, p.DirectoryBlocks * bs);
                            RenderDirectory(item, all, bs, engine);
                            EmitRuns(writer, p.Runs, all, bs);
                        }
                        finally
                        {
                            ArrayPool<byte>.Shared.Return(dirBuf);
                        }
                    }

                    break;
                case UnixFileType.RegularFile:
                    CopyFile(item, p, writer, bs);
                    break;
                case UnixFileType.SymbolicLink when p.Runs.Count == 1:
                    Array.Clear(block);
                    item.Target.CopyTo(block, 0);
                    writer.Reserve(p.Runs[0].Start, 1).CopyFrom(block);
                    break;
            }

            Array.Clear(raw);
            WriteExtentTree(engine, item, p, raw, writer, block);
            if (p.XattrBlock is { } sx)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(0x68), (uint)sx.Block);
                BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(0x76), (ushort)(sx.Block >> 32));
                if (!sx.Written)
                {
                    sx.Written = true;
                    Span<byte> b = writer.Reserve(sx.Block, 1);
                    sx.Content.CopyTo(b);
                    BinaryPrimitives.WriteUInt32LittleEndian(b[4..], (uint)sx.References);
                    if (engine.MetadataChecksum)
                    {
                        Ext4XattrLayout.SetBlockChecksum(b, sx.Block, engine.ChecksumSeed);
                    }
                }
            }

            FillInode(engine, item, p, raw);
            engine.StoreInode(item.Ino, raw);
        }

        writer.Flush();
        engine.Metadata.Finish();
    }

    private static void EmitRuns(BlockWriter writer, List<(long Start, long Count)> runs, ReadOnlySpan<byte> data, int bs)
    {
        int off = 0;
        foreach ((long start, long count) in runs)
        {
            long done = 0;
            while (done < count)
            {
                int n = (int)Math.Min(count - done, writer.MaxBlocks);
                data.Slice(off, n * bs).CopyTo(writer.Reserve(start + done, n));
                off += n * bs;
                done += n;
            }
        }
    }

    private void CopyFile(Ext4Builder.Item item, Ext4BuildLayout.Placement p, BlockWriter writer, int bs)
    {
        if (p.Runs.Count == 0)
        {
            return;
        }

        long size = item.Info.Size;

        // A host tree's file (its path just listed by the scan) is opened directly and read with positional reads:
        // no per-component path resolution, no FileStream and its seeks.
        SafeFileHandle? handle = _builder._source is HostDirectoryFileSystem host && OperatingSystem.IsLinux() ? host.OpenListedFile(item.Path) : null;
        using Stream? s = handle is null ? _builder._source.OpenFile(item.Path, FileMode.Open, FileAccess.Read) : null;
        long streamPosition = 0;
        using (handle)
        {
            for (int r = 0; r < p.Runs.Count; r++)
            {
                (long start, long count) = p.Runs[r];
                long position = p.Logical[r] * bs;
                long done = 0;

                // Large runs of a host file go into a raw image file inside the kernel (copy_file_range: one copy, no
                // user-space buffer), whole blocks up to the file's last one; the last, partial block (whose tail must
                // read as zeros) and anything left when the kernel refuses go through the buffer.
                if (handle is not null && _device is FileBlockDevice file && count >= DirectCopyMinBlocks)
                {
                    long whole = Math.Min(count, (size - position) / bs);
                    while (done < whole)
                    {
                        _builder._cancellationToken.ThrowIfCancellationRequested();
                        long chunk = Math.Min(whole - done, DirectCopyChunkBytes / bs) * bs;
                        long copied = file.CopyFromFile(handle, position, (start + done) * bs, chunk);
                        if (copied <= 0)
                        {
                            break;
                        }

                        // A short copy ending inside a block: the buffer path rewrites that block whole.
                        long blocks = copied / bs;
                        done += blocks;
                        position += blocks * bs;
                        if (blocks * bs != copied)
                        {
                            break;
                        }
                    }
                }

                while (done < count)
                {
                    _builder._cancellationToken.ThrowIfCancellationRequested();
                    int n = (int)Math.Min(count - done, writer.MaxBlocks);
                    Span<byte> span = writer.Reserve(start + done, n);
                    int want = (int)Math.Clamp(size - position, 0, span.Length);
                    int got = want == 0 ? 0 : handle is not null ? ReadAt(handle, span[..want], position) : ReadAt(s!, span[..want], position, ref streamPosition);

                    // A file that shrank since the scan reads as zeros up to its scanned size.
                    span[got..].Clear();
                    position += want;
                    done += n;
                }
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

    /// <summary>Reads at <paramref name="offset"/>, seeking only when the stream is elsewhere (<paramref name="streamPosition"/> tracks it).</summary>
    private static int ReadAt(Stream stream, Span<byte> buffer, long offset, ref long streamPosition)
    {
        if (streamPosition != offset)
        {
            stream.Seek(offset, SeekOrigin.Begin);
            streamPosition = offset;
        }

        int got = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        streamPosition += got;
        return got;
    }

    /// <summary>Sets <c>i_block</c> (extent root, fast symlink or device) and writes the extent-tree blocks.</summary>
    private static void WriteExtentTree(Ext4Formatter engine, Ext4Builder.Item item, Ext4BuildLayout.Placement p, byte[] raw, BlockWriter writer, byte[] block)
    {
        Span<byte> iblock = raw.AsSpan(0x28, 60);
        switch (item.Info.Type)
        {
            case UnixFileType.SymbolicLink when p.Runs.Count == 0:
                item.Target.CopyTo(iblock);
                return;
            case UnixFileType.CharacterDevice or UnixFileType.BlockDevice:
                uint major = (uint)item.Info.DeviceMajor;
                uint minor = (uint)item.Info.DeviceMinor;
                if (major < 256 && minor < 256)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(iblock, (major << 8) | minor);
                }
                else
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(iblock[4..], (minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & ~0xFFu) << 12));
                }

                return;
            case UnixFileType.Fifo or UnixFileType.Socket:
                return;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(0x20), Ext4Inode.ExtentsFlag);
        int bs = engine.BlockSize;
        int perBlock = (bs - 12) / 12;

        // Level 0 entries are the extents; each level above indexes the one below until four remain for the inode.
        var level = new List<(uint Logical, long Start, long Count)>(p.Runs.Count);
        for (int r = 0; r < p.Runs.Count; r++)
        {
            level.Add(((uint)p.Logical[r], p.Runs[r].Start, p.Runs[r].Count));
        }

        int depth = 0;
        int treeIndex = 0;
        while (level.Count > 4)
        {
            var upper = new List<(uint Logical, long Start, long Count)>((level.Count + perBlock - 1) / perBlock);
            for (int first = 0; first < level.Count; first += perBlock)
            {
                int n = Math.Min(perBlock, level.Count - first);
                long node = p.TreeBlocks[treeIndex++];
                Array.Clear(block);
                WriteNode(block, level, first, n, perBlock, depth);
                engine.Inodes.SealExtentBlock(item.Ino, block);
                writer.Reserve(node, 1).CopyFrom(block);
                upper.Add((level[first].Logical, node, 0));
            }

            level = upper;
            depth++;
        }

        WriteNode(iblock, level, 0, level.Count, 4, depth);
    }

    private static void WriteNode(Span<byte> node, List<(uint Logical, long Start, long Count)> entries, int first, int count, int max, int depth)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(node, 0xF30A);
        BinaryPrimitives.WriteUInt16LittleEndian(node[2..], (ushort)count);
        BinaryPrimitives.WriteUInt16LittleEndian(node[4..], (ushort)max);
        BinaryPrimitives.WriteUInt16LittleEndian(node[6..], (ushort)depth);
        for (int i = 0; i < count; i++)
        {
            (uint logical, long start, long length) = entries[first + i];
            Span<byte> e = node[(12 + (i * 12))..];
            BinaryPrimitives.WriteUInt32LittleEndian(e, logical);
            if (depth == 0)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(e[4..], (ushort)length);
                BinaryPrimitives.WriteUInt16LittleEndian(e[6..], (ushort)(start >> 32));
                BinaryPrimitives.WriteUInt32LittleEndian(e[8..], (uint)start);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(e[4..], (uint)start);
                BinaryPrimitives.WriteUInt16LittleEndian(e[8..], (ushort)(start >> 32));
            }
        }
    }

    private static void FillInode(Ext4Formatter engine, Ext4Builder.Item item, Ext4BuildLayout.Placement p, byte[] raw)
    {
        UnixFileInfo info = item.Info;
        int bs = engine.BlockSize;
        long size;
        ushort links;
        switch (info.Type)
        {
            case UnixFileType.Directory:
                size = (long)p.DirectoryBlocks * bs;
                links = item.Subdirectories + 2 >= 65000 ? (ushort)1 : (ushort)(item.Subdirectories + 2);
                break;
            case UnixFileType.RegularFile:
                size = info.Size;
                links = (ushort)Math.Min(item.Links, 65000);
                break;
            case UnixFileType.SymbolicLink:
                size = item.Target!.Length;
                links = (ushort)Math.Min(item.Links, 65000);
                break;
            default:
                size = 0;
                links = (ushort)Math.Min(item.Links, 65000);
                break;
        }

        if (item.Links > 65000)
        {
            throw new NotSupportedException($"'{item.Path}' has {item.Links} hard links; ext4 allows 65000.");
        }

        ushort mode = (ushort)((int)info.Type | ((int)info.Mode & 0xFFF));
        if (item.Synthetic)
        {
            var t = new UnixTime(engine.Seconds, 0);
            engine.Inodes.InitInode(raw, mode, 0, 0, links, size, t, t, t, t);
        }
        else
        {
            engine.Inodes.InitInode(raw, mode, info.UserId, info.GroupId, links, size, info.AccessTime, info.ChangeTime, info.ModificationTime, info.CreationTime ?? info.ChangeTime);
        }
        long blocks = p.TreeBlocks.Length + (p.XattrBlock is null ? 0 : 1);
        foreach ((long _, long c) in p.Runs)
        {
            blocks += c;
        }

        engine.Inodes.SetBlockCount(raw, blocks);
        if (item.Xattrs is { } x && engine.HasExtra)
        {
            x.WriteInodeArea(raw.AsSpan(0x80 + Ext4Builder.InodeExtraSize));
        }
    }

    /// <summary>
    /// Converts the source's xattrs to their on-disk entries in block order. A name ext4 cannot store gives
    /// <see cref="NotSupportedException"/>; a POSIX ACL value that is not a valid ACL gives <see cref="ArgumentException"/>.
    /// </summary>
    internal static XattrSet? PrepareXattrs(IReadOnlyDictionary<string, byte[]> xattrs, string path)
    {
        if (xattrs.Count == 0)
        {
            return null;
        }

        var list = new List<Ext4XattrEntry>(xattrs.Count);
        foreach ((string name, byte[] value) in xattrs)
        {
            byte index;
            byte[] suffix;
            try
            {
                (index, suffix) = Ext4XattrLayout.ParseName(name);
            }
            catch (ArgumentException e)
            {
                throw new NotSupportedException($"'{path}': ext4 cannot store the xattr '{name}': {e.Message}", e);
            }

            byte[] stored = value;
            if (index is Ext4XattrLayout.PosixAclAccessIndex or Ext4XattrLayout.PosixAclDefaultIndex)
            {
                try
                {
                    stored = Ext4PosixAcl.ToDisk(value);
                }
                catch (ArgumentException e)
                {
                    throw new ArgumentException($"'{path}': the xattr '{name}' of the source: {e.Message}", "source", e);
                }
            }

            list.Add(new Ext4XattrEntry(index, suffix, stored));
        }

        list.Sort(Ext4XattrLayout.CompareBlockOrder);
        return new XattrSet(list);
    }

    /// <summary>An inode's xattrs, split between the in-inode area and one block (as the kernel does: in-inode first).</summary>
    internal sealed class XattrSet(List<Ext4XattrEntry> entries)
    {
        private List<Ext4XattrEntry>? _inInode;
        private List<Ext4XattrEntry>? _inBlock;
        private int _inodeSize;

        private void Split(int inodeSize)
        {
            if (_inInode is not null && _inodeSize == inodeSize)
            {
                return;
            }

            _inodeSize = inodeSize;
            _inInode = [];
            _inBlock = [];
            int space = Ext4XattrLayout.InodeCapacity(inodeSize, Ext4Builder.InodeExtraSize);
            int used = 4; // end marker
            foreach (Ext4XattrEntry e in entries)
            {
                if (used + e.Footprint <= space)
                {
                    _inInode.Add(e);
                    used += e.Footprint;
                }
                else
                {
                    _inBlock.Add(e);
                }
            }
        }

        /// <summary>The xattr block (refcount and checksum zero), or null when everything fits in the inode.</summary>
        public byte[]? BlockContent(int bs, int inodeSize, string path)
        {
            Split(inodeSize);
            if (_inBlock!.Count == 0)
            {
                return null;
            }

            int need = Ext4XattrLayout.BlockHeaderSize + Ext4XattrLayout.Required(_inBlock);
            if (need > Ext4XattrLayout.BlockHeaderSize + Ext4XattrLayout.BlockCapacity(bs))
            {
                throw new NotSupportedException($"'{path}': its extended attributes need {need} bytes, more than one {bs}-byte block (ea_inode is not supported).");
            }

            byte[] b = new byte[bs];
            Ext4XattrLayout.WriteBlock(b, _inBlock, 0);
            return b;
        }

        /// <summary>Writes the in-inode area (magic, entries, values from its end); <paramref name="tail"/> starts at <c>0x80 + i_extra_isize</c>.</summary>
        public void WriteInodeArea(Span<byte> tail)
        {
            if (_inInode is { Count: > 0 })
            {
                Ext4XattrLayout.WriteInodeArea(tail, _inInode);
            }
        }
    }

    /// <summary>Coalesces writes of consecutive blocks into large positional writes.</summary>
    private sealed class BlockWriter : IDisposable
    {
        private readonly BlockDevice _device;
        private readonly int _bs;
        private readonly byte[] _buffer;
        private long _start;
        private int _count;

        public BlockWriter(BlockDevice device, int bs, int bytes)
        {
            _device = device;
            _bs = bs;
            _buffer = ArrayPool<byte>.Shared.Rent(bytes);
            MaxBlocks = bytes / bs;
        }

        public int MaxBlocks { get; }

        /// <summary>The buffer for blocks <paramref name="block"/>..+<paramref name="count"/> (contents undefined; the caller fills all of it).</summary>
        public Span<byte> Reserve(long block, int count)
        {
            if (_count > 0 && (block != _start + _count || _count + count > MaxBlocks))
            {
                Flush();
            }

            if (_count == 0)
            {
                _start = block;
            }

            Span<byte> span = _buffer.AsSpan(_count * _bs, count * _bs);
            _count += count;
            return span;
        }

        public void Flush()
        {
            if (_count == 0)
            {
                return;
            }

            _device.Write(_start * _bs, _buffer.AsSpan(0, _count * _bs));
            _count = 0;
        }

        public void Dispose() => ArrayPool<byte>.Shared.Return(_buffer);
    }
}
