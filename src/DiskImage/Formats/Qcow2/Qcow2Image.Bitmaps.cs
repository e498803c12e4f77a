using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>
/// Persistent dirty bitmaps (qcow2 spec, "Bitmaps extension"), kept valid the way QEMU keeps them:
/// before the first change every bitmap is loaded and marked in use on disk; writes set the bits of
/// the enabled (auto) bitmaps; on dispose each bitmap is written to new clusters, a new directory
/// is written, the header extension switches to it, and only then are the old table, data and
/// directory clusters freed (so a crash leaks at worst, and leaves the bitmaps marked in use, which
/// QEMU treats as inconsistent). Bitmaps that were already in use are inconsistent and kept as stored.
/// </content>
public sealed partial class Qcow2Image
{
    private List<Qcow2BitmapDirectoryEntry>? _bitmapDirectory;  // null: no (valid) bitmaps extension
    private bool _bitmapsInUse;                                  // loaded and marked in use on disk

    /// <summary>The persistent dirty bitmaps, as <c>qemu-img info</c> lists them (empty when there are none).</summary>
    public IReadOnlyList<Qcow2Bitmap> Bitmaps
    {
        get
        {
            ThrowIfDisposed();
            List<Qcow2BitmapDirectoryEntry>? directory = _bitmapDirectory;
            if (directory is null)
            {
                return [];
            }

            var list = new List<Qcow2Bitmap>(directory.Count);
            foreach (Qcow2BitmapDirectoryEntry e in directory)
            {
                list.Add(new Qcow2Bitmap(e.NameText, e.Granularity, e.Flags));
            }

            return list.AsReadOnly();
        }
    }

    /// <summary>Host byte offset of the bitmaps extension's data in the header cluster.</summary>
    private long BitmapExtensionDataOffset()
    {
        long pos = _header.HeaderLength;
        foreach (Qcow2HeaderExtension e in _header.Extensions)
        {
            if (e.Type == Qcow2HeaderExtension.Bitmaps)
            {
                return pos + 8;
            }

            pos += e.DiskSize;
        }

        return FormatError.Throw<long>("qcow2 header", -1, "the bitmaps extension is missing.");
    }

    /// <summary>Before the first change (under the write lock): load every consistent bitmap and mark all of them in use on disk.</summary>
    private void LoadBitmapsForWrite()
    {
        List<Qcow2BitmapDirectoryEntry>? directory = _bitmapDirectory;
        if (directory is null || _bitmapsInUse)
        {
            return;
        }

        (ulong dirOffset, ulong dirSize, _) = BitmapExtension();
        foreach (Qcow2BitmapDirectoryEntry e in directory)
        {
            if ((e.Flags & Qcow2BitmapFlags.InUse) != 0)
            {
                e.Inconsistent = true;
                continue;
            }

            e.Bits = ReadBitmapBits(e, out long bitCount);
            e.BitCount = bitCount;
        }

        // Mark them in use in place (the directory keeps its size), as QEMU does on a read/write open.
        byte[] raw = new byte[(int)dirSize];
        int pos = 0;
        foreach (Qcow2BitmapDirectoryEntry e in directory)
        {
            e.Flags |= Qcow2BitmapFlags.InUse;
            e.WriteTo(raw.AsSpan(pos), e.TableOffset, e.TableSize, e.Flags);
            pos += e.DiskSize;
        }

        _host.Write((long)dirOffset, raw);
        _host.Flush();
        _bitmapsInUse = true;
    }

