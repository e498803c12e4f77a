using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// An ext2, ext3 or ext4 file system on a <see cref="BlockDevice"/>, in managed code. Opened read-only by
/// default (every change throws <see cref="NotSupportedException"/>); with
/// <see cref="Ext4OpenOptions.Writable"/> every <see cref="IFileSystem"/> change is supported, each one all or
/// nothing, and <see cref="Flush"/>/<see cref="Dispose"/> commit them (through the jbd2 journal when there is
/// one). Every number read
/// from the device is validated; corrupt structures throw <see cref="InvalidDataException"/>.
/// Thread-safe: every public member and every stream it returns holds the file system's one lock, so
/// concurrent callers are serialized (one call at a time, never interleaved).
/// </summary>
/// <remarks>
/// Supported: block maps and extent trees of any depth, 32/64-bit descriptors, meta_bg, flex_bg,
/// sparse_super(2), huge_file, dir_nlink, extra_isize, linear and htree directories, in-inode and
/// block xattrs, fast and slow symbolic links, inline_data, gdt_csum and metadata_csum (with or
/// without metadata_csum_seed), orphan_file, bigalloc, encrypt and casefold file systems (their
/// unencrypted, case-sensitive directories and files). Refused with <see cref="NotSupportedException"/>:
/// listing, looking up or changing entries of an encrypted (fscrypt) or casefolded directory and the
/// content of an encrypted file (each naming the path), dirdata, journal devices, a journal that needs
/// recovery when opened read-only (unless <see cref="Ext4OpenOptions.AllowJournalRecoveryNeeded"/>; a
/// writable open replays it), unknown incompatible features, and xattr values stored in separate inodes
/// (ea_inode) when one is read.
/// <para>Concurrency: calls from several threads are safe and run one after another; a stream's read or write is
/// one call (other threads see a write whole or not at all). There is no parallelism inside one file system; open
/// it once per device.</para>
/// </remarks>
public sealed partial class Ext4FileSystem : IFileSystem, IPathWalker<Ext4Node>
{
    internal const uint RootInode = 2;
    private readonly BlockDevice _device;
    private readonly bool _leaveOpen;
    private readonly Ext4OpenOptions _options;
    private readonly Ext4SuperBlock _sb;
    private readonly byte[] _descriptors;
    private readonly Ext4Node _root;

    /// <summary>Serializes every public call of the file system and of its streams (reentrant).</summary>
    internal readonly Lock _sync = new();
    private Ext4HtreeWriter? _htree;
    private Ext4DirectoryLeaf? _directoryLeaves;
    private Ext4DirectoryWriter? _directoryWriter;
    private Ext4BlockMap? _blockMaps;
    private Ext4ExtentPaths? _extentPaths;
    private Ext4ExtentTreeWriter? _extentTree;
    private Ext4BlockAllocator? _blockAllocator;
    private Ext4InodeAllocator? _inodeAllocator;
    private Ext4InodeLinker? _links;
    private bool _disposed;

    private Ext4FileSystem(BlockDevice device, bool leaveOpen, Ext4OpenOptions options, Ext4SuperBlock sb, byte[] descriptors, byte[] sbRaw)
    {
        _device = device;
        _leaveOpen = leaveOpen;
        _options = options;
        _sb = sb;
        _descriptors = descriptors;
        if (options.Writable)
        {
            _transaction = (Ext4TransactionDevice)device;
            InitializeWritableState(sbRaw);
        }

        Ext4Inode root = ReadInode(RootInode);
        if (root.Type != UnixFileType.Directory)
        {
            FormatError.Throw("ext4 root inode", -1, "is not a directory.");
        }

        _root = new Ext4Node(root, "/");
    }

    /// <inheritdoc />
    public bool IsReadOnly => !_writable;

    /// <summary>Block size in bytes.</summary>
    public int BlockSize => _sb.BlockSize;

    /// <summary>Number of blocks in the file system.</summary>
    public long BlockCount => _sb.BlocksCount;

    /// <summary>The file-system UUID (<c>s_uuid</c>).</summary>
    public Guid Uuid => _sb.Uuid;

    /// <summary>The volume label (<c>s_volume_name</c>).</summary>
    public string Label => _sb.VolumeName;

    /// <summary>Compatible feature flags.</summary>
    public Ext4CompatibleFeatures CompatibleFeatures => _sb.Compatible;

    /// <summary>Incompatible feature flags.</summary>
    public Ext4IncompatibleFeatures IncompatibleFeatures => _sb.Incompatible;

