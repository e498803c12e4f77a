using DiskImage.IO;

namespace DiskImage.Guests;

/// <summary>What an <see cref="IGuestVolumeProvider"/> found: new volumes and the groups that hold them.</summary>
internal sealed record GuestProviderResult(IReadOnlyList<GuestProvidedVolume> Volumes, IReadOnlyList<GuestVolumeGroupInfo> Groups)
{
    /// <summary>Nothing found.</summary>
    public static GuestProviderResult Empty { get; } = new([], []);
}

/// <summary>A volume built by a provider: its name (<c>/dev/VG/LV</c>), other names, parent (<c>/dev/VG</c>), UUID and device.</summary>
internal sealed record GuestProvidedVolume(string Name, IReadOnlyList<string> Aliases, string Parent, string? Uuid, BlockDevice Device);

/// <summary>A volume group as <c>virt-filesystems --volume-groups</c> lists it: name (<c>/dev/VG</c>), UUID, size and its PVs' names.</summary>
internal sealed record GuestVolumeGroupInfo(string Name, string Uuid, long Size, IReadOnlyList<string> PhysicalVolumes);
