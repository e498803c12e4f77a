using System.Text;
using System.Text.RegularExpressions;

namespace DiskImage.Cli;

/// <summary>
/// Turns library messages into command-line words: a library error may say which API option opts in
/// (<c>DiskImageOpenOptions.BackingFiles</c>, <c>Ext4OpenOptions.AllowJournalRecoveryNeeded</c>), which a
/// shell user cannot set. Known sentences are replaced by the flag that does the same (or by what the
/// command line does instead); any other sentence naming an API member is dropped.
/// </summary>
internal static partial class CliWords
{
    private static readonly (string Library, string Cli)[] Known =
    [
        ("; following backing files is denied by default. Set DiskImageOpenOptions.BackingFiles to BackingFilePolicy.Allow to open it.",
            ", which is not opened with --no-backing"),
        ("; opening it is denied by default. Set DiskImageOpenOptions.AllowExternalDataFile to allow it.",
            ", which is not opened with --no-backing (or for writing)"),
        ("; set Ext4OpenOptions.AllowJournalRecoveryNeeded to read it as it is.",
            "; recover it with e2fsck first (the read-only verbs take --skip-journal to read it as it is)"),
        (" It is read as raw bytes only when DiskImageOpenOptions.Format is DiskImageFormat.Raw.",
            " Use -f raw to read its bytes as a raw image."),
    ];

    /// <summary>The message with API names replaced by flags, or their sentences removed.</summary>
    public static string Speak(string message)
    {
        if (!ApiName().IsMatch(message))
        {
            return message;
        }

        foreach ((string library, string cli) in Known)
        {
            message = message.Replace(library, cli, StringComparison.Ordinal);
        }

        message = ChainDepth().Replace(message, "the limit of $1 images");
        if (!ApiName().IsMatch(message))
        {
            return message;
        }

        // Any other sentence that names an API member says nothing a shell user can act on.
        var kept = new StringBuilder(message.Length);
        foreach (string sentence in SentenceEnd().Split(message))
        {
            if (!ApiName().IsMatch(sentence))
            {
                kept.Append(kept.Length > 0 ? " " : "").Append(sentence.Trim());
            }
        }

        return kept.Length > 0 ? kept.ToString() : "the operation is not supported by diskimage";
    }

    // A type member such as DiskImageOpenOptions.Format, BackingFilePolicy.Allow or Qcow2RepairMode.All.
    [GeneratedRegex(@"\b[A-Z][A-Za-z0-9]*(Options|Policy|Mode|Format)\.[A-Z][A-Za-z0-9]*")]
    private static partial Regex ApiName();

    [GeneratedRegex(@"DiskImageOpenOptions\.MaxBackingChainDepth \((\d+)\)")]
    private static partial Regex ChainDepth();

    [GeneratedRegex(@"(?<=[.;])\s+")]
    private static partial Regex SentenceEnd();
}