    /// <summary>Read-only compatible feature flags.</summary>
    public Ext4ReadOnlyCompatibleFeatures ReadOnlyCompatibleFeatures => _sb.ReadOnlyCompatible;

    Ext4Node IPathWalker<Ext4Node>.Root => _root;

    /// <summary>The lock every public call holds; streams take it for each of their calls.</summary>
    internal Lock Sync => _sync;

    /// <summary>The superblock as parsed at open (geometry and feature flags).</summary>
    internal Ext4SuperBlock SuperBlock => _sb;

    /// <summary>The device the file system lives on (the transaction device when writable).</summary>
    internal BlockDevice Device => _device;

    /// <summary>Writes entries of htree (dx) directories.</summary>
    internal Ext4HtreeWriter Htree => _htree ??= new Ext4HtreeWriter(this);

    /// <summary>Reads and writes the records of directory leaf blocks.</summary>
    internal Ext4DirectoryLeaf DirectoryLeaves => _directoryLeaves ??= new Ext4DirectoryLeaf(this);

    /// <summary>Adds and removes directory entries.</summary>
    internal Ext4DirectoryWriter Directories => _directoryWriter ??= new Ext4DirectoryWriter(this);

    /// <summary>Maps, allocates and truncates ext2/ext3 block maps.</summary>
    internal Ext4BlockMap BlockMaps => _blockMaps ??= new Ext4BlockMap(this);

    /// <summary>Finds, caches, reads and writes extent-tree paths.</summary>
    internal Ext4ExtentPaths ExtentPaths => _extentPaths ??= new Ext4ExtentPaths(this);

    /// <summary>Inserts into and truncates extent trees.</summary>
    internal Ext4ExtentTreeWriter ExtentTree => _extentTree ??= new Ext4ExtentTreeWriter(this);

    /// <summary>Allocates and frees blocks.</summary>
    internal Ext4BlockAllocator BlockAllocator => _blockAllocator ??= new Ext4BlockAllocator(this);

    /// <summary>Allocates and frees inodes.</summary>
    internal Ext4InodeAllocator InodeAllocator => _inodeAllocator ??= new Ext4InodeAllocator(this);

    /// <summary>Creates, links and unlinks inodes.</summary>
    internal Ext4InodeLinker Links => _links ??= new Ext4InodeLinker(this);

    /// <summary>Whether the device starts with an ext2/3/4 superblock magic (a cheap probe; does not validate).</summary>
    public static bool IsExt4(BlockDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        Span<byte> magic = stackalloc byte[2];
        return device.Length >= 2048 && device.Read(Ext4SuperBlock.Offset + 0x38, magic) == 2 &&
            BinaryPrimitives.ReadUInt16LittleEndian(magic) == Ext4SuperBlock.Magic;
    }

    /// <summary>Opens the file system on <paramref name="device"/> for reading, or for writing when <see cref="Ext4OpenOptions.Writable"/> is set.</summary>
    /// <param name="device">The device holding the file system from byte 0.</param>
    /// <param name="options">Checksum, journal and write policy; null for the defaults (read-only).</param>
    /// <param name="leaveOpen">Whether disposing the file system leaves <paramref name="device"/> open.</param>
    /// <exception cref="InvalidDataException">The superblock or group descriptors are corrupt.</exception>
    /// <exception cref="NotSupportedException">The file system uses a feature this reader does not support, or
    /// it cannot be written safely (see <see cref="Ext4OpenOptions.Writable"/>).</exception>
    public static Ext4FileSystem Open(BlockDevice device, Ext4OpenOptions? options = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(device);
        options ??= new Ext4OpenOptions();
        if (device.Length < Ext4SuperBlock.Offset + Ext4SuperBlock.Size)
        {
            FormatError.Throw("ext4 superblock", Ext4SuperBlock.Offset, "the device is too small to hold an ext4 file system.");
        }

        byte[] sbBytes = new byte[Ext4SuperBlock.Size];
        device.ReadExactly(Ext4SuperBlock.Offset, sbBytes);
        if (options.Writable && device.CanWrite &&
            (BinaryPrimitives.ReadUInt32LittleEndian(sbBytes.AsSpan(0x60)) & (uint)Ext4IncompatibleFeatures.Recover) != 0)
        {
            // Like a kernel mount: replay the journal, then open what it leaves.
            ReplayJournal(device, options);
            device.ReadExactly(Ext4SuperBlock.Offset, sbBytes);
        }

        Ext4SuperBlock sb = Ext4SuperBlock.Parse(sbBytes, device.Length, options);
        if (options.Writable)
        {
            CheckWritable(device, sbBytes, sb);
        }

        byte[] descriptors = ReadDescriptors(device, sb, options);
        var fs = new Ext4FileSystem(options.Writable ? new Ext4TransactionDevice(device, sb.BlockSize) : device, leaveOpen, options, sb, descriptors, sbBytes);
        if (options.Writable)
        {
            try
            {
                fs.CheckJournalClean();
                fs.InitializeTransactions();
                fs.VerifyAllocationState();
            }
            catch
            {
                // A failed open takes nothing over: the caller still owns the device.
                fs._writable = false;
                throw;
            }
        }

        return fs;
    }

