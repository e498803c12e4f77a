namespace DiskImage.Guests;

/// <summary>
/// The providers <see cref="Guest.Open(IO.BlockDevice, GuestOpenOptions?, bool)"/> asks for volumes built out of
/// partitions: LVM2 logical volumes (<see cref="LvmGuestVolumeProvider"/>).
/// </summary>
internal static class GuestVolumeProviders
{
    /// <summary>The providers, asked in order.</summary>
    public static IReadOnlyList<IGuestVolumeProvider> All { get; } = [new LvmGuestVolumeProvider()];
}
