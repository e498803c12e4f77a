using System.Text;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// Rewrites a guest's <c>/etc/fstab</c> for a whole-disk image: one line per volume of the new layout
/// (<c>LABEL=</c> when the volume has a label, else <c>UUID=</c>, as diskimage-builder writes it), in mount order;
/// the guest's lines for those mount points and for its own file systems (now merged into the new volumes) are
/// commented out; everything else (swap files, tmpfs, network mounts) is kept.
/// </summary>
internal static class WholeDiskFstabWriter
{
    public const string ReplacedPrefix = "# replaced by the whole-disk layout: ";

    /// <param name="text">The current fstab, or null when there is none.</param>
    /// <param name="volumes">The new layout's volumes: source (<c>LABEL=x</c>, <c>UUID=y</c>), mount point, type, options, pass number.</param>
    /// <param name="guestMountPoints">The guest's own mount points (their file systems' content is now on the new volumes).</param>
    public static string Rewrite(string? text, IReadOnlyList<(string Source, string MountPoint, string Type, string Options, int Pass)> volumes, IReadOnlyCollection<string> guestMountPoints)
    {
        var b = new StringBuilder();
        foreach (FstabLine l in FstabLine.Parse(text))
        {
            bool replaced = l.Fields is not null && l.MountPoint == "/";
            foreach ((string _, string m, string _, string _, int _) in volumes)
            {
                replaced |= l.Fields is not null && m == l.MountPoint;
            }

            foreach (string m in guestMountPoints)
            {
                replaced |= l.Fields is not null && FstabLine.NormalizeMountPoint(m) == l.MountPoint;
            }

            b.Append(replaced ? ReplacedPrefix : string.Empty).Append(l.Text).Append('\n');
        }

        var sorted = new List<(string Source, string MountPoint, string Type, string Options, int Pass)>(volumes);
        sorted.Sort(static (x, y) => string.CompareOrdinal(x.MountPoint, y.MountPoint));
        foreach ((string source, string mountPoint, string type, string options, int pass) in sorted)
        {
            b.Append(source).Append(' ').Append(mountPoint.Replace(" ", "\\040", StringComparison.Ordinal)).Append(' ').Append(type).Append(' ')
                .Append(options).Append(" 0 ").Append(pass).Append('\n');
        }

        return b.ToString();
    }
}
