using System.Text;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// Rewrites a guest's <c>/etc/fstab</c> for a partition image: <c>/</c> is mounted by <c>LABEL=</c> the image's label
/// with the image's file-system type; the other mounts of the guest's own file systems (merged into the image) are
/// commented out; everything else (swap, tmpfs, network mounts) is kept.
/// </summary>
internal static class FstabRewriter
{
    public const string MergedPrefix = "# merged into the partition image: ";

    /// <param name="text">The current fstab, or null when there is none.</param>
    /// <param name="label">The root file system's label.</param>
    /// <param name="fileSystemType">The root file system's type (<c>xfs</c>, <c>ext4</c>).</param>
    /// <param name="mergedMountPoints">The guest's mount points (besides <c>/</c>) whose file systems are now part of the root.</param>
    public static string Rewrite(string? text, string label, string fileSystemType, IReadOnlyCollection<string> mergedMountPoints)
    {
        var b = new StringBuilder();
        bool root = false;
        string rootLine = $"LABEL={label} / {fileSystemType} defaults 0 1";
        foreach (FstabLine l in FstabLine.Parse(text))
        {
            string line = l.Text;
            if (l.Fields is not { } f)
            {
                b.Append(line).Append('\n');
            }
            else if (l.MountPoint == "/")
            {
                if (!root)
                {
                    string options = f.Length > 3 ? f[3] : "defaults";
                    string dump = f.Length > 4 ? f[4] : "0";
                    string pass = f.Length > 5 ? f[5] : "1";
                    b.Append("LABEL=").Append(label).Append(" / ").Append(fileSystemType).Append(' ')
                        .Append(f.Length > 2 && f[2] == fileSystemType ? options : "defaults").Append(' ').Append(dump).Append(' ').Append(pass).Append('\n');
                    root = true;
                }
                else
                {
                    b.Append(MergedPrefix).Append(line).Append('\n');
                }
            }
            else if (IsMerged(l.MountPoint, mergedMountPoints))
            {
                b.Append(MergedPrefix).Append(line).Append('\n');
            }
            else
            {
                b.Append(line).Append('\n');
            }
        }

        if (!root)
        {
            b.Append(rootLine).Append('\n');
        }

        return b.ToString();
    }

    private static bool IsMerged(string mountPoint, IReadOnlyCollection<string> merged)
    {
        foreach (string m in merged)
        {
            if (FstabLine.NormalizeMountPoint(m) == mountPoint)
            {
                return true;
            }
        }

        return false;
    }
}
