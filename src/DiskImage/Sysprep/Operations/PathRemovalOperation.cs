namespace DiskImage.Sysprep.Operations;

/// <summary>
/// The common shape of most virt-sysprep operations: expand a list of globs and remove what they match
/// (<c>rm</c> or <c>rm -rf</c>), except some exact paths, when the guest passes a gate.
/// </summary>
internal sealed class PathRemovalOperation : SysprepOperation
{
    private readonly string[] _globs;
    private readonly SysprepRemoveMode _mode;
    private readonly Func<SysprepGuest, bool>? _gate;
    private readonly string[] _except;
    private readonly string? _noteWhenRemoved;
    private readonly string[]? _notePaths;

    public PathRemovalOperation(
        string name,
        string description,
        bool enabledByDefault,
        SysprepRemoveMode mode,
        string[] globs,
        Func<SysprepGuest, bool>? gate = null,
        string[]? except = null,
        string? noteWhenRemoved = null,
        string[]? notePaths = null,
        bool isExtra = false)
        : base(name, description, enabledByDefault, isExtra)
    {
        _globs = globs;
        _mode = mode;
        _gate = gate;
        _except = except ?? [];
        _noteWhenRemoved = noteWhenRemoved;
        _notePaths = notePaths;
    }

    /// <summary>The globs, in the order they are expanded (for the documentation and tests).</summary>
    public IReadOnlyList<string> Globs => _globs;

    internal override void Apply(SysprepContext context)
    {
        if (_gate is not null && !_gate(context.Guest))
        {
            return;
        }

        foreach (string glob in _globs)
        {
            foreach (string path in context.Glob(glob))
            {
                if (Array.IndexOf(_except, path) >= 0)
                {
                    continue;
                }

                bool removed;
                if (_mode == SysprepRemoveMode.Tree)
                {
                    context.RemoveTree(path);
                    removed = true;
                }
                else
                {
                    removed = context.RemoveFile(path);
                }

                if (removed && _noteWhenRemoved is not null && (_notePaths is null || Array.IndexOf(_notePaths, path) >= 0))
                {
                    context.Note(_noteWhenRemoved);
                }
            }
        }
    }
}
