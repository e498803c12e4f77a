namespace DiskImage.Formats.Qcow2;

/// <summary>The outcome of <see cref="Qcow2Image.Check(Qcow2RepairMode)"/>, with qemu-img check's counters.</summary>
public sealed record Qcow2CheckResult
{
    /// <summary>Refcount or metadata errors remaining after any repair (<c>corruptions</c>).</summary>
    public long Corruptions { get; init; }

    /// <summary>Leaked clusters remaining after any repair (<c>leaks</c>).</summary>
    public long Leaks { get; init; }

    /// <summary>Errors fixed by the repair (<c>corruptions-fixed</c>).</summary>
    public long CorruptionsFixed { get; init; }

    /// <summary>Leaks fixed by the repair (<c>leaks-fixed</c>).</summary>
    public long LeaksFixed { get; init; }

    /// <summary>Errors that stopped the check from completing (<c>check-errors</c>).</summary>
    public long CheckErrors { get; init; }

    /// <summary>Offset of the end of the last used cluster (<c>image-end-offset</c>).</summary>
    public long ImageEndOffset { get; init; }

    /// <summary>Guest clusters in the virtual disk (<c>total-clusters</c>).</summary>
    public long TotalClusters { get; init; }

    /// <summary>Guest clusters that are allocated (<c>allocated-clusters</c>).</summary>
    public long AllocatedClusters { get; init; }

    /// <summary>Allocated guest clusters not contiguous with their predecessor (<c>fragmented-clusters</c>).</summary>
    public long FragmentedClusters { get; init; }

    /// <summary>Compressed guest clusters (<c>compressed-clusters</c>).</summary>
    public long CompressedClusters { get; init; }

    /// <summary>Per-problem lines in qemu-img's wording (e.g. "Leaked cluster 5 refcount=1 reference=0").</summary>
    public IReadOnlyList<string> Messages { get; init; } = [];

    /// <summary>
    /// Why the check stopped without a result, as <c>qemu-img check</c> words it after "Check failed: "
    /// (e.g. "Input/output error" when <see cref="Qcow2RepairMode.Leaks"/> meets refcount structures that
    /// need a rebuild); <see langword="null"/> when the check produced a report.
    /// </summary>
    public string? Failure { get; init; }

    /// <summary>qemu-img check's exit code: 0 clean, 1 check incomplete, 2 corrupt, 3 leaks only.</summary>
    public int ExitCode => CheckErrors > 0 ? 1 : Corruptions > 0 ? 2 : Leaks > 0 ? 3 : 0;
}
