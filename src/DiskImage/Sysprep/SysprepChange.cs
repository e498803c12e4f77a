namespace DiskImage.Sysprep;

/// <summary>One change made (or, in a dry run, that would be made) by a sysprep operation.</summary>
public sealed class SysprepChange
{
    /// <summary>Creates a change record.</summary>
    /// <param name="operation">The operation's name.</param>
    /// <param name="kind">Deleted, created or rewritten.</param>
    /// <param name="path">The absolute path in the file system.</param>
    public SysprepChange(string operation, SysprepChangeKind kind, string path)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(path);
        Operation = operation;
        Kind = kind;
        Path = path;
    }

    /// <summary>The operation's name (<c>logfiles</c>, <c>machine-id</c>...).</summary>
    public string Operation { get; }

    /// <summary>Deleted, created or rewritten.</summary>
    public SysprepChangeKind Kind { get; }

    /// <summary>The absolute path in the file system: as the operation named it for a deletion, the file itself (links followed) for a rewrite.</summary>
    public string Path { get; }

    /// <summary>The change as <c>--dry-run</c> prints it: "operation: deleted /path".</summary>
    public override string ToString() => $"{Operation}: {Kind.ToString().ToLowerInvariant()} {Path}";
}
