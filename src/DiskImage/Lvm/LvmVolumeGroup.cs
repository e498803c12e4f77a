using System.Globalization;
using DiskImage.IO;

namespace DiskImage.Lvm;

/// <summary>
/// An LVM2 volume group read from (or written to) the metadata areas of its physical volumes. Its logical
/// volumes open as <see cref="BlockDevice"/>s; changes (<see cref="CreateLogicalVolume"/>,
/// <see cref="ExtendLogicalVolume"/>, <see cref="RegenerateUuids"/>) are committed at once to every
/// metadata area of every PV, with the seqno one higher, as LVM commits them.
/// </summary>
/// <remarks>
/// The group borrows the devices it was found on: disposing them is the caller's job, and they must stay
/// open while the group or an LV device opened from it is used. Malformed metadata (bad checksums,
/// text that is huge or nests too deep, segments beyond their PVs, overflowing extent counts) throws
/// <see cref="InvalidDataException"/>.
/// </remarks>
public sealed class LvmVolumeGroup
{
    private readonly LvmConfigSection _root;
    private readonly LvmConfigSection _vg;
    private readonly Dictionary<string, (BlockDevice Device, LvmLabel Label)> _labels;
    private readonly List<LvmMetadataArea> _areas;
    private readonly string? _host;
    private readonly DateTimeOffset? _time;
    private readonly Random? _random;
    private LvmVolumeGroupContents _contents;

    internal LvmVolumeGroup(LvmConfigSection root, LvmConfigSection vg, Dictionary<string, (BlockDevice, LvmLabel)> labels, List<LvmMetadataArea> areas, LvmVolumeGroupCreateOptions? options)
    {
        _root = root;
        _vg = vg;
        _labels = labels;
        _areas = areas;
        _host = options?.CreationHost;
        _time = options?.CreationTime;
        _random = options?.RandomSeed is int seed ? new Random(seed) : null;
        _contents = Import();
    }

    /// <summary>The VG name.</summary>
    public string Name => _contents.Name;

    /// <summary>The VG UUID in display form.</summary>
    public string Uuid => _contents.Uuid;

    /// <summary>The metadata version (<c>seqno</c>); every committed change adds one.</summary>
    public long SequenceNumber => _contents.SequenceNumber;

    /// <summary>The physical extent size in bytes (<c>extent_size</c> × 512).</summary>
    public long ExtentSize => _contents.ExtentSize;

    /// <summary>The physical volumes in metadata order (missing ones have no <see cref="LvmPhysicalVolume.Device"/>).</summary>
    public IReadOnlyList<LvmPhysicalVolume> PhysicalVolumes => _contents.PhysicalVolumes;

    /// <summary>Every logical volume in metadata order, hidden ones (<see cref="LvmLogicalVolume.IsVisible"/> false) included.</summary>
    public IReadOnlyList<LvmLogicalVolume> LogicalVolumes => _contents.LogicalVolumes;

    /// <summary>The number of physical extents no LV uses (on allocatable, present PVs).</summary>
    public long FreeExtentCount => new LvmExtentAllocator(_contents).FreeExtents;

