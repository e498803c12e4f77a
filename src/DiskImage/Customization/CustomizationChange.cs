namespace DiskImage.Customization;

/// <summary>One change made (or, in a dry run, planned) by a customization.</summary>
/// <param name="Path">The absolute path inside the file system, with symbolic links resolved.</param>
/// <param name="Kind">What happened to it.</param>
/// <param name="Operation">The operation that made the change, as written (<c>--write /etc/x:y</c>).</param>
public sealed record CustomizationChange(string Path, CustomizationChangeKind Kind, string Operation);