    private static byte[] ReadDescriptors(BlockDevice device, Ext4SuperBlock sb, Ext4OpenOptions options)
    {
        int bs = sb.BlockSize;
        int perBlock = bs / sb.DescriptorSize;
        long tableBytes = (long)sb.GroupCount * sb.DescriptorSize;
        long descBlocks = (sb.GroupCount + perBlock - 1) / perBlock;
        if (tableBytes > sb.BlocksCount * bs / 2)
        {
            FormatError.Throw("ext4 group descriptors", -1, "the descriptor table does not fit the file system.");
        }

        if (descBlocks * bs > 256L << 20)
        {
            FormatError.Unsupported($"ext4 file systems with {sb.GroupCount} block groups (a descriptor table over 256 MiB) are not supported.");
        }

        byte[] table = new byte[descBlocks * bs];
        for (long i = 0; i < descBlocks; i++)
        {
            long block = DescriptorBlockNumber(sb, i);
            if (block >= sb.BlocksCount)
            {
                FormatError.Throw("ext4 group descriptors", -1, $"descriptor block {block} lies outside the file system.");
            }

            device.ReadExactly(block * bs, table.AsSpan((int)(i * bs), bs));
        }

        for (uint g = 0; g < sb.GroupCount; g++)
        {
            Span<byte> d = table.AsSpan((int)(g * sb.DescriptorSize), sb.DescriptorSize);
            if ((options.VerifyChecksums || options.Writable) && (sb.HasMetadataChecksum || sb.HasGroupDescriptorChecksum))
            {
                ushort stored = BinaryPrimitives.ReadUInt16LittleEndian(d[0x1E..]);
                ushort computed = DescriptorChecksum(sb, g, d);
                if (stored != computed)
                {
                    FormatError.Throw("ext4 group descriptor", -1, $"group {g}: checksum mismatch (stored 0x{stored:X4}, computed 0x{computed:X4}).");
                }
            }

            long itable = BinaryPrimitives.ReadUInt32LittleEndian(d[0x08..]);
            if (sb.Is64Bit)
            {
                itable |= (long)BinaryPrimitives.ReadUInt32LittleEndian(d[0x28..]) << 32;
            }

            long itableBlocks = (((long)sb.InodesPerGroup * sb.InodeSize) + bs - 1) / bs;
            if (itable <= sb.FirstDataBlock || itable > sb.BlocksCount - itableBlocks)
            {
                FormatError.Throw("ext4 group descriptor", -1, $"group {g}: inode table at block {itable} lies outside the file system.");
            }
        }

        return table;
    }

    /// <summary>The block holding descriptor-table block <paramref name="index"/> (primary copy; meta_bg aware).</summary>
    private static long DescriptorBlockNumber(Ext4SuperBlock sb, long index)
    {
        bool metaBg = (sb.Incompatible & Ext4IncompatibleFeatures.MetaBlockGroups) != 0;
        if (!metaBg || index < sb.FirstMetaBlockGroup)
        {
            // The table follows the block holding the superblock (byte 1024): block 2 with 1 KiB blocks, else 1.
            return (Ext4SuperBlock.Offset / sb.BlockSize) + 1 + index;
        }

        uint group = (uint)(index * (sb.BlockSize / sb.DescriptorSize));
        return sb.FirstDataBlock + ((long)group * sb.BlocksPerGroup) + (sb.GroupHasSuperblock(group) ? 1 : 0);
    }

