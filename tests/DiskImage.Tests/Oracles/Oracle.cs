using System.Diagnostics;
using System.Text;

namespace DiskImage.Tests.Oracles;

/// <summary>
/// Finds and runs the independent tools (qemu-img, e2fsck, cpio...) that judge what DiskImage
/// writes. A missing tool skips the test with the reason, unless DISKIMAGE_REQUIRE_ORACLES=1, in
/// which case the test fails.
/// </summary>
public static class Oracle
{
    /// <summary>Whether missing tools fail tests instead of skipping them.</summary>
    public static bool Required =>
        Environment.GetEnvironmentVariable("DISKIMAGE_REQUIRE_ORACLES") is "1" or "true";

    /// <summary>Returns the full path of <paramref name="tool"/>, or skips (fails when required) if it is not installed.</summary>
    public static string Require(string tool)
    {
        string? path = Find(tool);
        if (path is not null)
        {
            return path;
        }

        string reason = $"Oracle tool '{tool}' is not installed (install it, e.g. with apt-get; see .ci/run).";
        if (Required)
        {
            Assert.Fail(reason + " DISKIMAGE_REQUIRE_ORACLES=1 makes this a failure.");
        }

        throw new SkipException(reason);
    }

    /// <summary>Looks a tool up on PATH and in the sbin directories.</summary>
    public static string? Find(string tool)
    {
        if (Path.IsPathRooted(tool))
        {
            return File.Exists(tool) ? tool : null;
        }

        string path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        IEnumerable<string> dirs = path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/local/sbin", "/usr/sbin", "/sbin"]);
        foreach (string dir in dirs)
        {
            string candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Runs a tool to completion and returns its exit code and output.</summary>
    public static ToolResult Run(string tool, params string[] arguments) => Run(tool, arguments, TimeSpan.FromMinutes(5));

    /// <summary>Runs a tool to completion with a timeout.</summary>
    public static ToolResult Run(string tool, IEnumerable<string> arguments, TimeSpan timeout, string? workingDirectory = null)
    {
        string exe = Require(tool);
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {exe}.");
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {string.Join(' ', arguments)} did not finish within {timeout}.");
        }

        process.WaitForExit();
        return new ToolResult(tool, string.Join(' ', psi.ArgumentList), process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs a tool and asserts exit code 0.</summary>
    public static ToolResult RunOk(string tool, params string[] arguments)
    {
        ToolResult r = Run(tool, arguments);
        Assert.True(r.ExitCode == 0, $"{r.Tool} {r.Arguments} exited {r.ExitCode}\n{r.StandardOutput}\n{r.StandardError}");
        return r;
    }

    /// <summary>First line of <c>tool --version</c>, for test output that states which oracle judged.</summary>
    public static string Version(string tool)
    {
        ToolResult r = Run(tool, "--version");
        string text = r.StandardOutput.Length > 0 ? r.StandardOutput : r.StandardError;
        return text.Split('\n', 2)[0].Trim();
    }
}

/// <summary>The outcome of running an oracle tool.</summary>
public sealed record ToolResult(string Tool, string Arguments, int ExitCode, string StandardOutput, string StandardError)
{
    /// <inheritdoc />
    public override string ToString() => $"{Tool} {Arguments} → {ExitCode}\n{StandardOutput}{StandardError}";
}
