using System.Globalization;
using System.Text.RegularExpressions;

namespace DiskImage.Guests;

/// <summary>
/// Resolves an fstab spec to a volume of the guest the way libguestfs' inspection does, plus NVMe names:
/// <c>UUID=</c>, <c>LABEL=</c>, <c>PARTUUID=</c>, <c>PARTLABEL=</c> (and their <c>/dev/disk/by-*</c> forms),
/// <c>/dev/root</c>, <c>/dev/mapper/VG-LV</c>, <c>/dev/VG/LV</c>, <c>/dev/disk/by-id/dm-uuid-LVM-…</c>,
/// <c>/dev/(h|s|v|xv)dXN</c> and <c>/dev/nvmeCnNSpN</c> (both mapped by disk letter/namespace to <c>/dev/sdXN</c>).
/// </summary>
internal static partial class GuestDeviceResolver
{
    /// <summary>The volume name <paramref name="spec"/> names, or null when it names none of the guest's volumes.</summary>
    public static string? Resolve(Guest guest, string spec, string rootDevice)
    {
        if (TryTag(spec, "UUID=", out string? value) || TryTag(spec, "/dev/disk/by-uuid/", out value))
        {
            return Find(guest, v => string.Equals(v.Uuid, value, StringComparison.OrdinalIgnoreCase));
        }

        if (TryTag(spec, "LABEL=", out value) || TryTag(spec, "/dev/disk/by-label/", out value))
        {
            return Find(guest, v => v.Label == value);
        }

        if (TryTag(spec, "PARTUUID=", out value) || TryTag(spec, "/dev/disk/by-partuuid/", out value))
        {
            return Find(guest, v => string.Equals(v.PartitionUuid, value, StringComparison.OrdinalIgnoreCase));
        }

        if (TryTag(spec, "PARTLABEL=", out value) || TryTag(spec, "/dev/disk/by-partlabel/", out value))
        {
            return Find(guest, v => v.PartitionLabel == value);
        }

        if (spec == "/dev/root")
        {
            return rootDevice;
        }

        if (TryTag(spec, "/dev/disk/by-id/dm-uuid-LVM-", out value) && value.Length == 64)
        {
            string lv = value[32..];
            return Find(guest, v => v.LogicalVolumeUuid is { } u && string.Equals(u.Replace("-", string.Empty, StringComparison.Ordinal), lv, StringComparison.Ordinal));
        }

        if (TryTag(spec, "/dev/mapper/", out value))
        {
            return SplitMapperName(value) is { } vgLv ? Find(guest, v => v.HasName("/dev/" + vgLv)) : null;
        }

        Match m = DiskName().Match(spec);
        if (m.Success)
        {
            int index = DiskIndex(m.Groups[2].Value);
            return index == 0 ? Partition(guest, m.Groups[3].Value) : null;
        }

        m = NvmeName().Match(spec);
        if (m.Success)
        {
            return int.TryParse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int ns) && ns == 1
                ? Partition(guest, m.Groups[4].Value)
                : null;
        }

        m = ByIdPartition().Match(spec);
        if (m.Success)
        {
            return Partition(guest, m.Groups[1].Value);
        }

        if (spec.StartsWith("/dev/", StringComparison.Ordinal) && spec.Count(c => c == '/') == 3)
        {
            // /dev/VG/LV.
            return Find(guest, v => v.Kind == GuestVolumeKind.LogicalVolume && v.HasName(spec));
        }

        return null;
    }

    /// <summary>Whether the spec names a floppy or CD (libguestfs skips them without a warning).</summary>
    public static bool IsRemovable(string spec) => Removable().IsMatch(spec);

    /// <summary>
    /// Splits a device-mapper name into <c>VG/LV</c>: the single '-' that is not part of a "--" pair separates
    /// them, and "--" stands for '-'. Returns null when there is no such separator.
    /// </summary>
    internal static string? SplitMapperName(string name)
    {
        for (int i = 0; i < name.Length; i++)
        {
            if (name[i] != '-')
            {
                continue;
            }

            if (i + 1 < name.Length && name[i + 1] == '-')
            {
                i++;
                continue;
            }

            if (i == 0 || i == name.Length - 1)
            {
                return null;
            }

            return name[..i].Replace("--", "-", StringComparison.Ordinal) + "/" + name[(i + 1)..].Replace("--", "-", StringComparison.Ordinal);
        }

        return null;
    }

    /// <summary>The disk index of drive letters: a=0 … z=25, aa=26 …</summary>
    internal static int DiskIndex(string letters)
    {
        int index = 0;
        foreach (char c in letters)
        {
            if (index > 100_000)
            {
                return -1;
            }

            index = (index * 26) + (c - 'a' + 1);
        }

        return index - 1;
    }

    private static string? Partition(Guest guest, string number)
    {
        string name = Guest.DiskName + number;
        return Find(guest, v => v.Name == name);
    }

    private static bool TryTag(string spec, string prefix, out string value)
    {
        if (spec.StartsWith(prefix, StringComparison.Ordinal))
        {
            value = spec[prefix.Length..];
            if (value.Length >= 2 && ((value[0] == '"' && value[^1] == '"') || (value[0] == '\'' && value[^1] == '\'')))
            {
                value = value[1..^1];
            }

            return true;
        }

        value = string.Empty;
        return false;
    }

    private static string? Find(Guest guest, Func<GuestVolume, bool> match)
    {
        foreach (GuestVolume v in guest.Volumes)
        {
            if (match(v))
            {
                return v.Name;
            }
        }

        return null;
    }

    [GeneratedRegex(@"^/dev/(h|s|v|xv)d([a-z]{1,4})(\d*)$", RegexOptions.CultureInvariant)]
    private static partial Regex DiskName();

    [GeneratedRegex(@"^/dev/nvme(\d{1,4})n(\d{1,4})(p(\d{1,4}))?$", RegexOptions.CultureInvariant)]
    private static partial Regex NvmeName();

    [GeneratedRegex(@"^/dev/disk/by-id/[^/]+-part(\d{1,4})$", RegexOptions.CultureInvariant)]
    private static partial Regex ByIdPartition();

    [GeneratedRegex(@"^/dev/(fd\d*|cd\d*|floppy|cdrom|iso9660/.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex Removable();
}
