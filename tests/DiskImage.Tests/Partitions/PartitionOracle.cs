using System.Text.Json.Nodes;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Partitions;

/// <summary>
/// sfdisk and sgdisk (util-linux 2.38, gdisk 1.0.9 on Debian 12) as judges of partition tables: they write
/// tables we must read, and read and verify the tables we write. Their exit codes say nothing about
/// problems (both exit 0), so their text is read.
/// </summary>
internal static class PartitionOracle
{
    /// <summary>Runs <c>sfdisk target &lt; script</c> (a device or image file).</summary>
    public static void Sfdisk(string target, string script, params string[] options)
    {
        Oracle.Require("sfdisk");
        string scriptFile = Path.Combine(Path.GetTempPath(), $"sfdisk-{Guid.NewGuid():N}.txt");
        File.WriteAllText(scriptFile, script);
        try
        {
            string opts = string.Join(' ', options);
            ToolResult r = Oracle.Run("sh", ["-c", $"sfdisk --no-reread --no-tell-kernel {opts} \"$0\" < \"$1\"", target, scriptFile], TimeSpan.FromMinutes(1));
            Assert.True(r.ExitCode == 0, r.ToString());
        }
        finally
        {
            File.Delete(scriptFile);
        }
    }

    /// <summary>Runs sgdisk with <paramref name="arguments"/> (the image last) and asserts success.</summary>
    public static void Sgdisk(params string[] arguments)
    {
        ToolResult r = Oracle.Run("sgdisk", arguments);
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    /// <summary><c>sfdisk --json</c> of <paramref name="target"/>, parsed.</summary>
    public static JsonNode SfdiskJson(string target)
    {
        ToolResult r = Oracle.Run("sfdisk", "--json", target);
        Assert.True(r.ExitCode == 0, r.ToString());
        return JsonNode.Parse(r.StandardOutput)!;
    }

    /// <summary><c>diskimage part list --output=json</c> of <paramref name="image"/>, parsed.</summary>
    public static JsonNode OurJson(string image, params string[] extra)
    {
        CliResult r = CliHarness.RunOk(["part", "list", .. extra, "--output=json", image]);
        return JsonNode.Parse(r.StandardOutput)!;
    }

    /// <summary>Asserts two sfdisk-shaped listings are equal, optionally ignoring the device and node names (a loop device vs the file).</summary>
    public static void AssertSameListing(JsonNode expected, JsonNode actual, bool ignoreDeviceNames = false, string context = "")
    {
        if (ignoreDeviceNames)
        {
            expected = StripNames(expected);
            actual = StripNames(actual);
        }

        Assert.True(JsonNode.DeepEquals(expected, actual), $"{context}\nsfdisk --json:\n{expected.ToJsonString()}\ndiskimage part list --output=json:\n{actual.ToJsonString()}");
    }

    /// <summary>Asserts that <c>sfdisk --verify</c> finds nothing wrong (its text, not its exit code).</summary>
    public static void AssertSfdiskVerifies(string target, string context = "")
    {
        ToolResult r = Oracle.Run("sfdisk", "--verify", target);
        string text = r.StandardOutput + r.StandardError;
        Assert.True(r.ExitCode == 0 && text.Contains("No errors detected.", StringComparison.Ordinal) && !text.Contains("mismatch", StringComparison.OrdinalIgnoreCase)
            && !text.Contains("not on the end", StringComparison.Ordinal), $"{context}\n{r}");
    }

    /// <summary>Asserts that <c>sgdisk -v</c> finds no problem and warns of nothing (its text, not its exit code).</summary>
    /// <param name="target">The image or device.</param>
    /// <param name="context">Printed on failure.</param>
    /// <param name="allowUnalignedEnd">Accept sgdisk's caution about a partition end off the 2048-sector grid (a partition grown to the last usable sector, as sfdisk grows it).</param>
    public static void AssertSgdiskVerifies(string target, string context = "", bool allowUnalignedEnd = false)
    {
        ToolResult r = Oracle.Run("sgdisk", "-v", target);
        string text = r.StandardOutput + r.StandardError;
        if (allowUnalignedEnd)
        {
            text = System.Text.RegularExpressions.Regex.Replace(text, @"Caution: Partition \d+ doesn't end on a \d+-sector boundary\.", string.Empty);
        }

        Assert.True(r.ExitCode == 0 && text.Contains("No problems found.", StringComparison.Ordinal) && !text.Contains("Problem", StringComparison.Ordinal)
            && !text.Contains("Warning", StringComparison.Ordinal) && !text.Contains("Caution", StringComparison.Ordinal), $"{context}\n{r}");
    }

    /// <summary>A new sparse file of <paramref name="size"/> bytes.</summary>
    public static string NewImage(TempDirectory tmp, string name, long size)
    {
        string path = tmp.File(name);
        using (FileStream f = File.Create(path))
        {
            f.SetLength(size);
        }

        return path;
    }

    private static JsonNode StripNames(JsonNode node)
    {
        JsonNode copy = node.DeepClone();
        JsonObject table = copy["partitiontable"]!.AsObject();
        table.Remove("device");
        if (table["partitions"] is JsonArray parts)
        {
            foreach (JsonNode? p in parts)
            {
                p!.AsObject().Remove("node");
            }
        }

        return copy;
    }
}
