using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>Header options changed in place (what <c>qemu-img amend</c> does for compat upgrades and lazy refcounts).</content>
public sealed partial class Qcow2Image
{
    /// <summary>
    /// Rewrites the header of the clean qcow2 image in <paramref name="host"/> (not open elsewhere for
    /// writing): <paramref name="upgradeToVersion3"/> turns a version 2 image into version 3 (16-bit
    /// refcounts as before, no feature bits, the feature name table added), <paramref name="lazyRefcounts"/>
    /// sets or clears the lazy refcounts bit (version 3 only), <paramref name="downgradeToVersion2"/> turns a
    /// version 3 image into version 2 as QEMU's header update writes it (72-byte header, no feature bits,
    /// no compression type, the feature name table dropped, every other extension kept; the rest of
    /// cluster 0 cleared). A downgrade must come after <see cref="ExpandZeroClusters"/> and the checks
    /// of <see cref="DowngradeRefusal"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">The header is malformed or the image is marked corrupt.</exception>
    /// <exception cref="InvalidOperationException">The image is dirty, or lazy refcounts are asked of a version 2 image.</exception>
    internal static void AmendHeader(BlockDevice host, bool upgradeToVersion3, bool? lazyRefcounts, bool downgradeToVersion2 = false)
    {
        Qcow2Header header = Qcow2HeaderValidator.ReadValidatedHeader(host, writable: true, forRepair: false);
        int oldEnd = header.HeaderLength + header.ExtensionAreaSize + (header.BackingFileNameBytes?.Length ?? 0);
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

        if (downgradeToVersion2 && header.Version >= 3)
        {
            header.Version = 2;
            header.HeaderLength = Qcow2Header.V2Length;
            header.IncompatibleFeatures = Qcow2IncompatibleFeatures.None;
            header.CompatibleFeatures = Qcow2CompatibleFeatures.None;
            header.AutoclearFeatures = Qcow2AutoclearFeatures.None;
            header.CompressionTypeByte = 0;
            header.Extensions.RemoveAll(e => e.Type == Qcow2HeaderExtension.FeatureNameTable);
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
        int written = Math.Min(Math.Max(end, oldEnd), cluster0.Length);
        cluster0.AsSpan(end, written - end).Clear();
        host.Write(0, cluster0.AsSpan(0, written));
        host.Flush();
    }

    /// <summary>
    /// Rebuilds the refcount structure of the clean version 3 image in <paramref name="host"/> (not
    /// open elsewhere for writing) with <paramref name="bits"/>-bit entries (1 to 64, a power of two),
    /// as <c>qemu-img amend -o refcount_bits=N</c> does; every stored refcount is kept.
    /// </summary>
    /// <returns>Null when done; QEMU's message when a refcount does not fit the new width (nothing written).</returns>
    /// <exception cref="InvalidDataException">The header or the refcount structure is malformed.</exception>
    /// <exception cref="InvalidOperationException">The image is dirty or version 2.</exception>
    internal static string? ChangeRefcountBits(BlockDevice host, int bits)
    {
        if (bits is < 1 or > 64 || (bits & (bits - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "The refcount width must be a power of two from 1 to 64.");
        }

        Qcow2Header header = Qcow2HeaderValidator.ReadValidatedHeader(host, writable: true, forRepair: false);
        if ((header.IncompatibleFeatures & Qcow2IncompatibleFeatures.Dirty) != 0)
        {
            throw new InvalidOperationException("The image is dirty; open it for writing once (which repairs it) before amending it.");
        }

        if (header.Version < 3)
        {
            throw new InvalidOperationException("Refcount widths other than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
        }

        return Qcow2Checker.ChangeRefcountOrder(host, System.Numerics.BitOperations.Log2((uint)bits));
    }

    /// <summary>Whether the qcow2 header in <paramref name="host"/> names an external data file (incompatible bit 2 or the extension).</summary>
    internal static bool NamesExternalDataFile(BlockDevice host)
    {
        Qcow2Header header = Qcow2HeaderValidator.ReadValidatedHeader(host, writable: false, forRepair: true);
        return (header.IncompatibleFeatures & Qcow2IncompatibleFeatures.ExternalDataFile) != 0 || header.ExternalDataFileName is not null;
    }
}
