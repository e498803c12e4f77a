using System.Globalization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Fat;
using DiskImage.FileSystems.Xfs;
using DiskImage.Formats;
using DiskImage.IO;
using DiskImage.Partitions;
using DiskImage.Partitions.Gpt;
using DiskImage.Partitions.Mbr;

namespace DiskImage.Guests;

/// <summary>
/// A whole guest disk, the way libguestfs sees it: every volume (the bare disk, or each MBR/GPT partition, and
/// the logical volumes built on them) recognised by content, the operating systems on them
/// (<see cref="Inspect"/>, like <c>virt-inspector</c>), and one file-system view with every <c>/etc/fstab</c>
/// mount in place (<see cref="Mount(GuestOperatingSystem)"/>).
/// </summary>
/// <remarks>
/// Volumes are named as libguestfs names them whatever the guest calls its disk: the disk is <c>/dev/sda</c>,
/// its partitions <c>/dev/sda1</c>..., logical volumes <c>/dev/VG/LV</c>. The guest owns the file systems it
/// opens; disposing it flushes and closes them.
/// </remarks>
public sealed class Guest : IDisposable
{
    /// <summary>The device name of the (only) disk.</summary>
    public const string DiskName = "/dev/sda";

    private readonly DiskImageFile? _image;
    private readonly bool _leaveOpen;
    private readonly GuestOpenOptions _options;
    private readonly List<GuestVolume> _volumes;
    private readonly List<BlockDevice> _ownedDevices = [];
    private readonly Dictionary<GuestVolume, IFileSystem> _fileSystems = [];
    private readonly Dictionary<GuestVolume, string> _readOnlyReasons = [];
    private IReadOnlyList<GuestOperatingSystem>? _operatingSystems;
    private bool _disposed;

    private Guest(BlockDevice disk, DiskImageFile? image, bool leaveOpen, GuestOpenOptions options)
    {
        Disk = disk;
        _image = image;
        _leaveOpen = leaveOpen;
        _options = options;
        _volumes = [];
        try
        {
            PartitionTable = FindVolumes();
        }
        catch
        {
            DisposeDevices();
            throw;
        }
    }

    /// <summary>The whole disk.</summary>
    public BlockDevice Disk { get; }

    /// <summary>The partition table, or null when the disk holds a bare file system (or nothing known).</summary>
    public PartitionTable? PartitionTable { get; }

    /// <summary>Every volume: the disk itself when it has no partition table, else each partition in number order; then logical volumes.</summary>
    public IReadOnlyList<GuestVolume> Volumes => _volumes;

    /// <summary>The volume groups the volume providers found (LVM), for listings.</summary>
    internal IReadOnlyList<GuestVolumeGroupInfo> VolumeGroups { get; private set; } = [];

    /// <summary>Whether the file systems are opened for writing.</summary>
    public bool IsWritable => _options.Writable;

