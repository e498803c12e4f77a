using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>Creating new images with the layout <c>qemu-img create</c> uses: header, refcount table, refcount blocks, L1.</content>
public sealed partial class Qcow2Image
{
    /// <summary>Creates a new image file of <paramref name="virtualSize"/> bytes, opened writable.</summary>
    /// <param name="path">The image file to create.</param>
    /// <param name="virtualSize">The guest disk size in bytes.</param>
    /// <param name="options">Creation options; null for qemu-img's defaults.</param>
    /// <param name="overwrite">Whether an existing file may be replaced; false by default.</param>
    /// <exception cref="ArgumentException">The options contradict each other (e.g. zstd or extended L2 with version 2).</exception>
    /// <exception cref="IOException">The file exists and <paramref name="overwrite"/> is false (the message names it), or another user holds it.</exception>
    public static Qcow2Image Create(string path, long virtualSize, Qcow2CreateOptions? options = null, bool overwrite = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= Qcow2CreateOptions.Default;
        Validate(virtualSize, options);
        FileBlockDevice host = FileBlockDevice.Create(path, overwrite: overwrite);
        try
        {
            return CreateCore(host, virtualSize, options, leaveOpen: false, path);
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    /// <summary>Creates a new image in an empty, resizable <paramref name="host"/>, opened writable.</summary>
    /// <exception cref="ArgumentException">The options contradict each other, or the host is read-only or not resizable.</exception>
    public static Qcow2Image Create(BlockDevice host, long virtualSize, Qcow2CreateOptions? options = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(host);
        options ??= Qcow2CreateOptions.Default;
        Validate(virtualSize, options);
        if (!host.CanWrite || !host.CanSetLength)
        {
            throw new ArgumentException("The host device must be writable and resizable.", nameof(host));
        }

        return CreateCore(host, virtualSize, options, leaveOpen, null);
    }

    private static void Validate(long virtualSize, Qcow2CreateOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(virtualSize);
        if (virtualSize % 512 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(virtualSize), virtualSize, "The virtual size must be a multiple of 512.");
        }

        if (options.Version < 3)
        {
            if (options.CompressionType != Qcow2CompressionType.Deflate)
            {
                throw new ArgumentException("Version 2 images support only deflate (zlib) compression.", nameof(options));
            }

            if (options.ExtendedL2 || options.LazyRefcounts || options.RefcountBits != 16)
            {
                throw new ArgumentException("Version 2 images support neither extended L2, lazy refcounts nor refcount widths other than 16.", nameof(options));
            }
        }

        if (options.ExtendedL2 && options.ClusterSize < 16384)
        {
            throw new ArgumentException("Extended L2 entries need a cluster size of at least 16 KiB.", nameof(options));
        }

        if (options.BackingFile is not null)
        {
            if (options.BackingFile.Length == 0 || Encoding.UTF8.GetByteCount(options.BackingFile) > Qcow2Header.MaxBackingFileNameLength)
            {
                throw new ArgumentException("The backing file name must be 1..1023 bytes.", nameof(options));
            }

            if (options.BackingFormat is not (DiskImageFormat.Qcow2 or DiskImageFormat.Raw))
            {
                throw new ArgumentException("A backing file needs its format (qcow2 or raw).", nameof(options));
            }
        }
    }

    private static Qcow2Image CreateCore(BlockDevice host, long virtualSize, Qcow2CreateOptions options, bool leaveOpen, string? fileName)
    {
        int clusterSize = options.ClusterSize;
        int clusterBits = BitOperations.Log2((uint)clusterSize);
        int refcountOrder = BitOperations.Log2((uint)options.RefcountBits);
        int l2Bits = clusterBits - (options.ExtendedL2 ? 4 : 3);
        int l2Shift = clusterBits + l2Bits;
        long l1Entries = (virtualSize + (1L << l2Shift) - 1) >> l2Shift;
        if (l1Entries * 8 > MaxL1Bytes)
        {
            throw new ArgumentOutOfRangeException(nameof(virtualSize), virtualSize, "The virtual size needs an L1 table larger than 32 MiB at this cluster size.");
        }

        bool prealloc = options.Preallocation == Qcow2Preallocation.Metadata;
        long l1Clusters = ((l1Entries * 8) + clusterSize - 1) >> clusterBits;
        long l2Tables = prealloc ? l1Entries : 0;
        long dataClusters = prealloc ? (virtualSize + clusterSize - 1) >> clusterBits : 0;
        long refblockEntries = 1L << Qcow2Refcounts.BlockEntriesBits(clusterBits, refcountOrder);
        long blocks = 1;
        long tableClusters = 1;
        long total;
        while (true)
        {
            total = 1 + tableClusters + blocks + l1Clusters + l2Tables + dataClusters;
            long needBlocks = (total + refblockEntries - 1) / refblockEntries;
            long needTable = Math.Max(1, ((needBlocks * 8) + clusterSize - 1) >> clusterBits);
            if (needBlocks == blocks && needTable == tableClusters)
            {
                break;
            }

            blocks = needBlocks;
            tableClusters = needTable;
        }

        if (tableClusters << clusterBits > MaxRefcountTableBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(virtualSize), virtualSize, "The preallocated image would need a refcount table larger than 8 MiB.");
        }

        long reftableOffset = 1L << clusterBits;
        long blocksOffset = reftableOffset + (tableClusters << clusterBits);
        long l1Offset = blocksOffset + (blocks << clusterBits);
        long l2Offset = l1Offset + (l1Clusters << clusterBits);
        long dataOffset = l2Offset + (l2Tables << clusterBits);

        var header = new Qcow2Header
        {
            Version = (uint)options.Version,
            ClusterBits = clusterBits,
            Size = (ulong)virtualSize,
            L1Size = (uint)l1Entries,
            L1TableOffset = l1Entries == 0 ? 0 : (ulong)l1Offset, // qemu-img leaves it 0 for an empty disk
            RefcountTableOffset = (ulong)reftableOffset,
            RefcountTableClusters = (uint)tableClusters,
            RefcountOrder = refcountOrder,
            HeaderLength = options.Version >= 3 ? Qcow2Header.V3DefaultLength : Qcow2Header.V2Length,
            CompressionTypeByte = (byte)options.CompressionType,
        };
        if (options.CompressionType != Qcow2CompressionType.Deflate)
        {
            header.IncompatibleFeatures |= Qcow2IncompatibleFeatures.CompressionType;
        }

        if (options.ExtendedL2)
        {
            header.IncompatibleFeatures |= Qcow2IncompatibleFeatures.ExtendedL2;
        }

        if (options.LazyRefcounts)
        {
            header.CompatibleFeatures |= Qcow2CompatibleFeatures.LazyRefcounts;
        }

        if (options.BackingFile is not null)
        {
            string format = options.BackingFormat == DiskImageFormat.Raw ? "raw" : "qcow2";
            header.Extensions.Add(new Qcow2HeaderExtension(Qcow2HeaderExtension.BackingFormat, Encoding.UTF8.GetBytes(format)));
            header.BackingFileNameBytes = Encoding.UTF8.GetBytes(options.BackingFile);
        }

        // qemu-img 7.2 writes the feature name table only with clusters larger than 4 KiB.
        if (options.Version >= 3 && clusterSize > 4096)
        {
            var table = new Qcow2HeaderExtension(Qcow2HeaderExtension.FeatureNameTable, Qcow2FeatureName.WriteTable(Qcow2FeatureName.Standard));
            int nameLength = header.BackingFileNameBytes?.Length ?? 0;
            if (header.HeaderLength + header.ExtensionAreaSize + table.DiskSize + nameLength <= clusterSize)
            {
                header.Extensions.Add(table);
            }
        }

        byte[] cluster0 = new byte[clusterSize];
        header.WriteTo(cluster0);

        // Not on an empty file: on ext4, truncating a file to 0 marks it to be written back in full
        // when it is closed (auto_da_alloc), which would stall the end of every conversion.
        if (host.Length != 0)
        {
            host.SetLength(0);
        }

        host.SetLength(prealloc ? total << clusterBits : l1Offset + (l1Entries * 8));
        host.Write(0, cluster0);

        // Refcount table and blocks: every cluster of the layout is used once.
        byte[] table0 = new byte[tableClusters << clusterBits];
        for (long b = 0; b < blocks; b++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(table0.AsSpan((int)(b * 8)), (ulong)(blocksOffset + (b << clusterBits)));
        }

        host.Write(reftableOffset, table0);
        byte[] block = new byte[clusterSize];
        for (long b = 0; b < blocks; b++)
        {
            Array.Clear(block);
            long first = b * refblockEntries;
            long last = Math.Min(total, first + refblockEntries);
            for (long c = first; c < last; c++)
            {
                Qcow2Refcounts.Set(block, (int)(c - first), refcountOrder, 1);
            }

            host.Write(blocksOffset + (b << clusterBits), block);
        }

        if (prealloc && l1Entries > 0)
        {
            byte[] l1 = new byte[l1Entries * 8];
            for (long i = 0; i < l1Entries; i++)
            {
                BinaryPrimitives.WriteUInt64BigEndian(l1.AsSpan((int)(i * 8)), Qcow2L1Entry.Create(l2Offset + (i << clusterBits), copied: true).Value);
            }

            host.Write(l1Offset, l1);
            int entrySize = options.ExtendedL2 ? 16 : 8;
            long entriesPerTable = 1L << l2Bits;
            byte[] l2 = new byte[clusterSize];
            for (long t = 0; t < l2Tables; t++)
            {
                Array.Clear(l2);
                for (long i = 0; i < entriesPerTable; i++)
                {
                    long guestCluster = (t * entriesPerTable) + i;
                    if (guestCluster >= dataClusters)
                    {
                        break;
                    }

                    long data = dataOffset + (guestCluster << clusterBits);
                    ulong value = ((ulong)data & Qcow2L2Entry.OffsetMask) | Qcow2L2Entry.CopiedFlag;
                    ulong bitmap = 0;
                    if (options.ExtendedL2)
                    {
                        bitmap = Qcow2L2Entry.AllZero;
                    }
                    else if (options.Version >= 3)
                    {
                        value |= Qcow2L2Entry.ZeroFlag;
                    }

                    BinaryPrimitives.WriteUInt64BigEndian(l2.AsSpan((int)(i * entrySize)), value);
                    if (options.ExtendedL2)
                    {
                        BinaryPrimitives.WriteUInt64BigEndian(l2.AsSpan((int)(i * entrySize) + 8), bitmap);
                    }
                }

                host.Write(l2Offset + (t << clusterBits), l2);
            }
        }

        host.Flush();
        var openOptions = new DiskImageOpenOptions
        {
            Writable = true,
            BackingFiles = options.BackingFile is null ? BackingFilePolicy.Deny : BackingFilePolicy.Allow,
        };
        Qcow2Image image = OpenCore(host, openOptions, leaveOpen, fileName, new Qcow2OpenContext(), forRepair: false);
        if (options.Encryption is { } encryption)
        {
            try
            {
                image.AddLuksEncryption(encryption);
            }
            catch
            {
                image.Dispose();
                throw;
            }
        }

        return image;
    }