    /// <summary>Reads the stored bits of <paramref name="e"/> for the current disk size (bits past the end clear).</summary>
    private byte[] ReadBitmapBits(Qcow2BitmapDirectoryEntry e, out long bitCount)
    {
        bitCount = Qcow2BitmapDirectoryEntry.BitsFor((long)_header.Size, e.GranularityBits);
        byte[] bits = new byte[(bitCount + 7) / 8];
        byte[] cluster = new byte[_clusterSize];
        ulong[] table = ReadBitmapTable(e);
        for (long i = 0; i < (long)table.Length; i++)
        {
            long start = i * _clusterSize;
            if (start >= bits.Length)
            {
                break;
            }

            int n = (int)Math.Min(_clusterSize, bits.Length - start);
            ulong entry = table[i];
            long host = (long)(entry & Qcow2BitmapDirectoryEntry.TableEntryOffsetMask);
            if (host == 0)
            {
                if ((entry & 1) != 0)
                {
                    bits.AsSpan((int)start, n).Fill(0xff);
                }

                continue;
            }

            _host.ReadExactly(host, cluster.AsSpan(0, n));
            cluster.AsSpan(0, n).CopyTo(bits.AsSpan((int)start, n));
        }

        if ((bitCount & 7) != 0 && bits.Length > 0)
        {
            bits[^1] &= (byte)(0xff >> (8 - (int)(bitCount & 7)));
        }

        return bits;
    }

    /// <summary>The bitmaps extension's directory offset, size and bitmap count.</summary>
    private (ulong Offset, ulong Size, uint Count) BitmapExtension()
    {
        byte[] d = _header.FindExtension(Qcow2HeaderExtension.Bitmaps)!.Data;
        return (BinaryPrimitives.ReadUInt64BigEndian(d.AsSpan(16)), BinaryPrimitives.ReadUInt64BigEndian(d.AsSpan(8)), BinaryPrimitives.ReadUInt32BigEndian(d));
    }

    private ulong[] ReadBitmapTable(Qcow2BitmapDirectoryEntry e)
    {
        const string S = "qcow2 bitmap table";
        ulong[] table = Qcow2TableReader.ReadTable(_host, (long)e.TableOffset, (int)e.TableSize);
        long fileLength = _host.Length;
        foreach (ulong entry in table)
        {
            ulong host = entry & Qcow2BitmapDirectoryEntry.TableEntryOffsetMask;
            if ((entry & Qcow2BitmapDirectoryEntry.TableEntryReservedMask) != 0 || (host != 0 && (entry & 1) != 0) ||
                (host & (ulong)(_clusterSize - 1)) != 0 || host + (ulong)_clusterSize > (ulong)fileLength)
            {
                FormatError.Throw(S, (long)e.TableOffset, $"invalid entry 0x{entry:x16} in the table of bitmap '{e.NameText}'.");
            }
        }

        return table;
    }

    /// <summary>Sets the bits of every enabled bitmap for guest bytes [<paramref name="offset"/>, +<paramref name="length"/>).</summary>
    private void MarkBitmapsDirty(long offset, long length)
    {
        if (!_bitmapsInUse)
        {
            return;
        }

        foreach (Qcow2BitmapDirectoryEntry e in _bitmapDirectory!)
        {
            if ((e.Flags & Qcow2BitmapFlags.Auto) != 0)
            {
                e.MarkDirty(offset, length);
            }
        }
    }

    /// <summary>Before a resize: QEMU refuses it while a bitmap is inconsistent; the loaded ones follow the new size.</summary>
    private void ResizeBitmaps(long newVirtualSize, bool check)
    {
        if (!_bitmapsInUse)
        {
            return;
        }

        foreach (Qcow2BitmapDirectoryEntry e in _bitmapDirectory!)
        {
            if (check && e.Inconsistent)
            {
                throw new InvalidOperationException($"Bitmap '{e.NameText}' is inconsistent and cannot be used; the image cannot be resized.");
            }

            if (!check)
            {
                e.Resize(newVirtualSize);
            }
        }
    }

