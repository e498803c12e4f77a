using System.Numerics;

namespace DiskImage.Formats.Qcow2;

/// <summary>Options for a new qcow2 image; defaults match <c>qemu-img create -f qcow2</c>.</summary>
public sealed class Qcow2CreateOptions
{
    private int _version = 3;
    private int _clusterSize = 65536;
    private int _refcountBits = 16;

    /// <summary>Header version: 3 (compat 1.1, default) or 2 (compat 0.10).</summary>
    public int Version
    {
        get => _version;
        init
        {
            if (value is not (2 or 3))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "qcow2 version must be 2 or 3.");
            }

            _version = value;
        }
    }

    /// <summary>Cluster size, a power of two from 512 B to 2 MiB. Default 64 KiB.</summary>
    public int ClusterSize
    {
        get => _clusterSize;
        init
        {
            if (value < 512 || value > 2 * 1024 * 1024 || !BitOperations.IsPow2(value))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "Cluster size must be a power of two between 512 and 2097152.");
            }

            _clusterSize = value;
        }
    }

    /// <summary>Refcount width in bits, a power of two from 1 to 64. Default 16 (the only width of v2).</summary>
    public int RefcountBits
    {
        get => _refcountBits;
        init
        {
            if (value is < 1 or > 64 || !BitOperations.IsPow2(value))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "Refcount bits must be a power of two between 1 and 64.");
            }

            _refcountBits = value;
        }
    }

    /// <summary>Codec for compressed clusters. Default deflate; zstd needs version 3.</summary>
    public Qcow2CompressionType CompressionType { get; init; }

    /// <summary>Use 128-bit L2 entries with 32 subclusters (version 3, cluster size ≥ 16 KiB).</summary>
    public bool ExtendedL2 { get; init; }

    /// <summary>Set the lazy-refcounts compatible bit (version 3). Default off.</summary>
    public bool LazyRefcounts { get; init; }

    /// <summary>Backing file name stored in the image, or <see langword="null"/>.</summary>
    public string? BackingFile { get; init; }

    /// <summary>Backing file format name stored in the image ("qcow2" or "raw"); required with <see cref="BackingFile"/>.</summary>
    public DiskImageFormat? BackingFormat { get; init; }

    /// <summary>Preallocation mode. Default <see cref="Qcow2Preallocation.Off"/>.</summary>
    public Qcow2Preallocation Preallocation { get; init; }

    /// <summary>
    /// Encrypts the image with LUKS (<c>encrypt.format=luks</c>): a LUKS1 header in clusters named by
    /// the full disk encryption header extension, and every data cluster AES-XTS-encrypted with the
    /// host offset as the sector number. Default <see langword="null"/>: not encrypted.
    /// </summary>
    public Luks.LuksCreateOptions? Encryption { get; init; }

    /// <summary>Shared default instance.</summary>
    public static Qcow2CreateOptions Default { get; } = new();
}
