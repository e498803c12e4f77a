namespace DiskImage.Conversion;

/// <summary>Progress of a conversion or copy: bytes of the source processed out of the total.</summary>
/// <param name="Processed">Bytes of the source handled so far (copied or skipped as sparse).</param>
/// <param name="Total">Source length in bytes.</param>
public readonly record struct ConvertProgress(long Processed, long Total)
{
    /// <summary>Completion in percent (0–100).</summary>
    public double Percent => Total == 0 ? 100 : Processed * 100.0 / Total;
}