    /// <summary>Opens the image at <paramref name="path"/> (raw or qcow2, detected) and finds its volumes.</summary>
    /// <exception cref="InvalidDataException">The image or its partition table is malformed.</exception>
    public static Guest Open(string path, GuestOpenOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= GuestOpenOptions.Default;
        DiskImageFile image = DiskImageFile.Open(path, new DiskImageOpenOptions { Writable = options.Writable });
        try
        {
            return new Guest(image.Content, image, leaveOpen: false, options);
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    /// <summary>Finds the volumes on <paramref name="disk"/>.</summary>
    /// <param name="disk">The whole disk (an image's content, a raw file).</param>
    /// <param name="options">Writability, sector size, journal policy; null for <see cref="GuestOpenOptions.Default"/>.</param>
    /// <param name="leaveOpen">Whether disposing the guest leaves <paramref name="disk"/> open.</param>
    /// <exception cref="InvalidDataException">The partition table is malformed (overlapping or out-of-disk partitions, bad CRCs, EBR loops).</exception>
    /// <exception cref="NotSupportedException">Writing was asked for a read-only disk.</exception>
    public static Guest Open(BlockDevice disk, GuestOpenOptions? options = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(disk);
        options ??= GuestOpenOptions.Default;
        if (options.Writable && !disk.CanWrite)
        {
            throw new NotSupportedException("The disk is read-only; the guest cannot be opened for writing.");
        }

        return new Guest(disk, null, leaveOpen, options);
    }

    /// <summary>Returns the volume named <paramref name="name"/> (<c>/dev/sda1</c>, <c>/dev/VG/LV</c>, an alias), or null.</summary>
    public GuestVolume? FindVolume(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (GuestVolume v in _volumes)
        {
            if (v.HasName(name))
            {
                return v;
            }
        }

        return null;
    }

    /// <summary>Returns the volume named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No volume has that name.</exception>
    public GuestVolume GetVolume(string name) =>
        FindVolume(name) ?? throw new ArgumentException($"{name}: no such device in the guest (its volumes are {string.Join(", ", _volumes.Select(v => v.Name))}).", nameof(name));

    /// <summary>
    /// Opens the file system on <paramref name="volume"/> (once; later calls return the same instance, owned by the
    /// guest). A writable guest opens ext4 and FAT for writing; XFS, and a file system the writer refuses, open read-only.
    /// </summary>
    /// <exception cref="NotSupportedException">The volume holds no file system this library opens (swap, LVM PV, unknown).</exception>
    /// <exception cref="InvalidDataException">The file system is corrupt.</exception>
    public IFileSystem OpenFileSystem(GuestVolume volume)
    {
        ArgumentNullException.ThrowIfNull(volume);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_volumes.Contains(volume))
        {
            throw new ArgumentException($"{volume.Name} is not a volume of this guest.", nameof(volume));
        }

        if (_fileSystems.TryGetValue(volume, out IFileSystem? fs))
        {
            return fs;
        }

        fs = volume.FileSystemType switch
        {
            GuestFileSystemType.Ext2 or GuestFileSystemType.Ext3 or GuestFileSystemType.Ext4 => OpenExt4(volume),
            GuestFileSystemType.Xfs => OpenXfs(volume),
            GuestFileSystemType.Fat => FatFileSystem.Open(volume.Device, new FatOpenOptions { Writable = _options.Writable, Clock = _options.Clock }, leaveOpen: true),
            _ => throw new NotSupportedException($"{volume.Name} holds no file system that can be opened (its content is {volume.FileSystemTypeName})."),
        };
        _fileSystems.Add(volume, fs);
        return fs;
    }

    /// <summary>Why <paramref name="volume"/>'s file system was opened read-only in a writable guest, or null.</summary>
    internal string? ReadOnlyReason(GuestVolume volume) => _readOnlyReasons.GetValueOrDefault(volume);

    private Ext4FileSystem OpenExt4(GuestVolume volume)
    {
        if (_options.Writable)
        {
            try
            {
                return Ext4FileSystem.Open(volume.Device, new Ext4OpenOptions { Writable = true, Clock = _options.Clock }, leaveOpen: true);
            }
            catch (NotSupportedException e)
            {
                // Readable but not writable here (a feature the writer does not keep up): read it, refuse its changes.
                _readOnlyReasons[volume] = e.Message;
            }
        }

        return Ext4FileSystem.Open(volume.Device, new Ext4OpenOptions { AllowJournalRecoveryNeeded = _options.AllowJournalRecoveryNeeded }, leaveOpen: true);
    }

    private XfsFileSystem OpenXfs(GuestVolume volume)
    {
        if (_options.Writable)
        {
            try
            {
                return XfsFileSystem.Open(volume.Device, new XfsOpenOptions { Writable = true }, leaveOpen: true);
            }
            catch (NotSupportedException e)
            {
                // A feature or geometry the XFS writer refuses (v4, quotas, a dirty log…): read it, refuse its changes.
                _readOnlyReasons[volume] = e.Message;
            }
        }

        return XfsFileSystem.Open(volume.Device, leaveOpen: true);
    }

    /// <summary>
    /// Finds the operating systems (once; the result is cached), like <c>virt-inspector</c>: each file system is
    /// tested for a Linux root by its files, and the root's <c>/etc/os-release</c>, release files, hostname,
    /// architecture and <c>/etc/fstab</c> are read.
    /// </summary>
    public IReadOnlyList<GuestOperatingSystem> Inspect()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _operatingSystems ??= GuestInspector.Inspect(this);
    }

    /// <summary>
    /// A file-system view of <paramref name="os"/>: its root with every mount of <see cref="GuestOperatingSystem.Mounts"/>
    /// in place (parents first). A mount whose mount point does not exist, or that cannot be opened, is left out
    /// and named in <see cref="GuestOperatingSystem.Warnings"/> of the view, as libguestfs' tools ignore it.
    /// Reads and writes go to the file system that owns each path; the view does not own the file systems.
    /// </summary>
    public IFileSystem Mount(GuestOperatingSystem os)
    {
        ArgumentNullException.ThrowIfNull(os);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return GuestFileSystemView.Build(this, os.Mounts, strict: false, warnings: null);
    }