    /// <summary>
    /// Writes every loaded bitmap to new clusters and a new directory, switches the header extension
    /// to it, then frees the old clusters; the stored bitmaps are no longer in use. Under the write lock.
    /// </summary>
    private void StoreBitmaps()
    {
        List<Qcow2BitmapDirectoryEntry>? directory = _bitmapDirectory;
        if (directory is null || !_bitmapsInUse)
        {
            return;
        }

        bool hadExtension = _header.FindExtension(Qcow2HeaderExtension.Bitmaps) is not null;
        (ulong oldDirOffset, ulong oldDirSize, _) = hadExtension ? BitmapExtension() : (0UL, 0UL, 0U);
        var freed = new List<long>();
        foreach (Qcow2BitmapDirectoryEntry e in _removedBitmaps)
        {
            FreeBitmapClusters(e, freed);
        }

        _removedBitmaps.Clear();
        var newTables = new (ulong Offset, uint Size)[directory.Count];
        byte[] cluster = new byte[_clusterSize];
        for (int i = 0; i < directory.Count; i++)
        {
            Qcow2BitmapDirectoryEntry e = directory[i];
            if (e.Inconsistent || e.Bits is null)
            {
                newTables[i] = (e.TableOffset, e.TableSize);
                continue;
            }

            // Old table and data clusters go once the header no longer points at them.
            FreeBitmapClusters(e, freed);

            byte[] bits = e.Bits;
            long tableSize = Math.Max(1, Qcow2BitmapDirectoryEntry.TableSizeFor(e.BitCount, _clusterSize));
            byte[] table = new byte[(int)(((tableSize * 8) + _clusterSize - 1) / _clusterSize * _clusterSize)];
            for (long t = 0; t < tableSize; t++)
            {
                long start = t * _clusterSize;
                int n = (int)Math.Clamp(bits.Length - start, 0, _clusterSize);
                ReadOnlySpan<byte> part = bits.AsSpan((int)Math.Min(start, bits.Length), n);
                if (!part.ContainsAnyExcept((byte)0))
                {
                    continue;
                }

                part.CopyTo(cluster);
                cluster.AsSpan(n).Clear();
                long host = _refcounts.AllocateClusters(1);
                HostWrite(host, cluster);
                BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan((int)(t * 8)), (ulong)host);
            }

            long tableHost = _refcounts.AllocateClusters(table.Length >> _clusterBits);
            HostWrite(tableHost, table);
            newTables[i] = ((ulong)tableHost, (uint)tableSize);
        }

        // The new directory.
        int dirSize = 0;
        foreach (Qcow2BitmapDirectoryEntry e in directory)
        {
            dirSize += e.DiskSize;
        }

        byte[] raw = new byte[(dirSize + _clusterSize - 1) / _clusterSize * _clusterSize];
        int pos = 0;
        for (int i = 0; i < directory.Count; i++)
        {
            Qcow2BitmapDirectoryEntry e = directory[i];
            Qcow2BitmapFlags flags = e.Inconsistent ? e.Flags : e.Flags & ~Qcow2BitmapFlags.InUse;
            e.WriteTo(raw.AsSpan(pos), newTables[i].Offset, newTables[i].Size, flags);
            pos += e.DiskSize;
        }

