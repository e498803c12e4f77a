namespace DiskImage.Formats.Qcow2;

/// <summary>The outcome of <see cref="Qcow2Image.Measure(long, Qcow2CreateOptions?)"/>: <c>qemu-img measure</c>'s figures, in bytes.</summary>
/// <param name="Required">Bytes the new image needs for the data at hand plus all metadata (<c>required</c>).</param>
/// <param name="FullyAllocated">Bytes the image needs when every guest cluster is allocated (<c>fully-allocated</c>).</param>
/// <param name="Bitmaps">Bytes for the source's persistent dirty bitmaps (<c>bitmaps</c>), or <see langword="null"/> when qemu-img omits the field (no version 3 qcow2 source, or a version 2 target).</param>
public sealed record Qcow2MeasureResult(long Required, long FullyAllocated, long? Bitmaps);
