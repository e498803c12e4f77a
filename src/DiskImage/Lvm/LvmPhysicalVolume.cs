using DiskImage.IO;

namespace DiskImage.Lvm;

/// <summary>
/// An LVM2 physical volume: a device (a whole disk or a partition) with an LVM label, as a volume group's
/// metadata describes it (<c>physical_volumes { pv0 { ... } }</c>).
/// </summary>
public sealed class LvmPhysicalVolume
{
    internal LvmPhysicalVolume(string name, string uuid, BlockDevice? device, long deviceSize, long dataOffset, long extentCount, IReadOnlyList<string> status)
    {
        Name = name;
        Uuid = uuid;
        Device = device;
        DeviceSize = deviceSize;
        DataOffset = dataOffset;
        ExtentCount = extentCount;
        Status = status;
    }

    /// <summary>The PV's name inside its volume group (<c>pv0</c>, <c>pv1</c>; names are per VG). Empty for a PV in no VG.</summary>
    public string Name { get; }

    /// <summary>The PV UUID in LVM's display form (<c>v0nQZe-Imay-TI0F-oGLT-JA5F-BUaA-9lkfnU</c>).</summary>
    public string Uuid { get; }

    /// <summary>The device holding the PV, or null when none of the devices given carries its label (a missing PV).</summary>
    public BlockDevice? Device { get; }

    /// <summary>Whether the PV's device was not among the devices given.</summary>
    public bool IsMissing => Device is null;

    /// <summary>The device size the metadata records (<c>dev_size</c> × 512; the pv_header's for a PV in no VG), in bytes.</summary>
    public long DeviceSize { get; }

    /// <summary>The byte offset of the first physical extent on the device (<c>pe_start</c> × 512).</summary>
    public long DataOffset { get; }

    /// <summary>The number of physical extents (<c>pe_count</c>).</summary>
    public long ExtentCount { get; }

    /// <summary>The status words (<c>ALLOCATABLE</c>, <c>EXPORTED</c>, <c>MISSING</c>).</summary>
    public IReadOnlyList<string> Status { get; }

    /// <summary>
    /// Whether <paramref name="device"/> carries a well-formed LVM2 label (<c>LABELONE</c>, type <c>LVM2 001</c>,
    /// a correct CRC) in one of its first four sectors. Detection is by label, never by partition type.
    /// </summary>
    public static bool IsPhysicalVolume(BlockDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return LvmLabel.Probe(device);
    }

    /// <summary>
    /// Makes <paramref name="device"/> a physical volume in no volume group, as <c>pvcreate</c> does: the label
    /// in sector 1 (sectors 0, 2 and 3 zeroed), one empty metadata area at 4 KiB, data from 1 MiB.
    /// </summary>
    /// <param name="device">The device (a disk or a partition); it is borrowed, not disposed.</param>
    /// <param name="options">The UUID and layout; null means <see cref="LvmPhysicalVolumeCreateOptions.Default"/>.</param>
    /// <returns>The new PV (<see cref="Name"/> empty, no extents until a VG takes it).</returns>
    /// <exception cref="ArgumentException">The device is too small for the metadata area and one extent.</exception>
    /// <exception cref="NotSupportedException">The device is read-only.</exception>
    public static LvmPhysicalVolume Create(BlockDevice device, LvmPhysicalVolumeCreateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        options ??= LvmPhysicalVolumeCreateOptions.Default;
        if (!device.CanWrite)
        {
            throw new NotSupportedException("The device is read-only; a physical volume cannot be created on it.");
        }

        LvmLabel label = LvmVolumeGroupWriter.WritePhysicalVolume(device, options.Uuid is null ? null : Normalize(options.Uuid), options.DataOffset, random: null);
        return new LvmPhysicalVolume(string.Empty, LvmUuid.Format(label.Uuid), device, (long)label.DeviceSize, options.DataOffset, 0, []);
    }

    internal static string Normalize(string uuid) =>
        LvmUuid.TryNormalize(uuid) ?? throw new ArgumentException($"\"{uuid}\" is not an LVM UUID (32 characters from [0-9A-Za-z], hyphens optional).", nameof(uuid));

    /// <inheritdoc />
    public override string ToString() => $"{Name} {Uuid}";
}
