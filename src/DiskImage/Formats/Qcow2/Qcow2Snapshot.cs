namespace DiskImage.Formats.Qcow2;

/// <summary>An internal snapshot (one snapshot table entry).</summary>
public sealed record Qcow2Snapshot
{
    /// <summary>Unique ID string (<c>id_str</c>).</summary>
    public required string Id { get; init; }

    /// <summary>Name (<c>name</c>).</summary>
    public required string Name { get; init; }

    /// <summary>Size of the saved VM state in bytes (<c>vm-state-size</c>).</summary>
    public long VmStateSize { get; init; }

    /// <summary>Wall-clock time of the snapshot: seconds since the epoch (<c>date_sec</c>).</summary>
    public long DateSeconds { get; init; }

    /// <summary>Nanoseconds part of the snapshot time (<c>date_nsec</c>).</summary>
    public long DateNanoseconds { get; init; }

    /// <summary>Guest run time at the snapshot in nanoseconds (<c>vm_clock_nsec</c>).</summary>
    public long VmClockNanoseconds { get; init; }

    /// <summary>Virtual disk size at the snapshot (extra data <c>disk_size</c>), or the current size when absent.</summary>
    public long DiskSize { get; init; }

    /// <summary>Instruction count at the snapshot, or -1 when not recorded (<c>icount</c>).</summary>
    public long InstructionCount { get; init; } = -1;

    /// <summary>Host offset of the snapshot's L1 table.</summary>
    public long L1TableOffset { get; init; }

    /// <summary>Entries in the snapshot's L1 table.</summary>
    public int L1Size { get; init; }
}
