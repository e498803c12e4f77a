namespace DiskImage.Conversion;

/// <summary>Options for <see cref="BlockCopier"/>.</summary>
public sealed class BlockCopyOptions
{
    /// <summary>Largest accepted <see cref="SparseSize"/>.</summary>
    public const int MaxSparseSize = 16 * 1024 * 1024;

    private int _sparseSize = 4096;
    private int _chunkSize = 1024 * 1024;
    private int _maxDegreeOfParallelism = Environment.ProcessorCount;

    /// <summary>
    /// Aligned blocks of this many bytes that read as zeros are not written (<c>qemu-img convert -S</c>):
    /// they are skipped when <see cref="TargetIsZero"/>, otherwise zeroed with
    /// <see cref="IO.BlockDevice.WriteZeroes(long, long)"/>. 0 copies every byte as data, including
    /// ranges the source reports as unallocated (a fully allocated copy). Default 4096.
    /// </summary>
    public int SparseSize
    {
        get => _sparseSize;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxSparseSize);
            _sparseSize = value;
        }
    }

    /// <summary>Whether the target already reads as zeros everywhere (a new image), so zero ranges need no write. Default false.</summary>
    public bool TargetIsZero { get; init; }

    /// <summary>Bytes read per step; rounded up to a multiple of <see cref="SparseSize"/>. Default 1 MiB.</summary>
    public int ChunkSize
    {
        get => _chunkSize;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 512);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 64 * 1024 * 1024);
            _chunkSize = value;
        }
    }

    /// <summary>Threads that read (and inspect) the source while the calling thread writes. Default <see cref="Environment.ProcessorCount"/>.</summary>
    public int MaxDegreeOfParallelism
    {
        get => _maxDegreeOfParallelism;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value);
            _maxDegreeOfParallelism = value;
        }
    }

    /// <summary>Shared default instance.</summary>
    public static BlockCopyOptions Default { get; } = new();
}