    /// <summary>
    /// A file-system view with exactly <paramref name="mounts"/> (guestfish <c>-m</c>); one of them must be "/".
    /// </summary>
    /// <exception cref="ArgumentException">A device does not exist or there is no mount at "/".</exception>
    /// <exception cref="IOException">A mount point does not exist or is not a directory.</exception>
    public IFileSystem Mount(IEnumerable<GuestMount> mounts)
    {
        ArgumentNullException.ThrowIfNull(mounts);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return GuestFileSystemView.Build(this, [.. mounts], strict: true, warnings: null);
    }

    /// <summary>Builds a lenient view and returns the mounts it had to leave out.</summary>
    internal IFileSystem Mount(GuestOperatingSystem os, List<string> warnings) => GuestFileSystemView.Build(this, os.Mounts, strict: false, warnings);

    /// <summary>Flushes every open file system and the disk.</summary>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (IFileSystem fs in _fileSystems.Values)
        {
            if (!fs.IsReadOnly)
            {
                fs.Flush();
            }
        }

        if (Disk.CanWrite)
        {
            Disk.Flush();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        List<Exception>? errors = null;
        foreach (IFileSystem fs in _fileSystems.Values)
        {
            try
            {
                fs.Dispose();
            }
            catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ObjectDisposedException)
            {
                (errors ??= []).Add(e);
            }
        }

        _fileSystems.Clear();
        DisposeDevices();
        if (errors is not null)
        {
            throw errors.Count == 1 ? errors[0] : new AggregateException(errors);
        }
    }

    private void DisposeDevices()
    {
        foreach (BlockDevice d in _ownedDevices)
        {
            d.Dispose();
        }

        _ownedDevices.Clear();
        if (_image is not null)
        {
            _image.Dispose();
        }
        else if (!_leaveOpen)
        {
            Disk.Dispose();
        }
    }

    private PartitionTable? FindVolumes()
    {
        GuestProbeResult whole = GuestFileSystemProbe.Probe(Disk);
        PartitionTable? table = null;
        if (whole.Type is GuestFileSystemType.Unknown or GuestFileSystemType.Fat)
        {
            // A FAT boot sector also ends in 55 AA: TryOpen tells a table from a BPB.
            table = PartitionTable.TryOpen(Disk, _options.SectorSize);
        }

        if (table is null)
        {
            _volumes.Add(new GuestVolume(DiskName, GuestVolumeKind.Device, Disk, whole));
        }
        else
        {
            foreach (Partition p in table.Partitions)
            {
                if (p is MbrPartition { IsExtended: true })
                {
                    continue;
                }

                BlockDevice window = table.OpenPartition(p.Number, _options.Writable);
                _ownedDevices.Add(window);
                _volumes.Add(new GuestVolume(DiskName + p.Number.ToString(CultureInfo.InvariantCulture), GuestVolumeKind.Partition, window, GuestFileSystemProbe.Probe(window))
                {
                    Parent = DiskName,
                    PartitionNumber = p.Number,
                    PartitionUuid = PartitionUuid(table, p),
                    PartitionLabel = p is GptPartition { Name.Length: > 0 } g ? g.Name : null,
                    MbrType = p is MbrPartition m ? m.Type.ToString("x2", CultureInfo.InvariantCulture) : null,
                });
            }
        }

        var groups = new List<GuestVolumeGroupInfo>();
        foreach (IGuestVolumeProvider provider in GuestVolumeProviders.All)
        {
            GuestProviderResult found = provider.FindVolumes([.. _volumes], _options.Writable);
            foreach (GuestProvidedVolume v in found.Volumes)
            {
                _ownedDevices.Add(v.Device);
                _volumes.Add(new GuestVolume(v.Name, GuestVolumeKind.LogicalVolume, v.Device, GuestFileSystemProbe.Probe(v.Device))
                {
                    Aliases = v.Aliases,
                    Parent = v.Parent,
                    LogicalVolumeUuid = v.Uuid,
                });
            }

            groups.AddRange(found.Groups);
        }

        VolumeGroups = groups;
        return table;
    }

    private static string PartitionUuid(PartitionTable table, Partition p) => p switch
    {
        GptPartition g => g.UniqueGuid.ToString("D"),
        _ when table is MbrPartitionTable mbr => string.Create(CultureInfo.InvariantCulture, $"{mbr.DiskSignature:x8}-{p.Number:x2}"),
        _ => string.Empty,
    };
}
