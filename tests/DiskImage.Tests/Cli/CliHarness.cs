using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Cli;

/// <summary>What one run of a command line printed and returned.</summary>
public sealed record CliResult(int ExitCode, string StandardOutput, string StandardError)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{StandardOutput}--- stderr\n{StandardError}";
}

/// <summary>Runs the diskimage CLI in-process and qemu-img (the oracle) on the same arguments.</summary>
internal static class CliHarness
{
    /// <summary>Runs <c>diskimage args</c> in-process.</summary>
    public static CliResult Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = DiskImage.Cli.Cli.Run(args, stdout, stderr);
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs <c>diskimage args</c> and asserts exit code 0.</summary>
    public static CliResult RunOk(params string[] args)
    {
        CliResult r = Run(args);
        Assert.True(r.ExitCode == 0, $"diskimage {string.Join(' ', args)}: {r}");
        return r;
    }

    /// <summary>Runs <c>qemu-img args</c>; its program name in messages is replaced by ours so texts compare directly.</summary>
    public static CliResult QemuImg(params string[] args)
    {
        ToolResult r = Oracle.Run("qemu-img", args);
        return new CliResult(
            r.ExitCode,
            r.StandardOutput.Replace("qemu-img", "diskimage", StringComparison.Ordinal),
            r.StandardError.Replace("qemu-img", "diskimage", StringComparison.Ordinal));
    }

    /// <summary>Runs <c>qemu-img args</c> and asserts exit code 0.</summary>
    public static CliResult QemuImgOk(params string[] args)
    {
        CliResult r = QemuImg(args);
        Assert.True(r.ExitCode == 0, $"qemu-img {string.Join(' ', args)}: {r}");
        return r;
    }

    /// <summary>Runs qemu-io commands on an image (to put data, zeros and compressed clusters into test images).</summary>
    public static void QemuIo(string image, string format, params string[] commands)
    {
        var args = new List<string> { "-f", format };
        foreach (string c in commands)
        {
            args.Add("-c");
            args.Add(c);
        }

        args.Add(image);
        ToolResult r = Oracle.Run("qemu-io", args, TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0 && !r.StandardOutput.Contains("error", StringComparison.OrdinalIgnoreCase), r.ToString());
    }

    /// <summary>Removes the lines holding values that legitimately differ (e.g. <c>"actual-size"</c>, "disk size:").</summary>
    public static string WithoutLines(string text, params string[] markers)
    {
        var kept = new List<string>();
        foreach (string line in text.Split('\n'))
        {
            bool drop = false;
            foreach (string marker in markers)
            {
                drop |= line.Contains(marker, StringComparison.Ordinal);
            }

            if (!drop)
            {
                kept.Add(line);
            }
        }

        return string.Join('\n', kept);
    }
}