        if (directory.Count == 0)
        {
            // The last bitmap went: the extension and the autoclear bit go with it, as QEMU does.
            _header.Extensions.RemoveAll(x => x.Type == Qcow2HeaderExtension.Bitmaps);
            _header.AutoclearFeatures &= ~Qcow2AutoclearFeatures.Bitmaps;
            RewriteHeaderArea();
        }
        else
        {
            long dirHost = _refcounts.AllocateClusters(raw.Length >> _clusterBits);
            HostWrite(dirHost, raw);
            _host.Flush();

            byte[] ext = new byte[24];
            BinaryPrimitives.WriteUInt32BigEndian(ext, (uint)directory.Count);
            BinaryPrimitives.WriteUInt64BigEndian(ext.AsSpan(8), (ulong)dirSize);
            BinaryPrimitives.WriteUInt64BigEndian(ext.AsSpan(16), (ulong)dirHost);
            if (hadExtension)
            {
                // Switch: one write of the extension's 24 bytes.
                _host.Write(BitmapExtensionDataOffset(), ext);
                int index = _header.Extensions.FindIndex(x => x.Type == Qcow2HeaderExtension.Bitmaps);
                _header.Extensions[index] = new Qcow2HeaderExtension(Qcow2HeaderExtension.Bitmaps, ext);
            }
            else
            {
                // The first bitmap: the extension goes after the ones QEMU writes before it.
                int at = 0;
                for (int i = 0; i < _header.Extensions.Count; i++)
                {
                    if (_header.Extensions[i].Type is Qcow2HeaderExtension.BackingFormat or Qcow2HeaderExtension.ExternalDataFile or
                        Qcow2HeaderExtension.FullDiskEncryption or Qcow2HeaderExtension.FeatureNameTable)
                    {
                        at = i + 1;
                    }
                }

                _header.Extensions.Insert(at, new Qcow2HeaderExtension(Qcow2HeaderExtension.Bitmaps, ext));
                _header.AutoclearFeatures |= Qcow2AutoclearFeatures.Bitmaps;
                RewriteHeaderArea();
            }

            _host.Flush();
        }

        if (oldDirSize != 0)
        {
            AddClusters(freed, (long)oldDirOffset, (long)oldDirSize);
        }
        foreach (long c in freed)
        {
            _refcounts.DecrementRefcount(c);
        }

        for (int i = 0; i < directory.Count; i++)
        {
            Qcow2BitmapDirectoryEntry e = directory[i];
            (e.TableOffset, e.TableSize) = newTables[i];
            if (!e.Inconsistent)
            {
                e.Flags &= ~Qcow2BitmapFlags.InUse;
                e.Bits = null;
            }
        }

        _bitmapsInUse = false;
    }

    /// <summary>Adds the table and data clusters of a stored bitmap to <paramref name="freed"/> (none for a new one; a table that cannot be read is left allocated).</summary>
    private void FreeBitmapClusters(Qcow2BitmapDirectoryEntry e, List<long> freed)
    {
        if (e.TableOffset == 0)
        {
            return;
        }

        ulong[] table;
        try
        {
            table = ReadBitmapTable(e);
        }
        catch (InvalidDataException)
        {
            return;
        }

        foreach (ulong entry in table)
        {
            long host = (long)(entry & Qcow2BitmapDirectoryEntry.TableEntryOffsetMask);
            if (host != 0)
            {
                freed.Add(host >> _clusterBits);
            }
        }

        AddClusters(freed, (long)e.TableOffset, (long)e.TableSize * 8);
    }

    /// <summary>Rewrites the header, its extensions and the backing file name in cluster 0 after an extension was added or removed; stale bytes of a longer old area are cleared.</summary>
    private void RewriteHeaderArea()
    {
        byte[] cluster0 = new byte[_clusterSize];
        int read = _host.Read(0, cluster0);
        cluster0.AsSpan(read).Clear();
        int oldEnd = (int)Math.Min(_clusterSize, Math.Max((long)_header.BackingFileOffset + _header.BackingFileSize, _header.HeaderLength));
        int end = _header.HeaderLength + _header.ExtensionAreaSize + (_header.BackingFileNameBytes?.Length ?? 0);
        if (end > _clusterSize)
        {
            throw new IOException("No space left on device: the header extensions do not fit in the first cluster.");
        }

        _header.WriteTo(cluster0);
        int writeEnd = Math.Max(end, oldEnd);
        cluster0.AsSpan(end, writeEnd - end).Clear();
        _host.Write(0, cluster0.AsSpan(0, writeEnd));
    }

    private void AddClusters(List<long> list, long offset, long bytes)
    {
        for (long c = offset >> _clusterBits; c <= (offset + bytes - 1) >> _clusterBits; c++)
        {
            list.Add(c);
        }
    }
}
