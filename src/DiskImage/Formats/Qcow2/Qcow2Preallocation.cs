namespace DiskImage.Formats.Qcow2;

/// <summary>What <see cref="Qcow2Image.Create(string, long, Qcow2CreateOptions?, bool)"/> allocates up front.</summary>
public enum Qcow2Preallocation
{
    /// <summary>Nothing beyond the header, L1 and refcount structures (default).</summary>
    Off = 0,

    /// <summary>All L2 tables, with every cluster allocated and marked to read as zeros (v3) or allocated (v2).</summary>
    Metadata = 1,
}
