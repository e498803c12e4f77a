using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Cli;

/// <summary>
/// Recovers command-line arguments that are not valid UTF-8. The runtime decodes argv as UTF-8 and replaces
/// invalid bytes with U+FFFD, so a name like <c>x\xfd</c> could not be named; on Linux the original bytes are in
/// <c>/proc/self/cmdline</c> and are decoded with <see cref="UnixPathEncoding"/> instead.
/// </summary>
internal static class RawArguments
{
    /// <summary>Returns <paramref name="args"/> with every argument holding U+FFFD replaced by its raw-byte decoding.</summary>
    public static string[] Recover(string[] args)
    {
        if (!OperatingSystem.IsLinux() || Array.FindIndex(args, static a => a.Contains('\uFFFD', StringComparison.Ordinal)) < 0)
        {
            return args;
        }

        byte[] cmdline;
        try
        {
            cmdline = File.ReadAllBytes("/proc/self/cmdline");
        }
        catch (IOException)
        {
            return args;
        }
        catch (UnauthorizedAccessException)
        {
            return args;
        }

        return Match(args, cmdline);
    }

    /// <summary>Matches the last arguments of a NUL-separated command line to <paramref name="args"/>; leaves them when they differ.</summary>
    internal static string[] Match(string[] args, ReadOnlySpan<byte> cmdline)
    {
        var raw = new List<byte[]>();
        while (!cmdline.IsEmpty)
        {
            int nul = cmdline.IndexOf((byte)0);
            if (nul < 0)
            {
                nul = cmdline.Length;
            }

            raw.Add(cmdline[..nul].ToArray());
            cmdline = nul < cmdline.Length ? cmdline[(nul + 1)..] : default;
        }

        if (raw.Count < args.Length)
        {
            return args;
        }

        int first = raw.Count - args.Length;
        string[] result = new string[args.Length];
        for (int i = 0; i < args.Length; i++)
        {
            byte[] bytes = raw[first + i];
            if (Encoding.UTF8.GetString(bytes) != args[i])
            {
                return args; // not the same command line (an argument changed): keep what the runtime gave
            }

            result[i] = UnixPathEncoding.GetString(bytes);
        }

        return result;
    }
}
