using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <summary>
/// A qcow2 image (versions 2 and 3). <see cref="DiskImageFile.Content"/> is the guest view: reads
/// follow the backing chain, writes allocate clusters and copy-on-write from the backing chain.
/// </summary>
/// <remarks>
/// Writes keep the image consistent at every step (data before L2, L2 before L1, refcount
/// increments before the reference), so a crash can leak clusters but never corrupt the image.
/// Concurrent reads are safe; writes are serialized internally.
/// </remarks>
public sealed partial class Qcow2Image : DiskImageFile
{
    /// <summary>The magic at offset 0: "QFI\xfb".</summary>
    public const uint Magic = 0x514649FB;

    /// <summary>Whether <paramref name="header"/> starts with the qcow2 magic.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> header) =>
        header.Length >= 4 && System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header) == Magic;

    /// <summary>Opens the qcow2 image at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The image is malformed.</exception>
    /// <exception cref="NotSupportedException">The image uses a feature this library does not implement (named in the message), or names a backing/data file that the policy denies.</exception>
    public static new Qcow2Image Open(string path, DiskImageOpenOptions? options = null) => throw new NotImplementedException();

    /// <summary>Opens a qcow2 image stored in <paramref name="host"/>. Backing files named by the image resolve against <paramref name="fileName"/>'s directory (or the current directory).</summary>
    public static Qcow2Image Open(BlockDevice host, DiskImageOpenOptions? options = null, bool leaveOpen = false, string? fileName = null) => throw new NotImplementedException();

    /// <summary>Creates a new image file (overwriting) of <paramref name="virtualSize"/> bytes, opened writable.</summary>
    public static Qcow2Image Create(string path, long virtualSize, Qcow2CreateOptions? options = null) => throw new NotImplementedException();

    /// <summary>Creates a new image in an empty, resizable <paramref name="host"/>, opened writable.</summary>
    public static Qcow2Image Create(BlockDevice host, long virtualSize, Qcow2CreateOptions? options = null, bool leaveOpen = false) => throw new NotImplementedException();

    /// <inheritdoc />
    public override DiskImageFormat Format => DiskImageFormat.Qcow2;

    /// <inheritdoc />
    public override BlockDevice Content => throw new NotImplementedException();

    /// <inheritdoc />
    public override string? FileName => throw new NotImplementedException();

    /// <inheritdoc />
    public override ImageInfo GetInfo() => throw new NotImplementedException();

    /// <summary>Header version, 2 or 3.</summary>
    public int Version => throw new NotImplementedException();

    /// <summary>Cluster size in bytes.</summary>
    public int ClusterSize => throw new NotImplementedException();

    /// <summary>Codec used for compressed clusters.</summary>
    public Qcow2CompressionType CompressionType => throw new NotImplementedException();

    /// <summary>Whether the image was opened for writing.</summary>
    public bool IsWritable => throw new NotImplementedException();

    /// <summary>Internal snapshots, in table order.</summary>
    public IReadOnlyList<Qcow2Snapshot> Snapshots => throw new NotImplementedException();

    /// <summary>The opened backing image, or <see langword="null"/>.</summary>
    public DiskImageFile? Backing => throw new NotImplementedException();

    /// <summary>A read-only view of the guest disk as it was when <paramref name="snapshot"/> was taken.</summary>
    public BlockDevice OpenSnapshot(Qcow2Snapshot snapshot) => throw new NotImplementedException();

    /// <summary>
    /// Changes the virtual size. Growing is always allowed; shrinking only when nothing is allocated
    /// past the new end (otherwise <see cref="InvalidOperationException"/>).
    /// </summary>
    public void Resize(long newVirtualSize) => throw new NotImplementedException();

    /// <summary>
    /// Stores already-compressed data for the guest cluster at <paramref name="guestOffset"/> (cluster
    /// aligned; the cluster must be unallocated). <paramref name="compressedData"/> comes from
    /// <see cref="Qcow2Compression.TryCompress"/> with this image's <see cref="CompressionType"/> and
    /// <see cref="ClusterSize"/>. Compressed clusters are packed byte-contiguously after each other.
    /// </summary>
    public void WriteCompressedCluster(long guestOffset, ReadOnlySpan<byte> compressedData) => throw new NotImplementedException();

    /// <inheritdoc />
    protected override void Dispose(bool disposing) => throw new NotImplementedException();
}