    /// <summary>
    /// Encrypts a new, empty image with LUKS as <c>qemu-img create -o encrypt.format=luks</c> does: the
    /// LUKS area in fresh clusters, the full disk encryption extension naming it, crypt_method 2.
    /// </summary>
    private void AddLuksEncryption(Luks.LuksCreateOptions options)
    {
        byte[] area = Luks.LuksVolume.Format(options, out Luks.LuksHeader luks, out byte[] key);
        try
        {
            _lock.EnterWriteLock();
            try
            {
                PrepareForWrite();
                long offset = _refcounts.AllocateClusters((int)(AlignUp(area.Length) >> _clusterBits));
                HostWrite(offset, area);
                FlushMetadata();
                _header.CryptMethod = 2;
                int at = _header.Extensions.FindIndex(e => e.Type == Qcow2HeaderExtension.BackingFormat) + 1;
                _header.Extensions.Insert(at, new Qcow2HeaderExtension(Qcow2HeaderExtension.FullDiskEncryption, Qcow2Encryption.ExtensionData(offset, area.Length)));
                byte[] cluster0 = new byte[_clusterSize];
                _header.WriteTo(cluster0);
                _host.Write(0, cluster0);
                _host.Flush();
                _encryption = Qcow2Encryption.Create(luks, key, offset, area.Length);
            }
            finally
            {
                _lock.ExitWriteLock();
            }
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
        }
    }
}
