namespace DiskImage.Guests;

/// <summary>
/// Assembles volumes out of volumes already found (the seam through which LVM logical volumes join a
/// <see cref="Guest"/>): given every partition or whole disk, a provider returns the volumes it builds from
/// them. Providers are listed in <see cref="GuestVolumeProviders"/>.
/// </summary>
internal interface IGuestVolumeProvider
{
    /// <summary>
    /// Returns the volumes built from <paramref name="volumes"/> (LVM: the visible LVs of every VG whose PVs are
    /// all present) and the groups they belong to. The devices returned are owned by the guest, which disposes them.
    /// </summary>
    /// <param name="volumes">The volumes found so far; <see cref="GuestVolume.FileSystemType"/> tells which are LVM PVs.</param>
    /// <param name="writable">Whether the returned devices must accept writes.</param>
    /// <exception cref="InvalidDataException">The provider's metadata is malformed.</exception>
    GuestProviderResult FindVolumes(IReadOnlyList<GuestVolume> volumes, bool writable);
}
