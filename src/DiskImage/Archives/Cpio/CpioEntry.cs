namespace DiskImage.Archives.Cpio;

/// <summary>
/// One member of a newc/crc cpio archive: its header fields, its name and, for regular files and
/// symbolic links, its data. Read from a <see cref="CpioReader"/> or built to pass to a
/// <see cref="CpioWriter"/>.
/// </summary>
public sealed class CpioEntry
{
    private string _name;
    private long _length;

    /// <summary>Creates an entry of <paramref name="entryType"/> named <paramref name="name"/>.</summary>
    /// <param name="entryType">The entry type.</param>
    /// <param name="name">The path inside the archive (no leading <c>/</c> needed; the kernel treats names relative to the root).</param>
    public CpioEntry(CpioEntryType entryType, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!Enum.IsDefined(entryType))
        {
            throw new ArgumentOutOfRangeException(nameof(entryType));
        }

        EntryType = entryType;
        _name = name;
        Mode = entryType == CpioEntryType.Directory ? (UnixFileMode)0x1ED /* 0755 */ : (UnixFileMode)0x1A4 /* 0644 */;
        if (entryType == CpioEntryType.SymbolicLink)
        {
            Mode = (UnixFileMode)0x1FF; // 0777
        }

        NLink = entryType == CpioEntryType.Directory ? 2u : 1u;
    }

    /// <summary>The header variant this entry was read with (or will be written with when the writer does not force one).</summary>
    public CpioFormat Format { get; set; } = CpioFormat.Newc;

    /// <summary>The entry type (the <c>S_IFMT</c> bits of <c>c_mode</c>).</summary>
    public CpioEntryType EntryType { get; }

    /// <summary>The path inside the archive (<c>c_namesize</c> bytes without the NUL), UTF-8 on disk.</summary>
    public string Name
    {
        get => _name;
        set
        {
            ArgumentException.ThrowIfNullOrEmpty(value);
            _name = value;
        }
    }

    /// <summary>Permission and special bits (the low 12 bits of <c>c_mode</c>).</summary>
    public UnixFileMode Mode { get; set; }

    /// <summary>Owner user id (<c>c_uid</c>).</summary>
    public uint Uid { get; set; }

    /// <summary>Owner group id (<c>c_gid</c>).</summary>
    public uint Gid { get; set; }

    /// <summary>Link count (<c>c_nlink</c>); a non-directory with 2 or more is a member of a hard link group keyed by (<see cref="DevMajor"/>, <see cref="DevMinor"/>, <see cref="Inode"/>).</summary>
    public uint NLink { get; set; }

    /// <summary>Inode number (<c>c_ino</c>).</summary>
    public uint Inode { get; set; }

    /// <summary>Modification time in seconds since the Unix epoch (<c>c_mtime</c>, unsigned 32-bit).</summary>
    public uint ModificationTimeSeconds { get; set; }

    /// <summary>Modification time as a <see cref="DateTimeOffset"/> (whole seconds, 1970-01-01 to 2106-02-07).</summary>
    public DateTimeOffset ModificationTime
    {
        get => DateTimeOffset.FromUnixTimeSeconds(ModificationTimeSeconds);
        set => ModificationTimeSeconds = ClampSeconds(value.ToUnixTimeSeconds());
    }

    /// <summary>Major number of the device holding the file (<c>c_devmajor</c>).</summary>
    public uint DevMajor { get; set; }

    /// <summary>Minor number of the device holding the file (<c>c_devminor</c>).</summary>
    public uint DevMinor { get; set; }

    /// <summary>Major number of a character or block device entry (<c>c_rdevmajor</c>).</summary>
    public uint RDevMajor { get; set; }

    /// <summary>Minor number of a character or block device entry (<c>c_rdevminor</c>).</summary>
    public uint RDevMinor { get; set; }

    /// <summary>The crc format's checksum (<c>c_check</c>): the sum of all data bytes, modulo 2^32; zero for newc.</summary>
    public uint Checksum { get; set; }

    /// <summary>
    /// Size of the data (<c>c_filesize</c>). For a regular file it is set from <see cref="DataStream"/>
    /// when that is assigned and seekable; a hard link member without data has length 0.
    /// </summary>
    public long Length
    {
        get => EntryType == CpioEntryType.SymbolicLink ? DiskImage.FileSystems.UnixPathEncoding.GetByteCount(LinkName ?? string.Empty) : _length;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, CpioLimits.MaxFileSize);
            _length = value;
        }
    }

    /// <summary>Target of a symbolic link (its data on disk); null for other types.</summary>
    public string? LinkName { get; set; }

    /// <summary>
    /// The data of a regular file. For an entry returned by a reader without copying, the stream
    /// reads the archive directly and is valid only until the next entry is requested.
    /// Setting a seekable stream also sets <see cref="Length"/> to its remaining length.
    /// </summary>
    public Stream? DataStream
    {
        get => DataStreamCore;
        set
        {
            DataStreamCore = value;
            if (value is { CanSeek: true })
            {
                Length = value.Length - value.Position;
            }
        }
    }

    internal Stream? DataStreamCore { get; set; }

    /// <summary>The <c>c_filesize</c> field as stored, whatever the type.</summary>
    internal long RawLength
    {
        get => _length;
        set => _length = value;
    }

    /// <summary>Extra NUL bytes after the name in <c>c_namesize</c> (data alignment by name padding, as gen_init_cpio <c>-a</c> writes).</summary>
    public int NamePadding { get; set; }

    /// <summary>Offset of this entry's header in its (decompressed) archive stream, for entries read from an archive; -1 otherwise.</summary>
    public long HeaderOffset { get; internal set; } = -1;

    /// <summary>Offset of this entry's data in its (decompressed) archive stream, for entries read from an archive; -1 otherwise.</summary>
    public long DataOffset { get; internal set; } = -1;

    /// <summary>Whether this entry is part of a hard link group (a non-directory with <see cref="NLink"/> ≥ 2).</summary>
    public bool IsHardLinkMember => EntryType != CpioEntryType.Directory && NLink >= 2;

    /// <inheritdoc />
    public override string ToString() => $"{EntryType} {Name}";

    internal static uint ClampSeconds(long seconds) => seconds <= 0 ? 0 : seconds >= uint.MaxValue ? uint.MaxValue : (uint)seconds;
}
