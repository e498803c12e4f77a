using System.Text;

namespace DiskImage.Formats.Qcow2;

/// <content>
/// Adding, removing, clearing, enabling, disabling and merging persistent dirty bitmaps
/// (<c>qemu-img bitmap</c>). Each change is made to the bitmaps loaded in memory (they are marked in
/// use on disk first, as for any write); the directory and tables are written when the image is
/// disposed, as QEMU stores them on close. Messages are QEMU's.
/// </content>
public sealed partial class Qcow2Image
{
    private readonly List<Qcow2BitmapDirectoryEntry> _removedBitmaps = [];

    /// <summary>
    /// Adds an empty persistent bitmap (<c>qemu-img bitmap --add</c>), enabled unless
    /// <paramref name="enabled"/> is false.
    /// </summary>
    /// <param name="name">The bitmap's name (1 to 1023 UTF-8 bytes, unique in the image).</param>
    /// <param name="granularity">Bytes per bit, a power of two from 512 to 2 GiB; 0 picks QEMU's default (the cluster size within 4 KiB–64 KiB).</param>
    /// <param name="enabled">Whether the bitmap tracks writes (<c>auto</c> flag).</param>
    /// <exception cref="NotSupportedException">The image was opened read-only, or is version 2.</exception>
    /// <exception cref="InvalidOperationException">The name or granularity is invalid, or the name exists.</exception>
    public void AddBitmap(string name, long granularity = 0, bool enabled = true)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfDisposed();
        EnsureWritable();
        if (granularity == 0)
        {
            granularity = Math.Clamp(_clusterSize, 4096, 65536);
        }

        if (granularity < 512 || granularity > 1L << Qcow2BitmapDirectoryEntry.MaxGranularityBits || (granularity & (granularity - 1)) != 0)
        {
            throw new InvalidOperationException("Granularity must be power of 2 and at least 512");
        }

        if (name.Length == 0)
        {
            throw new InvalidOperationException("Bitmap name cannot be empty");
        }

