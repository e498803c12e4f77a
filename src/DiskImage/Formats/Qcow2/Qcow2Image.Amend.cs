using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>Header options changed in place (what <c>qemu-img amend</c> does for compat upgrades and lazy refcounts).</content>
public sealed partial class Qcow2Image
{
    /// <summary>
    /// Rewrites the header of the clean qcow2 image in <paramref name="host"/> (not open elsewhere for
    /// writing): <paramref name="upgradeToVersion3"/> turns a version 2 image into version 3 (16-bit
    /// refcounts as before, no feature bits, the feature name table added), <paramref name="lazyRefcounts"/>
    /// sets or clears the lazy refcounts bit (version 3 only).
    /// </summary>
    /// <exception cref="InvalidDataException">The header is malformed or the image is marked corrupt.</exception>
    /// <exception cref="InvalidOperationException">The image is dirty, or lazy refcounts are asked of a version 2 image.</exception>
    internal static void AmendHeader(BlockDevice host, bool upgradeToVersion3, bool? lazyRefcounts)
    {
        Qcow2Header header = Qcow2HeaderValidator.ReadValidatedHeader(host, writable: true, forRepair: false);
        if ((header.IncompatibleFeatures & Qcow2IncompatibleFeatures.Dirty) != 0)
        {
            throw new InvalidOperationException("The image is dirty; open it for writing once (which repairs it) before amending it.");
        }

        if (upgradeToVersion3 && header.Version < 3)
        {
            header.Version = 3;
            header.HeaderLength = Qcow2Header.V3DefaultLength;
            header.IncompatibleFeatures = Qcow2IncompatibleFeatures.None;
            header.CompatibleFeatures = Qcow2CompatibleFeatures.None;
            header.AutoclearFeatures = Qcow2AutoclearFeatures.None;
            header.RefcountOrder = 4;
            header.CompressionTypeByte = 0;
            if (header.FindExtension(Qcow2HeaderExtension.FeatureNameTable) is null)
            {
                int at = header.Extensions.FindIndex(e => e.Type == Qcow2HeaderExtension.BackingFormat) + 1;
                header.Extensions.Insert(at, new Qcow2HeaderExtension(Qcow2HeaderExtension.FeatureNameTable, Qcow2FeatureName.WriteTable(Qcow2FeatureName.Standard)));
            }
        }

        if (lazyRefcounts is { } lazy)
        {
            if (header.Version < 3)
            {
                throw new InvalidOperationException("Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
            }

            header.CompatibleFeatures = lazy
                ? header.CompatibleFeatures | Qcow2CompatibleFeatures.LazyRefcounts
                : header.CompatibleFeatures & ~Qcow2CompatibleFeatures.LazyRefcounts;
        }

        byte[] cluster0 = new byte[header.ClusterSize];
        int read = host.Read(0, cluster0);
        cluster0.AsSpan(read).Clear();
        int end = header.HeaderLength + header.ExtensionAreaSize + (header.BackingFileNameBytes?.Length ?? 0);
        if (end > cluster0.Length)
        {
            throw new IOException("No space left on device");
        }

        header.WriteTo(cluster0);
        host.Write(0, cluster0.AsSpan(0, end));
        host.Flush();
    }
}
