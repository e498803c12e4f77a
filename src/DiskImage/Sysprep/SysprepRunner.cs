using DiskImage.FileSystems;
using DiskImage.Security;
using DiskImage.Sysprep.Operations;

namespace DiskImage.Sysprep;

/// <summary>
/// Runs sysprep operations over any <see cref="IFileSystem"/> (ext4, XFS, FAT, in-memory, a guest's composite view):
/// what virt-sysprep does, in-process. Every change is validated before the first write: the operations first run
/// as a dry run (reading everything, writing nothing), so malformed input fails with nothing changed; then they run
/// for real. The result lists every deleted, created and rewritten path.
/// </summary>
public static class SysprepRunner
{
    /// <summary>Runs the selected operations (by name, <c>machine-id</c> last) over <paramref name="fileSystem"/>.</summary>
    /// <param name="fileSystem">The guest's root file system (writable unless <see cref="SysprepOptions.DryRun"/>).</param>
    /// <param name="options">Operations, machine-id policy, dry run; null for virt-sysprep's defaults.</param>
    /// <param name="cancellationToken">Checked between operations.</param>
    /// <returns>What was changed (or would be, in a dry run).</returns>
    /// <exception cref="NotSupportedException">The file system is read-only and this is not a dry run, or an operation that
    /// cannot be done on files (<c>fs-uuids</c>) was selected by name.</exception>
    /// <exception cref="InvalidDataException">A file an operation must parse is malformed (the message names the operation); nothing was written.</exception>
    /// <exception cref="IOException">The file system failed; the message names the operation.</exception>
    public static SysprepResult Run(IFileSystem fileSystem, SysprepOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fileSystem);
        options ??= new SysprepOptions();
        SysprepSelection selection = options.Operations ?? SysprepSelection.Defaults;
        IReadOnlyList<SysprepOperation> operations = selection.GetOperations();
        foreach (SysprepOperation op in operations)
        {
            if (op is NotApplicableOperation na && !op.EnabledByDefault)
            {
                throw new NotSupportedException($"sysprep operation '{op.Name}' is not supported: {na.Reason}.");
            }
        }

        if (!options.DryRun && fileSystem.IsReadOnly)
        {
            throw new NotSupportedException("The file system is read-only; sysprep needs it writable (or a dry run).");
        }

        SysprepGuest guest = options.Guest ?? SysprepGuest.Detect(fileSystem);

        // Plan first: every read and check happens before anything is written.
        SysprepContext plan = Execute(fileSystem, guest, options, operations, dryRun: true, cancellationToken);
        if (options.DryRun)
        {
            return ToResult(guest, dryRun: true, operations, plan);
        }

        // The guest's SELinux policy is read before the first write: an unreadable one stops here.
        SelinuxPolicy? policy = options.SelinuxLabels ? SelinuxPolicy.TryLoad(fileSystem) : null;
        SysprepContext done = Execute(fileSystem, guest, options, operations, dryRun: false, cancellationToken);
        SysprepResult result = ToResult(guest, dryRun: false, operations, done);
        if (policy is not null)
        {
            SelinuxLabeler.Label(fileSystem, policy, result.CreatedPaths);
        }

        fileSystem.Flush();
        return result;
    }

    private static SysprepContext Execute(IFileSystem fileSystem, SysprepGuest guest, SysprepOptions options, IReadOnlyList<SysprepOperation> operations, bool dryRun, CancellationToken cancellationToken)
    {
        var context = new SysprepContext(fileSystem, guest, options, dryRun);
        foreach (SysprepOperation op in operations)
        {
            cancellationToken.ThrowIfCancellationRequested();
            context.Operation = op.Name;
            try
            {
                op.Apply(context);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"sysprep operation '{op.Name}': {e.Message}", e);
            }
            catch (NotSupportedException e)
            {
                throw new NotSupportedException($"sysprep operation '{op.Name}': {e.Message}", e);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new IOException($"sysprep operation '{op.Name}': {e.Message}", e);
            }
        }

        return context;
    }

    private static SysprepResult ToResult(SysprepGuest guest, bool dryRun, IReadOnlyList<SysprepOperation> operations, SysprepContext context)
    {
        var names = new List<string>(operations.Count);
        foreach (SysprepOperation op in operations)
        {
            names.Add(op.Name);
        }

        return new SysprepResult(guest, dryRun, names, [.. context.Changes], [.. context.Notes]);
    }
}
