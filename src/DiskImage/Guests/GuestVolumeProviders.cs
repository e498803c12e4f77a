namespace DiskImage.Guests;

/// <summary>
/// The providers <see cref="Guest.Open(IO.BlockDevice, GuestOpenOptions?, bool)"/> asks for volumes built out of
/// partitions (LVM logical volumes join here once the LVM reader exists). Until then an LVM PV is listed as a
/// volume of type <see cref="GuestFileSystemType.LvmPhysicalVolume"/> and its LVs are not opened.
/// </summary>
internal static class GuestVolumeProviders
{
    /// <summary>The providers, asked in order.</summary>
    public static IReadOnlyList<IGuestVolumeProvider> All { get; } = [];
}
