using System.Globalization;

namespace DiskImage.Archives.Cpio;

/// <summary>How <see cref="CpioArchiveBuilder"/> turns a tree into an archive.</summary>
public sealed class CpioBuildOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static CpioBuildOptions Default { get; } = new();

    /// <summary>Header variant (default newc).</summary>
    public CpioFormat Format { get; init; } = CpioFormat.Newc;

    /// <summary>
    /// Byte-identical output for the same tree content: modification times are clamped to
    /// <see cref="ModificationTimeClamp"/>, or to <c>SOURCE_DATE_EPOCH</c> when that is set, or else to
    /// 0. (Entries are always sorted and inodes always numbered deterministically.)
    /// </summary>
    public bool Reproducible { get; init; }

    /// <summary>Modification times later than this are set to it (also without <see cref="Reproducible"/>).</summary>
    public DateTimeOffset? ModificationTimeClamp { get; init; }

    /// <summary>When set, every entry gets this owner (e.g. 0 for root).</summary>
    public uint? Uid { get; init; }

    /// <summary>When set, every entry gets this group (e.g. 0 for root).</summary>
    public uint? Gid { get; init; }

    /// <summary>Align regular file data to this many bytes via name padding (0 = off; see <see cref="CpioWriter.DataAlignment"/>).</summary>
    public int DataAlignment { get; init; }

    /// <summary>Pad the archive after the trailer to a multiple of this (default 512).</summary>
    public int TrailerAlignment { get; init; } = 512;

    /// <summary>The clamp in effect, in Unix seconds, or null when times are kept.</summary>
    internal long? EffectiveClamp()
    {
        if (ModificationTimeClamp is { } clamp)
        {
            return Math.Max(0, clamp.ToUnixTimeSeconds());
        }

        if (!Reproducible)
        {
            return null;
        }

        string? epoch = Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
        if (!string.IsNullOrWhiteSpace(epoch))
        {
            if (!long.TryParse(epoch.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long seconds))
            {
                throw new InvalidOperationException($"SOURCE_DATE_EPOCH '{epoch}' is not a number of seconds.");
            }

            return seconds;
        }

        return 0;
    }
}