    /// <summary>Whether the VG can be changed: every PV is present and its device writable.</summary>
    public bool CanWrite
    {
        get
        {
            foreach (LvmPhysicalVolume pv in _contents.PhysicalVolumes)
            {
                if (pv.Device is not { CanWrite: true })
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>Returns the LV named <paramref name="name"/>, or null.</summary>
    public LvmLogicalVolume? GetLogicalVolume(string name)
    {
        foreach (LvmLogicalVolume lv in _contents.LogicalVolumes)
        {
            if (lv.Name == name)
            {
                return lv;
            }
        }

        return null;
    }

    /// <summary>
    /// Finds every volume group whose PVs are among <paramref name="devices"/> (whole disks, partitions, or
    /// anything else; devices without an LVM label are skipped). For each VG the metadata copy with the highest
    /// seqno is used; PVs are matched by the UUID in their label.
    /// </summary>
    /// <param name="devices">The devices to scan; borrowed, not disposed.</param>
    /// <returns>The VGs in the order their first PV appears (empty when there is none).</returns>
    /// <exception cref="InvalidDataException">A label, metadata area or metadata text is malformed.</exception>
    /// <exception cref="NotSupportedException">A VG uses a metadata format other than lvm2.</exception>
    public static IReadOnlyList<LvmVolumeGroup> FindAll(IReadOnlyList<BlockDevice> devices)
    {
        ArgumentNullException.ThrowIfNull(devices);
        return LvmVolumeGroupScanner.Scan(devices);
    }

    /// <summary>
    /// Opens the volume group on <paramref name="devices"/>: the one named <paramref name="name"/>, or the only one
    /// when no name is given. Returns null when there is none (or none of that name).
    /// </summary>
    /// <exception cref="InvalidDataException">The metadata is malformed.</exception>
    /// <exception cref="InvalidOperationException">No name is given and the devices hold more than one VG.</exception>
    public static LvmVolumeGroup? TryOpen(IReadOnlyList<BlockDevice> devices, string? name = null)
    {
        IReadOnlyList<LvmVolumeGroup> all = FindAll(devices);
        if (name is null)
        {
            return all.Count switch
            {
                0 => null,
                1 => all[0],
                _ => throw new InvalidOperationException($"The devices hold {all.Count} volume groups; name the one to open."),
            };
        }

        foreach (LvmVolumeGroup vg in all)
        {
            if (vg.Name == name)
            {
                return vg;
            }
        }

        return null;
    }

    /// <summary>Opens a volume group; see <see cref="TryOpen"/>.</summary>
    /// <exception cref="InvalidDataException">The devices hold no such VG, or its metadata is malformed.</exception>
    public static LvmVolumeGroup Open(IReadOnlyList<BlockDevice> devices, string? name = null) =>
        TryOpen(devices, name) ?? throw new InvalidDataException(name is null ? "The devices hold no LVM2 volume group." : $"The devices hold no LVM2 volume group named \"{name}\".");

    /// <summary>
    /// Creates a volume group on <paramref name="devices"/>, as <c>vgcreate</c> does: devices that are not PVs yet
    /// are made PVs first (<c>pvcreate</c>), and metadata with seqno 1 is written to each PV's metadata area.
    /// </summary>
    /// <param name="name">The VG name ([A-Za-z0-9+_.-], at most 127 characters).</param>
    /// <param name="devices">The PV devices, in pv0, pv1, … order; borrowed, not disposed.</param>
    /// <param name="options">Extent size, UUIDs, creation host and time; null means <see cref="LvmVolumeGroupCreateOptions.Default"/>.</param>
    /// <exception cref="InvalidOperationException">A device is a PV of another VG already.</exception>
    /// <exception cref="ArgumentException">The name is invalid, no device is given, or a device is too small for one extent.</exception>
    public static LvmVolumeGroup Create(string name, IReadOnlyList<BlockDevice> devices, LvmVolumeGroupCreateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(devices);
        options ??= LvmVolumeGroupCreateOptions.Default;
        LvmVolumeGroupWriter.ValidateName(name, logicalVolume: false, nameof(name));
        if (devices.Count == 0)
        {
            throw new ArgumentException("A volume group needs at least one device.", nameof(devices));
        }

        Random? random = options.RandomSeed is int seed ? new Random(seed) : null;
        string vgId = options.Uuid is null ? LvmUuid.Generate(random) : LvmPhysicalVolume.Normalize(options.Uuid);
        long extentSectors = options.ExtentSize / 512;
        var labels = new Dictionary<string, (BlockDevice, LvmLabel)>(StringComparer.Ordinal);
        var areas = new List<LvmMetadataArea>();
        var pvs = new LvmConfigSection("physical_volumes");
        for (int i = 0; i < devices.Count; i++)
        {
            BlockDevice device = devices[i] ?? throw new ArgumentNullException(nameof(devices));
            if (!device.CanWrite)
            {
                throw new NotSupportedException($"Device {i} is read-only; a volume group cannot be created on it.");
            }

            LvmLabel? label = LvmLabel.TryRead(device);
            if (label is not null)
            {
                foreach (LvmDiskLocation location in label.MetadataAreas)
                {
                    if (LvmMetadataArea.Read(device, location).TextSize != 0 || (label.ExtensionFlags & LvmLabel.ExtensionUsed) != 0)
                    {
                        throw new InvalidOperationException($"Device {i} is a physical volume of a volume group already.");
                    }
                }
            }
            else
            {
                label = LvmVolumeGroupWriter.WritePhysicalVolume(device, null, options.PhysicalVolume.DataOffset, random);
            }

            if (!labels.TryAdd(label.Uuid, (device, label)))
            {
                throw new ArgumentException($"Device {i} is given twice (PV UUID {LvmUuid.Format(label.Uuid)}).", nameof(devices));
            }

            long peStart = (long)label.DataAreas[0].Offset / 512;
            long devSize = device.Length / 512;
            long peCount = (devSize - peStart) / extentSectors;
            if (peCount < 1)
            {
                throw new ArgumentException($"Device {i} ({device.Length} bytes) holds no whole extent of {options.ExtentSize} bytes.", nameof(devices));
            }

            var pv = new LvmConfigSection("pv" + i.ToString(CultureInfo.InvariantCulture));
            pv.Set("id", LvmConfigValue.String(LvmUuid.Format(label.Uuid)));
            pv.Set("device", LvmConfigValue.String("/dev/pv" + i.ToString(CultureInfo.InvariantCulture)));
            pv.Set("status", LvmConfigValue.StringArray(["ALLOCATABLE"]));
            pv.Set("flags", LvmConfigValue.StringArray([]));
            pv.Set("dev_size", LvmConfigValue.Int(devSize));
            pv.Set("pe_start", LvmConfigValue.Int(peStart));
            pv.Set("pe_count", LvmConfigValue.Int(peCount));
            pvs.Set(pv.Name, pv);
            foreach (LvmDiskLocation location in label.MetadataAreas)
            {
                areas.Add(LvmMetadataArea.Read(device, location));
            }
        }

        var vg = new LvmConfigSection(name);
        vg.Set("id", LvmConfigValue.String(LvmUuid.Format(vgId)));
        vg.Set("seqno", LvmConfigValue.Int(0));
        vg.Set("format", LvmConfigValue.String("lvm2"));
        vg.Set("status", LvmConfigValue.StringArray(["RESIZEABLE", "READ", "WRITE"]));
        vg.Set("flags", LvmConfigValue.StringArray([]));
        vg.Set("extent_size", LvmConfigValue.Int(extentSectors));
        vg.Set("max_lv", LvmConfigValue.Int(0));
        vg.Set("max_pv", LvmConfigValue.Int(0));
        vg.Set("metadata_copies", LvmConfigValue.Int(0));
        vg.Set("physical_volumes", pvs);
        var root = new LvmConfigSection(string.Empty);
        root.Set(name, vg);
        var group = new LvmVolumeGroup(root, vg, labels, areas, options);
        group.Commit($"Write from DiskImage: create volume group {name}.");
        foreach ((BlockDevice device, LvmLabel label) in labels.Values)
        {
            // The PV now belongs to a VG (PV_EXT_USED), as vgcreate marks it.
            LvmLabel used = label.With(label.Uuid, label.ExtensionFlags | LvmLabel.ExtensionUsed);
            used.Write(device, clearOtherSectors: false);
        }

        group.RefreshLabels();
        return group;
    }

    /// <summary>
    /// Creates a logical volume, as <c>lvcreate -L size [-i stripes -I stripesize] -n name</c> does. The size is
    /// rounded up to whole extents (and to a multiple of the stripe count). Linear LVs take one contiguous run
    /// of free extents when a PV has one, else free runs in PV order; each stripe of a striped LV is on its own PV.
    /// Nothing is written to the LV's extents (lvcreate here does not zero them either).
    /// </summary>
    /// <exception cref="ArgumentException">The name is invalid or taken.</exception>
    /// <exception cref="InvalidOperationException">Not enough free extents, or the VG cannot be written.</exception>
    public LvmLogicalVolume CreateLogicalVolume(string name, long size, LvmLogicalVolumeCreateOptions? options = null)
    {
        options ??= LvmLogicalVolumeCreateOptions.Default;
        LvmVolumeGroupWriter.ValidateName(name, logicalVolume: true, nameof(name));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        ThrowIfReadOnly();
        if (GetLogicalVolume(name) is not null)
        {
            throw new ArgumentException($"Logical volume {Name}/{name} already exists.", nameof(name));
        }

        if (options.Stripes > 1 && options.StripeSize > ExtentSize)
        {
            throw new ArgumentException($"The stripe size {options.StripeSize} exceeds the extent size {ExtentSize}.", nameof(options));
        }

        long extents = ExtentsFor(size, options.Stripes);
        var allocator = new LvmExtentAllocator(_contents);
        var lv = new LvmConfigSection(name);
        lv.Set("id", LvmConfigValue.String(LvmUuid.Format(options.Uuid is null ? LvmUuid.Generate(_random) : LvmPhysicalVolume.Normalize(options.Uuid))));
        lv.Set("status", LvmConfigValue.StringArray(["READ", "WRITE", "VISIBLE"]));
        lv.Set("flags", LvmConfigValue.StringArray([]));
        lv.Set("creation_time", LvmConfigValue.Int(Now().ToUnixTimeSeconds()));
        lv.Set("creation_host", LvmConfigValue.String(Host()));
        var segments = new List<LvmConfigSection>();
        if (options.Stripes == 1)
        {
            long start = 0;
            foreach (var (pv, pe, count) in allocator.AllocateLinear(extents))
            {
                segments.Add(Segment(segments.Count + 1, start, count, 1, 0, [(pv.Name, pe)]));
                start += count;
            }
        }
        else
        {
            var areas = allocator.AllocateStriped(options.Stripes, extents / options.Stripes);
            var list = new List<(string, long)>();
            foreach (var (pv, pe) in areas)
            {
                list.Add((pv.Name, pe));
            }

            segments.Add(Segment(1, 0, extents, options.Stripes, options.StripeSize / 512, list));
        }

        lv.Set("segment_count", LvmConfigValue.Int(segments.Count));
        foreach (LvmConfigSection s in segments)
        {
            lv.Set(s.Name, s);
        }

        LvmConfigSection lvs = _vg.GetSection("logical_volumes") ?? AddLogicalVolumesSection();
        lvs.Set(name, lv);
        Commit($"Write from DiskImage: create logical volume {Name}/{name}.");
        return GetLogicalVolume(name)!;
    }

    /// <summary>
    /// Grows a linear or striped logical volume to <paramref name="newSize"/> bytes (rounded up to whole
    /// extents), as <c>lvextend -L</c> does: the last segment grows in place when the extents after it are free,
    /// otherwise new segments are appended.
    /// </summary>
    /// <exception cref="ArgumentException">The LV does not exist, or the new size is smaller than the current one.</exception>
    /// <exception cref="NotSupportedException">The LV has segments other than linear or striped.</exception>
    /// <exception cref="InvalidOperationException">Not enough free extents, or the VG cannot be written.</exception>
    public LvmLogicalVolume ExtendLogicalVolume(string name, long newSize)
    {
        ThrowIfReadOnly();
        LvmLogicalVolume lv = GetLogicalVolume(name) ?? throw new ArgumentException($"Logical volume {Name}/{name} does not exist.", nameof(name));
        foreach (LvmSegment s in lv.Segments)
        {
            if (s.Type is not ("striped" or "linear"))
            {
                throw new NotSupportedException($"Logical volume {Name}/{name} has a \"{s.Type}\" segment; only linear and striped volumes can be extended.");
            }
        }

        LvmSegment last = lv.Segments[^1];
        int stripes = Math.Max(1, last.StripeCount);
        long target = ExtentsFor(newSize, stripes);
        if (target < lv.ExtentCount)
        {
            throw new ArgumentException($"The new size {newSize} is smaller than the current size {lv.Size}; shrinking is not supported.", nameof(newSize));
        }

        long more = target - lv.ExtentCount;
        if (more == 0)
        {
            return lv;
        }

        LvmConfigSection section = _vg.GetSection("logical_volumes")!.GetSection(name)!;
        var allocator = new LvmExtentAllocator(_contents);
        int count = lv.Segments.Count;
        if (stripes == 1)
        {
            LvmStripe area = last.Stripes[0];
            long grow = Math.Min(more, allocator.FreeAt(area.PhysicalVolume, area.StartExtent + last.ExtentCount));
            if (grow > 0)
            {
                allocator.Take(area.PhysicalVolume, area.StartExtent + last.ExtentCount, grow);
                LvmConfigSection lastSection = FindSegmentSection(section, last.StartExtent);
                lastSection.Set("extent_count", LvmConfigValue.Int(last.ExtentCount + grow));
                more -= grow;
            }

            long start = lv.ExtentCount + grow;
            if (more > 0)
            {
                foreach (var (pv, pe, n) in allocator.AllocateLinear(more))
                {
                    count++;
                    section.Set("segment" + count.ToString(CultureInfo.InvariantCulture), Segment(count, start, n, 1, 0, [(pv.Name, pe)]));
                    start += n;
                }
            }
        }
        else
        {
            var areas = allocator.AllocateStriped(stripes, more / stripes);
            var list = new List<(string, long)>();
            foreach (var (pv, pe) in areas)
            {
                list.Add((pv.Name, pe));
            }

            count++;
            section.Set("segment" + count.ToString(CultureInfo.InvariantCulture), Segment(count, lv.ExtentCount, more, stripes, last.StripeSize / 512, list));
        }

        section.Set("segment_count", LvmConfigValue.Int(count));
        Commit($"Write from DiskImage: extend logical volume {Name}/{name}.");
        return GetLogicalVolume(name)!;
    }

    /// <summary>
    /// Gives the VG, every PV and every LV new UUIDs (what <c>vgchange -u</c> and <c>pvchange -u</c> do, and LV ids
    /// too), so a cloned disk can be attached beside its original. The metadata is committed with seqno + 1 and
    /// each PV's label is rewritten with its new UUID.
    /// </summary>
    /// <param name="seed">A seed for reproducible UUIDs, or null for random ones.</param>
    /// <exception cref="InvalidOperationException">The VG cannot be written (a PV is missing or read-only).</exception>
    public void RegenerateUuids(int? seed = null)
    {
        ThrowIfReadOnly();
        Random? random = seed is int s ? new Random(s) : _random;
        _vg.Set("id", LvmConfigValue.String(LvmUuid.Format(LvmUuid.Generate(random))));
        var newPvIds = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (LvmConfigSection pv in _vg.GetSection("physical_volumes")!.Sections)
        {
            string old = LvmUuid.TryNormalize(pv.GetValue("id")!.Text!)!;
            string id = LvmUuid.Generate(random);
            newPvIds[old] = id;
            pv.Set("id", LvmConfigValue.String(LvmUuid.Format(id)));
        }

        if (_vg.GetSection("logical_volumes") is { } lvs)
        {
            foreach (LvmConfigSection lv in lvs.Sections)
            {
                lv.Set("id", LvmConfigValue.String(LvmUuid.Format(LvmUuid.Generate(random))));
            }
        }

        var relabelled = new List<(string, (BlockDevice, LvmLabel))>();
        foreach (KeyValuePair<string, (BlockDevice Device, LvmLabel Label)> e in _labels)
        {
            relabelled.Add((newPvIds[e.Key], (e.Value.Device, e.Value.Label.With(newPvIds[e.Key], e.Value.Label.ExtensionFlags))));
        }

        _labels.Clear();
        foreach (var (id, entry) in relabelled)
        {
            _labels[id] = entry;
        }

        Commit($"Write from DiskImage: regenerate the UUIDs of volume group {Name}.");
        foreach ((BlockDevice device, LvmLabel label) in _labels.Values)
        {
            label.Write(device, clearOtherSectors: false);
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({PhysicalVolumes.Count} PVs, {LogicalVolumes.Count} LVs, seqno {SequenceNumber})";

    /// <summary>Writes the tree as the next metadata version to every metadata area, then re-reads the model.</summary>
    private void Commit(string description)
    {
        long seqno = _vg.GetValue("seqno")!.Integer + 1;
        _vg.Set("seqno", LvmConfigValue.Int(seqno));
        LvmVolumeGroupContents contents = Import(); // never write what would not read back
        byte[] text = LvmVolumeGroupWriter.Export(_vg, Host(), Now(), description);
        foreach (LvmMetadataArea area in _areas)
        {
            if (!area.IsIgnored)
            {
                area.WriteText(text);
            }
        }

        foreach ((BlockDevice device, _) in _labels.Values)
        {
            device.Flush();
        }

        _contents = contents;
    }

    private LvmVolumeGroupContents Import() =>
        LvmMetadataImporter.Import(this, _vg, id => _labels.TryGetValue(id, out var found) ? found.Device : null);

    private void RefreshLabels()
    {
        foreach (string id in new List<string>(_labels.Keys))
        {
            BlockDevice device = _labels[id].Device;
            _labels[id] = (device, LvmLabel.TryRead(device)!);
        }
    }

    private LvmConfigSection AddLogicalVolumesSection()
    {
        var lvs = new LvmConfigSection("logical_volumes");
        _vg.Set("logical_volumes", lvs);
        return lvs;
    }

    private static LvmConfigSection FindSegmentSection(LvmConfigSection lv, long startExtent)
    {
        foreach (LvmConfigSection s in lv.Sections)
        {
            if (s.GetValue("start_extent") is { Kind: LvmConfigValueKind.Integer } v && v.Integer == startExtent)
            {
                return s;
            }
        }

        throw new InvalidOperationException($"No segment starts at extent {startExtent}.");
    }

    private static LvmConfigSection Segment(int number, long start, long count, int stripes, long stripeSectors, List<(string Pv, long Pe)> areas)
    {
        var s = new LvmConfigSection("segment" + number.ToString(CultureInfo.InvariantCulture));
        s.Set("start_extent", LvmConfigValue.Int(start));
        s.Set("extent_count", LvmConfigValue.Int(count));
        s.Set("type", LvmConfigValue.String("striped"));
        s.Set("stripe_count", LvmConfigValue.Int(stripes));
        if (stripes > 1)
        {
            s.Set("stripe_size", LvmConfigValue.Int(stripeSectors));
        }

        var items = new List<LvmConfigValue>();
        foreach (var (pv, pe) in areas)
        {
            items.Add(LvmConfigValue.String(pv));
            items.Add(LvmConfigValue.Int(pe));
        }

        s.Set("stripes", LvmConfigValue.Array(items));
        return s;
    }

    private long ExtentsFor(long size, int stripes)
    {
        long extents = (size / ExtentSize) + (size % ExtentSize == 0 ? 0 : 1);
        if (extents % stripes != 0)
        {
            extents += stripes - (extents % stripes);
        }

        return extents;
    }

    private DateTimeOffset Now() => _time ?? DateTimeOffset.UtcNow;

    private string Host() => _host ?? Environment.MachineName;

    private void ThrowIfReadOnly()
    {
        if (!CanWrite)
        {
            throw new InvalidOperationException($"Volume group {Name} cannot be changed: a physical volume is missing or its device is read-only.");
        }
    }
}