    internal static ushort DescriptorChecksum(Ext4SuperBlock sb, uint group, ReadOnlySpan<byte> d)
    {
        Span<byte> le = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(le, group);
        if (sb.HasMetadataChecksum)
        {
            uint c = Ext4Checksum.Crc32C(sb.ChecksumSeed, le);
            c = Ext4Checksum.Crc32C(c, d[..0x1E]);
            c = Ext4Checksum.Crc32CZeros(c, 2);
            c = Ext4Checksum.Crc32C(c, d[0x20..]);
            return (ushort)c;
        }

        ushort crc = Ext4Checksum.Crc16(0xFFFF, sb.UuidBytes);
        crc = Ext4Checksum.Crc16(crc, le);
        crc = Ext4Checksum.Crc16(crc, d[..0x1E]);
        return sb.Is64Bit ? Ext4Checksum.Crc16(crc, d[0x20..]) : crc;
    }

    /// <summary>Reads inode <paramref name="number"/>; throws if it is out of range, unused or fails its checksum.</summary>
    internal Ext4Inode ReadInode(uint number)
    {
        const string S = "ext4 inode";
        if (number == 0 || number > _sb.InodesCount)
        {
            FormatError.Throw(S, -1, $"inode number {number} is out of range.");
        }

        if (_writable && _inodeCache.TryGetValue(number, out Ext4Inode? cachedInode))
        {
            return cachedInode;
        }

        uint group = (number - 1) / _sb.InodesPerGroup;
        uint index = (number - 1) % _sb.InodesPerGroup;
        ReadOnlySpan<byte> d = _descriptors.AsSpan((int)(group * _sb.DescriptorSize), _sb.DescriptorSize);
        if (_sb.HasMetadataChecksum || _sb.HasGroupDescriptorChecksum)
        {
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(d[0x12..]);
            uint unused = BinaryPrimitives.ReadUInt16LittleEndian(d[0x1C..]);
            if (_sb.Is64Bit)
            {
                unused |= (uint)BinaryPrimitives.ReadUInt16LittleEndian(d[0x32..]) << 16;
            }

            if ((flags & 0x1) != 0 || (unused <= _sb.InodesPerGroup && index >= _sb.InodesPerGroup - unused))
            {
                FormatError.Throw(S, -1, $"inode {number} lies in the uninitialised part of group {group}.");
            }
        }

        long itable = BinaryPrimitives.ReadUInt32LittleEndian(d[0x08..]);
        if (_sb.Is64Bit)
        {
            itable |= (long)BinaryPrimitives.ReadUInt32LittleEndian(d[0x28..]) << 32;
        }

        long offset = (itable * _sb.BlockSize) + ((long)index * _sb.InodeSize);
        byte[] raw = new byte[_sb.InodeSize];
        _device.ReadExactly(offset, raw);
        var inode = new Ext4Inode(number, raw);
        if (raw.Length > 128 && (inode.ExtraSize > raw.Length - 128 || (inode.ExtraSize & 3) != 0))
        {
            FormatError.Throw(S, offset, $"inode {number}: i_extra_isize {inode.ExtraSize} is out of range.");
        }

        if (_sb.HasMetadataChecksum && VerifyChecksums)
        {
            bool hasHi = raw.Length > 128 && inode.ExtraSize >= 4;
            uint stored = BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(0x7C));
            if (hasHi)
            {
                stored |= (uint)BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(0x82)) << 16;
            }

            uint c = Ext4Checksum.Inode(InodeSeed(number, inode.Generation), raw, hasHi);
            if (!hasHi)
            {
                c &= 0xFFFF;
            }

