using System.Globalization;
using System.Text;
using System.Text.Json;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>Helpers that drive qemu-img and qemu-io (the oracles) for the qcow2 tests.</summary>
internal static class QemuTool
{
    /// <summary>Runs qemu-img and asserts success.</summary>
    public static ToolResult Img(params string[] args) => Oracle.RunOk("qemu-img", args);

    /// <summary>Runs qemu-io commands against an image (format given explicitly) and asserts success.</summary>
    public static void Io(string image, IEnumerable<string> commands, string format = "qcow2")
    {
        var args = new List<string> { "-f", format };
        foreach (string c in commands)
        {
            args.Add("-c");
            args.Add(c);
        }

        args.Add(image);
        ToolResult r = Oracle.Run("qemu-io", args, TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0 && !r.StandardOutput.Contains("error", StringComparison.OrdinalIgnoreCase) && !r.StandardError.Contains("error", StringComparison.OrdinalIgnoreCase), r.ToString());
    }

    /// <summary>Converts an image to raw with qemu-img and returns the bytes.</summary>
    public static byte[] ToRaw(string image, TempDirectory dir, string? snapshot = null)
    {
        string raw = dir.File($"oracle-{Guid.NewGuid():N}.raw");
        var args = new List<string> { "convert", "-O", "raw" };
        if (snapshot is not null)
        {
            args.Add("-l");
            args.Add(snapshot);
        }

        args.Add(image);
        args.Add(raw);
        Img([.. args]);
        byte[] bytes = File.ReadAllBytes(raw);
        File.Delete(raw);
        return bytes;
    }

    /// <summary>Parses <c>qemu-img check --output=json</c>; returns (corruptions, leaks, check-errors, exit code).</summary>
    public static (long Corruptions, long Leaks, long CheckErrors, int ExitCode, string Output) Check(string image)
    {
        ToolResult r = Oracle.Run("qemu-img", "check", "--output=json", image);
        using JsonDocument doc = JsonDocument.Parse(r.StandardOutput.Length > 0 ? r.StandardOutput : "{}");
        long Get(string name) => doc.RootElement.TryGetProperty(name, out JsonElement e) ? e.GetInt64() : 0;
        return (Get("corruptions"), Get("leaks"), Get("check-errors"), r.ExitCode, r.ToString());
    }

    /// <summary>Asserts <c>qemu-img check</c> finds 0 errors and 0 leaks.</summary>
    public static void AssertClean(string image, string context)
    {
        var c = Check(image);
        Assert.True(c.ExitCode == 0 && c.Corruptions == 0 && c.Leaks == 0 && c.CheckErrors == 0, $"{context}: qemu-img check not clean:\n{c.Output}");
    }

    /// <summary>Asserts <c>qemu-img compare</c> says the image equals the raw file.</summary>
    public static void AssertSameAsRaw(string image, string raw, string context)
    {
        ToolResult r = Oracle.Run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", image, raw);
        Assert.True(r.ExitCode == 0, $"{context}: qemu-img compare differs:\n{r}");
    }

    /// <summary>
    /// Deterministic pseudo-random qemu-io write commands: first compressed writes to distinct
    /// unallocated clusters (qemu refuses compressed writes elsewhere), then pattern and zero writes.
    /// </summary>
    public static List<string> RandomIoCommands(int seed, long size, int clusterSize, int count, bool compressed, bool zero)
    {
        var rng = new Random(seed);
        var cmds = new List<string>();
        long clusters = size / clusterSize;
        if (compressed)
        {
            var used = new HashSet<long>();
            for (int i = 0; i < count / 3; i++)
            {
                long c = rng.NextInt64(clusters);
                if (used.Add(c))
                {
                    cmds.Add(string.Create(CultureInfo.InvariantCulture, $"write -c -P {rng.Next(1, 255)} {c * clusterSize} {clusterSize}"));
                }
            }
        }

        for (int i = 0; i < count; i++)
        {
            if (zero && rng.Next(4) == 0)
            {
                long c = rng.NextInt64(clusters);
                long n = Math.Min(clusters - c, rng.Next(1, 4));
                cmds.Add(string.Create(CultureInfo.InvariantCulture, $"write -z {c * clusterSize} {n * clusterSize}"));
                continue;
            }

            long start = rng.NextInt64(size / 512) * 512;
            long len = Math.Min(size - start, (long)rng.Next(1, (3 * clusterSize / 512) + 2) * 512);
            cmds.Add(string.Create(CultureInfo.InvariantCulture, $"write -P {rng.Next(1, 255)} {start} {len}"));
        }

        return cmds;
    }

    /// <summary>Human-readable description of a seed for failure messages.</summary>
    public static string Describe(int seed, params object[] parts)
    {
        var sb = new StringBuilder("seed=").Append(seed);
        foreach (object p in parts)
        {
            sb.Append(' ').Append(p);
        }

        return sb.ToString();
    }
}