        _lock.EnterWriteLock();
        try
        {
            if (FindBitmap(name) is not null)
            {
                throw new InvalidOperationException($"Bitmap already exists: {name}");
            }

            byte[] nameBytes = Encoding.UTF8.GetBytes(name);
            string where = $"Can't make bitmap '{name}' persistent in '{BitmapNodeName}': ";
            if (nameBytes.Length > Qcow2BitmapDirectoryEntry.MaxNameSize)
            {
                throw new InvalidOperationException(where + "Name length exceeds maximum (1023 characters)");
            }

            if (_header.Version < 3)
            {
                throw new NotSupportedException(where + "Cannot store dirty bitmaps in qcow2 v2 files");
            }

            if (_bitmapDirectory is { Count: >= (int)Qcow2BitmapDirectoryEntry.MaxBitmaps })
            {
                throw new InvalidOperationException(where + "Maximum number of persistent bitmaps is already reached");
            }

            PrepareForWrite();
            if (_bitmapDirectory is null)
            {
                // The first bitmap: a stale extension (autoclear bit clear) is replaced when stored.
                _header.Extensions.RemoveAll(x => x.Type == Qcow2HeaderExtension.Bitmaps);
                _bitmapDirectory = [];
                _bitmapsInUse = true;
            }

            int granularityBits = System.Numerics.BitOperations.Log2((ulong)granularity);
            long bitCount = Qcow2BitmapDirectoryEntry.BitsFor((long)_header.Size, granularityBits);
            _bitmapDirectory.Add(new Qcow2BitmapDirectoryEntry
            {
                Type = 1,
                GranularityBits = (byte)granularityBits,
                Name = nameBytes,
                ExtraData = [],
                Flags = Qcow2BitmapFlags.InUse | (enabled ? Qcow2BitmapFlags.Auto : Qcow2BitmapFlags.None),
                Bits = new byte[(bitCount + 7) / 8],
                BitCount = bitCount,
            });
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Removes a persistent bitmap and frees its clusters when the image is closed (<c>qemu-img bitmap --remove</c>); inconsistent bitmaps may be removed.</summary>
    /// <exception cref="InvalidOperationException">No bitmap has that name.</exception>
    public void RemoveBitmap(string name) => EditBitmap(name, requireConsistent: false, (e, directory) =>
    {
        directory.Remove(e);
        _removedBitmaps.Add(e);
    });

    /// <summary>Clears every bit of a persistent bitmap (<c>qemu-img bitmap --clear</c>).</summary>
    /// <exception cref="InvalidOperationException">No bitmap has that name, or it is inconsistent.</exception>
    public void ClearBitmap(string name) => EditBitmap(name, requireConsistent: true, (e, _) => e.Bits!.AsSpan().Clear());

    /// <summary>Enables (<c>--enable</c>) or disables (<c>--disable</c>) a persistent bitmap: whether writes set its bits.</summary>
    /// <exception cref="InvalidOperationException">No bitmap has that name, or it is inconsistent.</exception>
    public void SetBitmapEnabled(string name, bool enabled) => EditBitmap(name, requireConsistent: true, (e, _) =>
        e.Flags = enabled ? e.Flags | Qcow2BitmapFlags.Auto : e.Flags & ~Qcow2BitmapFlags.Auto);

    /// <summary>
    /// Sets in bitmap <paramref name="targetName"/> every bit whose guest range holds a set bit of
    /// bitmap <paramref name="sourceName"/> of <paramref name="source"/> (this image or another one
    /// of the same size, opened read-only or not): the union (<c>qemu-img bitmap --merge</c>).
    /// Granularities may differ.
    /// </summary>
    /// <exception cref="InvalidOperationException">A bitmap is missing or inconsistent, or the disk sizes differ.</exception>
    public void MergeBitmap(string targetName, Qcow2Image source, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(targetName);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(sourceName);
        ThrowIfDisposed();
        EnsureWritable();
        _ = FindBitmap(targetName) ?? throw NotFound(targetName);
        if (source == this)
        {
            EditBitmap(targetName, requireConsistent: true, (e, _) =>
            {
                Qcow2BitmapDirectoryEntry own = FindBitmap(sourceName)!;
                e.MergeFrom(own.Bits!, own.BitCount, own.GranularityBits);
            }, () =>
            {
                Qcow2BitmapDirectoryEntry own = FindBitmap(sourceName) ?? throw NotFound(sourceName);
                if (IsInconsistent(own))
                {
                    throw Inconsistent(sourceName);
                }
            });
            return;
        }

        (byte[] bits, long bitCount, int granularityBits) = source.ReadBitmapForMerge(sourceName);
        EditBitmap(targetName, requireConsistent: true, (e, _) => e.MergeFrom(bits, bitCount, granularityBits), () =>
        {
            if ((long)source._header.Size != (long)_header.Size)
            {
                throw new InvalidOperationException($"Bitmaps are of different sizes (destination size is {(long)_header.Size}, source size is {(long)source._header.Size}) and can't be merged");
            }
        });
    }

    /// <summary>The bits of bitmap <paramref name="name"/> as stored (bit i covers guest bytes from i × granularity), or null when there is none.</summary>
    internal byte[]? ReadBitmapBits(string name)
    {
        ThrowIfDisposed();
        _lock.EnterReadLock();
        try
        {
            Qcow2BitmapDirectoryEntry? e = FindBitmap(name);
            if (e is null)
            {
                return null;
            }

            return e.Bits is { } loaded ? (byte[])loaded.Clone() : ReadBitmapBits(e, out _);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>The name QEMU would show for this image's node in bitmap messages.</summary>
    private string BitmapNodeName => _host is IO.FileBlockDevice { Path: { } path } ? path : "qcow2";

    private (byte[] Bits, long BitCount, int GranularityBits) ReadBitmapForMerge(string name)
    {
        ThrowIfDisposed();
        _lock.EnterReadLock();
        try
        {
            Qcow2BitmapDirectoryEntry e = FindBitmap(name) ?? throw NotFound(name);
            if (IsInconsistent(e))
            {
                throw Inconsistent(name);
            }

            if (e.Bits is { } loaded)
            {
                return (loaded, e.BitCount, e.GranularityBits);
            }

            byte[] bits = ReadBitmapBits(e, out long count);
            return (bits, count, e.GranularityBits);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    private void EditBitmap(string name, bool requireConsistent, Action<Qcow2BitmapDirectoryEntry, List<Qcow2BitmapDirectoryEntry>> edit, Action? precheck = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfDisposed();
        EnsureWritable();
        _lock.EnterWriteLock();
        try
        {
            _ = FindBitmap(name) ?? throw NotFound(name);
            precheck?.Invoke();
            PrepareForWrite();
            Qcow2BitmapDirectoryEntry e = FindBitmap(name)!;
            if (requireConsistent && IsInconsistent(e))
            {
                throw Inconsistent(name);
            }

            edit(e, _bitmapDirectory!);
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Inconsistent: in use when this open loaded it, or (not loaded yet) marked in use on disk.</summary>
    private bool IsInconsistent(Qcow2BitmapDirectoryEntry e) =>
        _bitmapsInUse ? e.Inconsistent || e.Bits is null : (e.Flags & Qcow2BitmapFlags.InUse) != 0;

    private Qcow2BitmapDirectoryEntry? FindBitmap(string name)
    {
        foreach (Qcow2BitmapDirectoryEntry e in _bitmapDirectory ?? [])
        {
            if (e.NameText == name)
            {
                return e;
            }
        }

        return null;
    }

    private static InvalidOperationException NotFound(string name) => new($"Dirty bitmap '{name}' not found");

    private static InvalidOperationException Inconsistent(string name) =>
        new($"Bitmap '{name}' is inconsistent and cannot be used\nTry block-dirty-bitmap-remove to delete this bitmap from disk");
}
