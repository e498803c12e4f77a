namespace DiskImage.Sysprep;

/// <summary>
/// What a sysprep run changed (or would change, in a dry run): every deleted, created and rewritten path in
/// the order the operations made the changes, the operations that ran, and notes about what was not done.
/// </summary>
public sealed class SysprepResult
{
    internal SysprepResult(SysprepGuest guest, bool dryRun, IReadOnlyList<string> operations, IReadOnlyList<SysprepChange> changes, IReadOnlyList<string> notes)
    {
        Guest = guest;
        DryRun = dryRun;
        Operations = operations;
        Changes = changes;
        Notes = notes;
    }

    /// <summary>The guest identity the operations were gated on.</summary>
    public SysprepGuest Guest { get; }

    /// <summary>Whether nothing was written.</summary>
    public bool DryRun { get; }

    /// <summary>The names of the operations that ran, in order (<c>machine-id</c> last).</summary>
    public IReadOnlyList<string> Operations { get; }

    /// <summary>Every change, in order.</summary>
    public IReadOnlyList<SysprepChange> Changes { get; }

    /// <summary>
    /// Things an operation could not do in-process and left to the caller (for example the CA-store refresh after
    /// <c>ipa-client</c> removed an anchor, or <c>lvm-uuids</c> below the file system).
    /// </summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>Paths removed (a removed directory's contents are listed before it).</summary>
    public IReadOnlyList<string> DeletedPaths => PathsOf(SysprepChangeKind.Deleted);

    /// <summary>Paths of new entries: these need an SELinux label.</summary>
    public IReadOnlyList<string> CreatedPaths => PathsOf(SysprepChangeKind.Created);

    /// <summary>Paths of files rewritten in place (their label is kept, relabelling them is harmless).</summary>
    public IReadOnlyList<string> RewrittenPaths => PathsOf(SysprepChangeKind.Rewritten);

    /// <summary>Created and rewritten paths that still exist at the end, each once: what a labeller should visit.</summary>
    public IReadOnlyList<string> WrittenPaths
    {
        get
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var list = new List<string>();
            foreach (SysprepChange change in Changes)
            {
                if (change.Kind == SysprepChangeKind.Deleted)
                {
                    if (seen.Remove(change.Path))
                    {
                        list.Remove(change.Path);
                    }
                }
                else if (seen.Add(change.Path))
                {
                    list.Add(change.Path);
                }
            }

            return list;
        }
    }

    private List<string> PathsOf(SysprepChangeKind kind)
    {
        var list = new List<string>();
        foreach (SysprepChange change in Changes)
        {
            if (change.Kind == kind)
            {
                list.Add(change.Path);
            }
        }

        return list;
    }
}
