namespace DiskImage.Archives.Cpio;

/// <summary>How <see cref="Initramfs.Unpack(Stream, string, InitramfsExtractOptions?, CancellationToken)"/> materializes an image on the host.</summary>
public sealed class InitramfsExtractOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static InitramfsExtractOptions Default { get; } = new();

    /// <summary>Limits for reading the image.</summary>
    public InitramfsReaderOptions Reader { get; init; } = new();

    /// <summary>Apply the archived owners (default: when running privileged).</summary>
    public bool PreserveOwnership { get; init; } = Environment.IsPrivilegedProcess;

    /// <summary>Create device nodes, FIFOs and sockets (default true; those the host refuses are listed as skipped).</summary>
    public bool CreateSpecialFiles { get; init; } = true;

    /// <summary>Apply archived modification times (default true; directories after their children, as the kernel does).</summary>
    public bool PreserveModificationTimes { get; init; } = true;
}

/// <summary>What an unpack did.</summary>
public sealed class InitramfsExtractResult
{
    internal InitramfsExtractResult(int extracted, IReadOnlyList<string> skipped, IReadOnlyList<InitramfsSegment> segments, IReadOnlyList<string> warnings)
    {
        Extracted = extracted;
        Skipped = skipped;
        Segments = segments;
        Warnings = warnings;
    }

    /// <summary>Entries materialized.</summary>
    public int Extracted { get; }

    /// <summary>Entries not materialized, with the reason (e.g. device nodes without privilege).</summary>
    public IReadOnlyList<string> Skipped { get; }

    /// <summary>The image's segments.</summary>
    public IReadOnlyList<InitramfsSegment> Segments { get; }

    /// <summary>Kernel-compatibility warnings found while reading.</summary>
    public IReadOnlyList<string> Warnings { get; }
}
