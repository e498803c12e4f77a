namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Scope of one changing operation on an <see cref="Ext4FileSystem"/> (a jbd2 handle): <see cref="Complete"/> at the
/// end of the work adds its changes to the running transaction; leaving the scope without it (an exception) undoes them.
/// </summary>
internal readonly ref struct Ext4Operation
{
    private readonly Ext4FileSystem _fs;
    private readonly bool _started;

    public Ext4Operation(Ext4FileSystem fs)
    {
        _fs = fs;
        _started = fs.BeginOperation();
    }

    /// <summary>Ends the operation successfully (may commit the running transaction).</summary>
    public void Complete() => _fs.CompleteOperation(_started);

    /// <summary>Undoes the operation unless it was completed.</summary>
    public void Dispose() => _fs.LeaveOperation(_started);
}
