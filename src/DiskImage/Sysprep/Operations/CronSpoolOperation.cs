using System.Text;

namespace DiskImage.Sysprep.Operations;

/// <summary>
/// <c>cron-spool</c>: removes users' cron and at jobs (regular files below /var/spool/cron and /var/spool/at except
/// the <c>.SEQ</c> counters, and the entries of /var/spool/atjobs and /var/spool/atspool), and resets the at job
/// counters to <c>00000\n</c> in place.
/// </summary>
internal sealed class CronSpoolOperation : SysprepOperation
{
    private static readonly byte[] SequenceReset = Encoding.ASCII.GetBytes("00000\n");

    public CronSpoolOperation()
        : base("cron-spool", "Remove user cron jobs and at jobs, and reset the at job counters", enabledByDefault: true, isExtra: false)
    {
    }

    internal override void Apply(SysprepContext context)
    {
        static bool IsSequence(string path) => path.EndsWith("/.SEQ", StringComparison.Ordinal);

        context.RemoveRegularFilesUnder("/var/spool/cron", IsSequence);
        Reset(context, "/var/spool/cron/atjobs/.SEQ");
        foreach (string path in context.Glob("/var/spool/atjobs/*"))
        {
            context.RemoveFile(path);
        }

        Reset(context, "/var/spool/atjobs/.SEQ");
        foreach (string path in context.Glob("/var/spool/atspool/*"))
        {
            context.RemoveFile(path);
        }

        context.RemoveRegularFilesUnder("/var/spool/at", IsSequence);
        Reset(context, "/var/spool/at/.SEQ");
    }

    private static void Reset(SysprepContext context, string path)
    {
        if (context.IsRegularFile(path))
        {
            context.Rewrite(path, SequenceReset);
        }
    }
}
