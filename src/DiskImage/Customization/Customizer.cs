using DiskImage.FileSystems;
using DiskImage.Security;

namespace DiskImage.Customization;

/// <summary>
/// Applies a <see cref="CustomizeScript"/> to any <see cref="IFileSystem"/> with virt-customize's semantics
/// and order: the random seed and machine-id first, then the operations in the order given, then passwords.
/// </summary>
/// <remarks>
/// <para>The whole script is first run against an overlay of the file system (nothing is written), so a bad
/// path, a missing host file, a missing user, a malformed passwd or shadow line, <c>edit</c> on a binary file or
/// a path escaping through a symbolic link is reported as a <see cref="CustomizationException"/> naming the
/// operation, with the file system unchanged. Only then are the changes made.</para>
/// <para>No guest code runs: run, run-command, install, uninstall and update become first-boot scripts
/// (see <see cref="CustomizationResult.Notes"/>).</para>
/// </remarks>
public static class Customizer
{
    /// <summary>Applies <paramref name="script"/> to <paramref name="fileSystem"/>.</summary>
    /// <param name="fileSystem">The guest's root file system, open for writing (unless <see cref="CustomizeOptions.DryRun"/>).</param>
    /// <param name="script">The operations.</param>
    /// <param name="options">How to apply them; null for <see cref="CustomizeOptions.Default"/>.</param>
    /// <param name="log">Called with each operation as written before it is applied (virt-customize's progress lines), or null.</param>
    /// <returns>What changed: every created, replaced, modified and deleted path, notes and generated passwords.</returns>
    /// <exception cref="CustomizationException">An operation cannot be applied; the message names it. When raised while validating (always, for the errors listed above), nothing was written.</exception>
    /// <exception cref="NotSupportedException">The file system is read-only, or an option is not supported.</exception>
    public static CustomizationResult Apply(IFileSystem fileSystem, CustomizeScript script, CustomizeOptions? options = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(fileSystem);
        ArgumentNullException.ThrowIfNull(script);
        options ??= CustomizeOptions.Default;
        if (script.PasswordCrypto is not null && options.PasswordCrypto is null)
        {
            options = new CustomizeOptions
            {
                DryRun = options.DryRun,
                PasswordCrypto = script.PasswordCrypto,
                PasswordRounds = options.PasswordRounds,
                HostHomeDirectory = options.HostHomeDirectory,
                RefreshRandomSeedAndMachineId = options.RefreshRandomSeedAndMachineId,
                SelinuxLabels = options.SelinuxLabels,
            };
        }

        if (!options.DryRun && fileSystem.IsReadOnly)
        {
            throw new NotSupportedException("The file system is open read-only; customization needs it writable.");
        }

        List<CustomizeOperation> order = Order(script, options);

        // Pass 1: every operation against the overlay; the first error stops here with nothing written.
        CustomizeContext plan = Run(fileSystem, order, options, dryRun: true, log: options.DryRun ? log : null);
        if (options.DryRun)
        {
            return new CustomizationResult(plan.Tree.Changes, plan.Notes, plan.GeneratedPasswords, dryRun: true);
        }

        // The guest's SELinux policy is read before the first write: an unreadable one stops here.
        SelinuxPolicy? policy;
        try
        {
            policy = options.SelinuxLabels ? SelinuxPolicy.TryLoad(fileSystem) : null;
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            throw new CustomizationException("selinux-relabel", "the guest's SELinux policy cannot be read: " + e.Message, e);
        }

        // Pass 2: the same operations for real.
        CustomizeContext done = Run(fileSystem, order, options, dryRun: false, log);
        var result = new CustomizationResult(done.Tree.Changes, done.Notes, done.GeneratedPasswords, dryRun: false);
        if (policy is not null)
        {
            int labelled = SelinuxLabeler.Label(fileSystem, policy, result.ChangedPaths);
            log?.Invoke($"SELinux: labelled {labelled} of {result.ChangedPaths.Count} changed entries ({policy.PolicyType})");
        }

        fileSystem.Flush();
        return result;
    }

    private static List<CustomizeOperation> Order(CustomizeScript script, CustomizeOptions options)
    {
        var order = new List<CustomizeOperation>();
        if (options.RefreshRandomSeedAndMachineId)
        {
            order.Add(new RandomSeedStep());
        }

        foreach (CustomizeOperation op in script.Items)
        {
            if (!op.RunsLast)
            {
                order.Add(op);
            }
        }

        foreach (CustomizeOperation op in script.Items)
        {
            if (op.RunsLast)
            {
                order.Add(op);
            }
        }

        return order;
    }

    private static CustomizeContext Run(IFileSystem fs, List<CustomizeOperation> order, CustomizeOptions options, bool dryRun, Action<string>? log)
    {
        var context = new CustomizeContext(new GuestTree(fs, dryRun), options);
        foreach (CustomizeOperation op in order)
        {
            string text = op.ToString();
            context.Tree.Operation = text;
            log?.Invoke(text);
            try
            {
                op.Apply(context);
            }
            catch (CustomizationException)
            {
                throw;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException or NotSupportedException or System.Text.RegularExpressions.RegexMatchTimeoutException)
            {
                string when = dryRun ? string.Empty : " (while writing; the operations before it were applied)";
                throw new CustomizationException(text, e.Message + when, e);
            }
        }

        return context;
    }
}
