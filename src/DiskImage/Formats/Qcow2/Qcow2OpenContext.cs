namespace DiskImage.Formats.Qcow2;

/// <summary>State shared while opening a backing chain: files seen (loop detection) and depth.</summary>
internal sealed class Qcow2OpenContext
{
    public HashSet<string> Visited { get; } = new(StringComparer.Ordinal);

    public int Depth { get; set; }
}