            if (c != stored)
            {
                FormatError.Throw(S, offset, $"inode {number}: checksum mismatch.");
            }
        }

        if (inode.LinksCount == 0 && inode.Mode == 0)
        {
            FormatError.Throw(S, offset, $"inode {number} is not in use.");
        }

        if (!Enum.IsDefined(inode.Type))
        {
            FormatError.Throw(S, offset, $"inode {number} has an invalid file type 0x{inode.Mode:X4}.");
        }

        if (inode.Size < 0)
        {
            FormatError.Throw(S, offset, $"inode {number} has a negative size.");
        }

        if (inode.Type is UnixFileType.RegularFile or UnixFileType.Directory && inode.Size > MaxFileSize(inode))
        {
            // Every read loop is bounded by the size: one past what the file system can address is corrupt.
            FormatError.Throw(S, offset, $"inode {number}: size {inode.Size} exceeds the largest file this file system can hold ({MaxFileSize(inode)} bytes).");
        }

        if (_writable)
        {
            _inodeCache[number] = inode;
        }

        return inode;
    }

    /// <summary>
    /// The largest size an inode's mapping can address: 2^32 blocks through an extent tree (ee_block is 32
    /// bits), the direct and indirect blocks of a block map.
    /// </summary>
    private long MaxFileSize(Ext4Inode inode) =>
        (inode.HasExtents || inode.HasInlineData ? MaxLogicalBlocks : BlockMaps.BlockMapCapacity) * _sb.BlockSize;

    /// <summary>The per-inode checksum seed: crc32c(fs seed, inode number, generation).</summary>
    internal uint InodeSeed(uint number, uint generation)
    {
        return Ext4Checksum.InodeSeed(_sb.ChecksumSeed, number, generation);
    }

    /// <inheritdoc />
    public UnixFileInfo GetEntry(string path)
    {
        using Lock.Scope held = _sync.EnterScope();
        ResolvedPath<Ext4Node> r = Existing(path, followFinal: false);
        return ToInfo(r.Node!, r.Path);
    }

    /// <inheritdoc />
    public bool Exists(string path)
    {
        using Lock.Scope held = _sync.EnterScope();
        ThrowIfDisposed();
        try
        {
            return PathResolver.Resolve(this, path, followFinal: false).Node is not null;
        }
        catch (DirectoryNotFoundException)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public IEnumerable<UnixFileInfo> EnumerateDirectory(string path)
    {
        using Lock.Scope held = _sync.EnterScope();
        ResolvedPath<Ext4Node> r = Existing(path, followFinal: true);
        if (r.Node!.Inode.Type != UnixFileType.Directory)
        {
            throw new IOException($"'{path}' is not a directory.");
        }

        Dictionary<string, uint> entries = GetDirectory(r.Node);
        var list = new List<UnixFileInfo>(entries.Count);
        foreach (KeyValuePair<string, uint> kv in entries)
        {
            list.Add(ToInfo(new Ext4Node(ReadInode(kv.Value)), FileSystemPath.Combine(r.Path, kv.Key)));
        }

        return list;
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, byte[]> GetXattrs(string path)
    {
        using Lock.Scope held = _sync.EnterScope();
        Ext4Inode inode = Existing(path, followFinal: false).Node!.Inode;
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (Ext4Xattr x in ReadXattrs(inode))
        {
            if (x.FullName is { } name)
            {
                // POSIX ACLs are stored in ext4's compact encoding; callers get the standard xattr encoding.
                result[name] = x.Index is 2 or 3 ? Ext4PosixAcl.ToXattr(x.Value, inode.Number) : x.Value;
            }
        }

        return result;
    }

    Ext4Node? IPathWalker<Ext4Node>.Lookup(Ext4Node directory, string name)
    {
        if (directory.Inode.Type != UnixFileType.Directory)
        {
            return null;
        }

        return GetDirectory(directory).TryGetValue(name, out uint ino)
            ? new Ext4Node(ReadInode(ino), FileSystemPath.Combine(directory.Path ?? "/", name))
            : null;
    }

    bool IPathWalker<Ext4Node>.IsDirectory(Ext4Node node) => node.Inode.Type == UnixFileType.Directory;

    string? IPathWalker<Ext4Node>.GetSymbolicLinkTarget(Ext4Node node) =>
        node.Inode.Type == UnixFileType.SymbolicLink ? ReadLinkTarget(node) : null;

    private ResolvedPath<Ext4Node> Existing(string path, bool followFinal)
    {
        ThrowIfDisposed();
        TrimInodeCache();
        return PathResolver.ResolveExisting(this, path, followFinal);
    }

    private UnixFileInfo ToInfo(Ext4Node node, string path)
    {
        Ext4Inode i = node.Inode;
        (int major, int minor) = i.Type is UnixFileType.CharacterDevice or UnixFileType.BlockDevice ? i.Device : (0, 0);
        return new UnixFileInfo
        {
            Path = path,
            Type = i.Type,
            Mode = UnixFileModeBits.FromBits(i.Mode),
            UserId = i.UserId,
            GroupId = i.GroupId,
            Size = i.Type is UnixFileType.RegularFile or UnixFileType.Directory or UnixFileType.SymbolicLink ? i.Size : 0,
            LinkCount = i.LinksCount,
            Inode = i.Number,
            AccessTime = i.Time(0x08, 0x8C),
            ChangeTime = i.Time(0x0C, 0x84),
            ModificationTime = i.Time(0x10, 0x88),
            CreationTime = i.HasExtraField(0x90) ? i.Time(0x90, 0x94) : null,
            DeviceMajor = major,
            DeviceMinor = minor,
            LinkTarget = i.Type == UnixFileType.SymbolicLink ? ReadLinkTarget(node) : null,
        };
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
